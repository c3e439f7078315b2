"""Asking for the main window: a question or Describe about the current picture (BLIP), or a chat message with
the pictures selected in the strip that the conversation has not sent yet (a chat model), and what the empty
chat says the next step is.

`Asking` checks what is missing (a picture, a model) and says so in the window; otherwise it adds the turn to
the conversation and the chat pane and hands it to the `ChatController`. With a Segment mask shown, the question
goes with that region instead (segmenting.py crops it, then calls `submit_region`). runs in: the GUI thread.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from desktop_app.resources import samples
from desktop_app.session.conversation import Turn
from desktop_app.widgets.error_dialog import show_error

OPEN_FIRST = "Open a picture first: Ctrl+O, drop one here, or paste one (Ctrl+V)."


class Asking:
    def __init__(self, window: Any) -> None:  # the MainWindow (its widgets, session, controller, conversation)
        self.window = window

    def ask(self, question: str | None = None) -> Turn | None:
        """The question box's text by default; an empty question asks for a description."""
        typed = self.window.ask_bar.edit.toPlainText()
        text = typed if question is None else question
        if not text.strip():
            return self.describe()
        if self.window.segmenting.asks_region(text, describe=False, from_box=text == typed):
            return None  # about the region a mask covers: asked once it is cropped (segmenting.py)
        return self._submit(text, describe=False, from_box=text == typed)

    def describe(self) -> Turn | None:
        """A caption of the current picture (with a VQA model: its captioning partner)."""
        session = self.window.session
        if not session.can_describe:
            self.window.notify(session.describe_blocker, "info", 8000)
            return None
        if self.window.segmenting.asks_region("", describe=True, from_box=False):
            return None
        return self._submit("", describe=True, from_box=False)

    def submit_region(self, question: str, *, describe: bool, picture: Path, thumbnail: Any) -> Turn | None:
        """Ask about a region of a picture (the Segment tool's crop, saved as `picture`), alone: a chat model
        gets it as the message's only picture."""
        if self._no_model():
            return None
        images = [str(picture)] if self.window.chat_mode else []
        return self._add(Turn(question.strip(), str(picture), describe=describe, images=images), (thumbnail, []))

    def attachments(self) -> list[Path]:
        """The pictures the next chat message goes with: those selected in the strip that this conversation
        has not sent yet (the model remembers the others)."""
        turns = self.window.conversation.turns
        sent = {p for t in turns if t.in_history or not t.finished for p in t.pictures}
        return [image.path for image in self.window.image_panel.selected() if str(image.path) not in sent]

    def thumbnails(self, turn: Turn) -> tuple[object, list]:
        """The thumbnail of a turn's picture, and those of a chat message's further pictures (None: not open)."""
        shown = [self.window.image_panel.image_for(p) for p in turn.pictures]
        thumbs = [s.thumbnail if s else None for s in shown]
        return (thumbs[0] if thumbs else None), thumbs[1:]

    def _submit(self, question: str, *, describe: bool, from_box: bool) -> Turn | None:
        w = self.window
        if w.chat_mode:  # a question alone is fine once a picture was sent
            pictures = [str(p) for p in self.attachments()]
            seen = any(t.pictures for t in w.conversation.turns if t.in_history or not t.finished)
            if describe and not pictures and not seen:
                w.notify(OPEN_FIRST, "warning", 8000)
                return None
            image, images = (pictures[0] if pictures else None), pictures
        else:
            current = w.image_panel.current()
            if current is None:
                w.notify(OPEN_FIRST, "warning", 8000)
                return None
            image, images = str(current.path), []
        if self._no_model():
            return None
        if from_box and not describe:
            w.ask_bar.take_text()
        turn = Turn(question.strip(), image, describe=describe, images=images)
        return self._add(turn, self.thumbnails(turn))

    def _add(self, turn: Turn, thumbnails: tuple[object, list]) -> Turn:
        """Into the conversation, the chat pane and the controller's queue."""
        w = self.window
        w.clear_undo.forget()  # Undo Clear brings back a conversation only until the next question
        w.conversation.turns.append(turn)
        view = w.chat.add_turn(turn, *thumbnails)
        w.controller.ask(turn)
        view.answer.refresh()  # "Waiting for the model…" when one is loading
        return turn

    def _no_model(self) -> bool:
        """No model loaded nor loading: say so (or why the last one failed); True if so."""
        models = self.window.models
        if models.current is not None or models.busy:
            return False
        if models.last_error is not None:
            show_error(self.window, models.last_error)
        else:
            self.window.notify(
                "No model is loaded. Choose one in the toolbar, or File ▸ Open Model Folder…", "warning"
            )
        return True

    def update_empty_chat(self) -> None:
        """What the empty chat says: the next step (a model, a picture, a question)."""
        w, models = self.window, self.window.models
        if models.current is None and not models.busy and models.wanted is None:
            html = (
                "<p><b>No model yet.</b></p><p>Open a converted model folder with File ▸ Open Model Folder…, "
                "or make one in Model Tools (convert Salesforce/blip-vqa-base).</p>"
            )
        elif w.chat_mode:
            html = (
                "<p><b>Chat about your pictures.</b> Open one (Ctrl+O), then ask anything: the model "
                "remembers the conversation.</p><p>Enter sends · an empty message asks for a description · "
                "Ctrl+click pictures in the strip to send several with one message</p>"
            )
        elif w.image_panel.current() is None:
            html = "<p><b>Start with a picture.</b></p><p>Open an image (Ctrl+O), drop one here, or paste (Ctrl+V).</p>"
        else:
            example = samples()[0].question if samples() else "what is in the picture?"
            html = (
                f"<p><b>Ask anything about the picture</b>, e.g. “{example}”</p>"
                "<p>Enter sends · Shift+Enter adds a line · Describe (Ctrl+D) writes a caption</p>"
            )
        w.chat.set_empty_message(html)
