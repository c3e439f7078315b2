"""The conversation in files: open and save (JSON), export (Markdown), and the copy kept for the next start.

    files = ConversationFiles(window)
    files.save(path)        # True when written; else the error presenter said why
    files.open(path)        # replaces the conversation (the one replaced comes back with Undo)
    files.autosave()        # after each turn and on close (not when the window was made with persist=False)

The dialogs ask where; writing is atomic (`Conversation.save_json` / `save_markdown`).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtWidgets import QFileDialog, QMainWindow

from desktop_app.session import autosave
from desktop_app.session.conversation import Conversation
from desktop_app.widgets.error_dialog import show_error
from model_tools.runtime import GlimpseError

if TYPE_CHECKING:
    from collections.abc import Callable

log = logging.getLogger("glimpse.app.window")

CONVERSATION_FILTER = "Glimpse conversation (*.json);;All files (*)"
MARKDOWN_FILTER = "Markdown (*.md);;All files (*)"


class ConversationFiles:
    """Conversation ▸ Open, Save and Export for `window`, and its autosave."""

    def __init__(self, window: QMainWindow) -> None:
        self.window = window
        self._saved: tuple[int, int] | None = None  # (id of the conversation, its finished turns) when saved

    def unsaved(self) -> int:
        """How many turns of the conversation shown were never saved or opened from a file (0: none)."""
        conversation = self.window.conversation
        finished = sum(1 for t in conversation.turns if t.finished)
        if self._saved is not None and self._saved[0] == id(conversation):
            return max(0, finished - self._saved[1])
        return finished

    def _mark_saved(self) -> None:
        conversation = self.window.conversation
        self._saved = (id(conversation), sum(1 for t in conversation.turns if t.finished))

    def choose_save(self) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self.window, "Save conversation", "conversation.json", CONVERSATION_FILTER
        )
        if path:
            self.save(Path(path))

    def choose_export(self) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self.window, "Export as Markdown", "conversation.md", MARKDOWN_FILTER
        )
        if path:
            self.export(Path(path))

    def choose_to_open(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self.window, "Open conversation", "", CONVERSATION_FILTER)
        if path:
            self.open(Path(path))

    def save(self, path: Path) -> bool:
        """Write the whole conversation (every turn, a chat message's pictures too) as JSON."""
        if not self._write(path, self.window.conversation.save_json, "Saved"):
            return False
        self._mark_saved()
        return True

    def export(self, path: Path) -> bool:
        return self._write(path, self.window.conversation.save_markdown, "Exported")

    def _write(self, path: Path, write: Callable[[Path], None], done: str) -> bool:
        path = Path(path)
        try:
            write(path)
        except OSError as exc:
            error = GlimpseError(
                f"Could not write {path.name}: {exc.strerror or exc}.",
                f"Choose a folder that exists and that you may write to (not {path.parent}).",
            )
            error.__cause__ = exc
            show_error(self.window, error)
            return False
        self.window.status.showMessage(f"{done} {path.name}", 4000)
        return True

    def open(self, path: Path) -> bool:
        """Replace the conversation with a saved one; its pictures that still exist join the strip."""
        window = self.window
        try:
            conversation = Conversation.load_json(path)
        except (OSError, ValueError) as exc:
            show_error(
                window,
                GlimpseError(
                    f"Could not open the conversation: {exc}.",
                    "Choose a .json file saved by Glimpse (Conversation ▸ Save).",
                ),
            )
            return False
        window.clear_undo.clear()  # the one replaced can come back with Undo
        window.open_files(window.show_conversation(conversation))  # a chat model continues it
        self._mark_saved()
        window.status.showMessage(f"Opened {path.name}: {len(conversation.turns)} turns", 4000)
        return True

    def restore(self) -> list[Path]:
        """At start: the conversation of the last run, with a note; returns its pictures to open."""
        conversation = autosave.load()
        if conversation is None:
            return []
        n = len(conversation.turns)
        self.window.notify(
            f"Restored your last conversation ({n} turn{'s' if n > 1 else ''}).",
            action=("&Clear", self.window.clear_undo.clear),
        )
        return self.window.show_conversation(conversation)

    def autosave(self) -> None:
        """Keep the conversation for the next start (a failure is logged: nothing the user can act on now)."""
        if not self.window.persist:
            return
        try:
            autosave.save(self.window.conversation)
        except OSError as exc:
            log.warning("Could not keep the conversation for the next start: %s", exc)
