"""The silent sounds fake records the cues it was asked for, in order, and meets the protocol."""

from __future__ import annotations

from app.adapters.sound import SilentSounds, Sounds


def test_silent_sounds_records_each_cue_in_order() -> None:
    fake = SilentSounds()
    sounds: Sounds = fake  # the fake satisfies the protocol the window depends on
    sounds.warning()
    sounds.stop()
    sounds.accepted()
    assert fake.played == ["warning", "stop", "accepted"]


def test_each_fake_has_its_own_record() -> None:
    first, second = SilentSounds(), SilentSounds()
    first.stop()
    assert second.played == []
