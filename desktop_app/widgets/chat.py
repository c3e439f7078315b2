"""The chat pane: a column of turns (bubbles.py), newest at the bottom. Each turn shows the question with a
thumbnail of its picture, then the answer, which fills in as text chunks arrive and ends with its metrics.

Widgets only watch: they are given a `conversation.Turn` and told when it changed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QFrame, QLabel, QScrollArea, QVBoxLayout, QWidget

from desktop_app.session.conversation import Turn
from desktop_app.widgets.bubbles import TurnView

if TYPE_CHECKING:
    from desktop_app.session.chat_controller import ChatController

class ChatView(QScrollArea):
    """The conversation, newest at the bottom; keeps to the bottom while answers stream unless scrolled up."""

    image_clicked = Signal(str)
    answer_copied = Signal(str)
    speak_requested = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("chatView")
        self.setAccessibleName("Conversation")
        self.setWidgetResizable(True)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setAcceptDrops(False)
        self.viewport().setAcceptDrops(False)
        self.container = QWidget()
        self.container.setObjectName("chatContainer")
        self.column = QVBoxLayout(self.container)
        self.column.setContentsMargins(16, 16, 16, 16)
        self.column.setSpacing(14)
        self.empty = QLabel()
        self.empty.setObjectName("chatEmpty")
        self.empty.setWordWrap(True)
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.setTextFormat(Qt.TextFormat.RichText)
        self.empty.setOpenExternalLinks(False)
        self.column.addStretch(1)
        self.column.addWidget(self.empty)
        self.column.addStretch(1)
        self.setWidget(self.container)
        self.views: list[TurnView] = []
        self.speech = False
        self._stick = True
        bar = self.verticalScrollBar()
        bar.rangeChanged.connect(self._on_range_changed)
        bar.valueChanged.connect(self._on_value_changed)

    def set_empty_message(self, html: str) -> None:
        self.empty.setText(html)
        self.empty.setAccessibleName("Conversation is empty")
        self.empty.setAccessibleDescription(self.empty.text())

    def add_turn(self, turn: Turn, thumbnail: QImage | None, more: Sequence[QImage | None] = ()) -> TurnView:
        """Show `turn`, with the thumbnail of its picture (and of a chat message's further pictures, `more`)."""
        view = TurnView(turn, thumbnail, self.speech, more)
        view.question.image_clicked.connect(self.image_clicked)
        view.answer.copy_requested.connect(self.answer_copied)
        view.answer.speak_requested.connect(self.speak_requested)
        self.views.append(view)
        self.empty.hide()
        self.column.setStretch(0, 0)  # turns start at the top
        self.column.insertWidget(self.column.count() - 1, view)
        self._stick = True
        return view

    def watch(self, controller: ChatController) -> None:
        """Follow the answers: a turn's bubbles refresh as its status changes, and grow as text streams in."""
        controller.turn_updated.connect(self._on_turn_updated)
        controller.text_received.connect(self._on_text_received)
        controller.answer_finished.connect(self._on_turn_updated)  # the question too: it may have been cut
        controller.answer_failed.connect(self._on_turn_updated)

    def _on_turn_updated(self, turn: Turn, _answer_or_error: object = None) -> None:
        view = self.view_for(turn)
        if view is not None:
            view.question.refresh()
            view.answer.refresh()

    def _on_text_received(self, turn: Turn, _chunk: str) -> None:
        view = self.view_for(turn)
        if view is not None:
            view.answer.text_grew()

    def view_for(self, turn: Turn) -> TurnView | None:
        """The view showing `turn`, or None (the chat was cleared since)."""
        return next((v for v in reversed(self.views) if v.turn is turn), None)

    def clear(self) -> None:
        for view in self.views:
            view.setParent(None)
            view.deleteLater()
        self.views.clear()
        self.empty.show()
        self.column.setStretch(0, 1)

    def set_speech(self, available: bool) -> None:
        self.speech = available
        for view in self.views:
            view.answer.speak_button.setVisible(available)

    def set_thumbnail(self, path: str, thumbnail: QImage) -> None:
        for view in self.views:
            if path in view.turn.pictures:
                view.question.set_thumbnail(thumbnail, path)

    def scroll_to_bottom(self) -> None:
        bar = self.verticalScrollBar()
        bar.setValue(bar.maximum())

    def _on_range_changed(self, _lo: int, hi: int) -> None:
        if self._stick:
            self.verticalScrollBar().setValue(hi)

    def _on_value_changed(self, value: int) -> None:
        self._stick = value >= self.verticalScrollBar().maximum() - 8
