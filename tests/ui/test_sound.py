"""The bell rings twice for a stop, once for a warning, never for an accepted bottle."""

from __future__ import annotations

from ui.sound import BEEP_SPACING_MS, QtSounds


class Bell:
    def __init__(self) -> None:
        self.rings = 0

    def __call__(self) -> None:
        self.rings += 1


def test_a_stop_rings_twice(qtbot):
    bell = Bell()
    sounds = QtSounds(beep=bell)
    sounds.stop()
    assert bell.rings == 1
    qtbot.waitUntil(lambda: bell.rings == 2, timeout=BEEP_SPACING_MS * 5)
    qtbot.wait(BEEP_SPACING_MS * 3)
    assert bell.rings == 2


def test_two_stops_in_a_row_do_not_stack_extra_rings(qtbot):
    bell = Bell()
    sounds = QtSounds(beep=bell)
    sounds.stop()
    sounds.stop()
    qtbot.wait(BEEP_SPACING_MS * 4)
    assert bell.rings == 3  # each stop rings at once; the repeat rings once


def test_a_warning_rings_once_and_an_accepted_bottle_is_silent(qtbot):
    bell = Bell()
    sounds = QtSounds(beep=bell)
    sounds.warning()
    sounds.accepted()
    qtbot.wait(BEEP_SPACING_MS * 3)
    assert bell.rings == 1
