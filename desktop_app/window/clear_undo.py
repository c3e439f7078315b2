"""Conversation ▸ Clear, New Conversation and Undo Clear: the conversation cleared last comes back until the
next question.

New Conversation asks first when the conversation has turns that were never saved (Save, Discard, Cancel);
either way a chat model forgets the turns (the window's `show_conversation` resets its history) and Undo
brings them back, to the model too. Ctrl+Z undoes Clear from anywhere in the window, the question box too
while it has no typing of its own to undo (an event filter on the box lets the window's shortcut have the key).
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QMainWindow, QMessageBox

from desktop_app.session.conversation import Conversation


class ClearUndo(QObject):
    """Clear and its Undo for `window` (its `undo_clear_action` is enabled while there is something to undo)."""

    def __init__(self, window: QMainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.cleared: Conversation | None = None  # what Undo (Ctrl+Z) brings back
        window.ask_bar.edit.installEventFilter(self)

    def clear(self) -> None:
        """Ctrl+Shift+Delete: an empty chat; Undo (Ctrl+Z, or the notice's button) brings the turns back."""
        window = self.window
        cleared = window.conversation
        window.show_conversation(Conversation())
        if cleared.turns:
            self.cleared = cleared
            window.undo_clear_action.setEnabled(True)
            n = len(cleared.turns)
            window.notify(
                f"Conversation cleared ({n} turn{'s' if n > 1 else ''}) · Undo: Ctrl+Z",
                action=("&Undo", self.undo),
            )

    def new_conversation(self) -> bool:
        """Ctrl+N: start over. Turns never saved: ask first (Save…, Discard, Cancel). True if started over."""
        window = self.window
        n = window.files.unsaved()
        if n:
            choice = self.ask_to_drop(n)
            if choice == QMessageBox.StandardButton.Cancel:
                return False
            if choice == QMessageBox.StandardButton.Save:
                window.files.choose_save()
                if window.files.unsaved():
                    return False  # not saved after all (the dialog was cancelled, or writing failed)
        self.clear()
        return True

    def ask_to_drop(self, unsaved: int) -> QMessageBox.StandardButton:
        """The question before `unsaved` turns are dropped: Save, Discard or Cancel. runs in: GUI thread."""
        box = QMessageBox(self.window)
        box.setObjectName("newConversationQuestion")
        box.setIcon(QMessageBox.Icon.Question)
        box.setWindowTitle("New conversation")
        box.setText(f"Start a new conversation? {unsaved} turn{'s' if unsaved > 1 else ''} of this one "
                    f"{'were' if unsaved > 1 else 'was'} not saved.")
        box.setInformativeText("The model forgets them; Undo (Ctrl+Z) brings them back until you ask again.")
        box.setStandardButtons(
            QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard | QMessageBox.StandardButton.Cancel
        )
        box.setDefaultButton(QMessageBox.StandardButton.Save)
        box.button(QMessageBox.StandardButton.Discard).setText("&Start New")
        return QMessageBox.StandardButton(box.exec())

    def undo(self) -> None:
        """Bring back the conversation cleared last (until a new question is asked)."""
        cleared, window = self.cleared, self.window
        if cleared is None:
            return
        self.forget()
        window.notification.dismiss()
        window.open_files(window.show_conversation(cleared))
        window.status.showMessage(f"Conversation back: {len(cleared.turns)} turns", 4000)

    def forget(self) -> None:
        """A new question was asked: what was cleared is gone for good."""
        self.cleared = None
        self.window.undo_clear_action.setEnabled(False)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt override
        """Ctrl+Z in the question box undoes Clear while the box has no typing of its own to undo."""
        edit = self.window.ask_bar.edit
        if (
            event.type() == QEvent.Type.ShortcutOverride
            and watched is edit
            and self.cleared is not None
            and event.matches(QKeySequence.StandardKey.Undo)  # type: ignore[attr-defined]
            and not edit.document().isUndoAvailable()
        ):
            event.ignore()  # not the box's: the window's Undo Clear shortcut takes it
            return True
        return super().eventFilter(watched, event)
