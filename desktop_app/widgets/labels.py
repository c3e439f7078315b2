"""Labels in one call: named for the style sheet and tests, wrapped or selectable; and buddies for &-keys."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QWidget


def text_label(name: str, text: str = "", *, wrap: bool = False, selectable: bool = False) -> QLabel:
    """A label with an object name; `wrap`: long text wraps, `selectable`: the mouse can select it, to copy a
    path or a figure."""
    label = QLabel(text)
    label.setObjectName(name)
    label.setWordWrap(wrap)
    if selectable:
        label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return label


def buddy(text: str, widget: QWidget) -> QLabel:
    """A label whose mnemonic (&) moves the focus to `widget`."""
    label = QLabel(text)
    label.setBuddy(widget)
    return label
