"""Driving a dialog by keyboard alone: type where the focus is, Tab on, assert where it went."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QWidget


def focused(dialog: QWidget) -> QWidget:
    widget = dialog.focusWidget()
    assert widget is not None, "nothing has the focus"
    return widget


def type_into(qtbot, dialog: QWidget, name: str, text: str = "") -> None:
    """Type `text` into the focused control, which must be `name`, then press Tab."""
    widget = focused(dialog)
    assert widget.accessibleName() == name, f"focus is on {widget.accessibleName()!r}, not {name!r}"
    if text:
        qtbot.keyClicks(widget, text)
    qtbot.keyClick(widget, Qt.Key.Key_Tab)


def press(qtbot, dialog: QWidget, key: Qt.Key, modifier=Qt.KeyboardModifier.NoModifier) -> None:
    qtbot.keyClick(focused(dialog), key, modifier)


BUTTON_ANIMATION_MS = 150  # a button's mnemonic "animates" the click: it comes 100 ms later


def alt(qtbot, dialog: QWidget, letter: str) -> None:
    """A mnemonic: Alt and the underlined letter."""
    qtbot.keyClick(focused(dialog), letter, Qt.KeyboardModifier.AltModifier)
    qtbot.wait(BUTTON_ANIMATION_MS)


def show_active(qtbot, dialog: QWidget) -> QWidget:
    """Show the dialog as the active window: mnemonics and shortcuts reach only that one."""
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is dialog)
    return dialog


def visible_mnemonics(dialog: QWidget) -> list[str]:
    """The Alt letters of the visible labels, buttons and tabs (a letter used twice is a trap)."""
    from PySide6.QtWidgets import QAbstractButton, QLabel, QTabBar

    texts = [
        widget.text()
        for widget in dialog.findChildren(QWidget)
        if isinstance(widget, QLabel | QAbstractButton) and widget.isVisible()
    ]
    for bar in dialog.findChildren(QTabBar):
        texts += [bar.tabText(index) for index in range(bar.count())]
    return [
        text[text.index("&") + 1].lower()
        for text in texts
        if "&" in text and text.index("&") + 1 < len(text) and text[text.index("&") + 1] != "&"
    ]
