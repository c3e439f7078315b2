"""One turn of the chat pane: the question bubble with the thumbnails of its pictures, then the answer bubble,
which fills in as text chunks arrive and ends with its metrics (`ChatView` in chat.py stacks them).

Widgets only watch: they are given a `conversation.Turn` and told when it changed.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from PySide6.QtCore import QSize, Qt, QTimer, Signal
from PySide6.QtGui import QGuiApplication, QIcon, QImage, QKeySequence, QPixmap
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from desktop_app.session.conversation import DONE, FAILED, STOPPED, WAITING, Turn, metrics_text

THUMB = 64
FLUSH_MS = 30  # text chunks are shown at most this often: many tokens a second stay cheap for the GUI
FOLD_LINES = 4  # a longer question shows its first lines and "Show more"
FOLD_CHARS = 300
TRUNCATED_NOTE = "The model read only the start of this question; it is longer than the model takes."


def folded(text: str) -> str:
    """The first lines of a long question ("" if it is short enough to show whole)."""
    lines = text.splitlines()
    if len(lines) <= FOLD_LINES and len(text) <= FOLD_CHARS:
        return ""
    head = "\n".join(lines[:FOLD_LINES])
    return (head[:FOLD_CHARS].rstrip() if len(head) > FOLD_CHARS else head) + " …"


def details_text(turn: Turn) -> str:
    """The answer's details line: timings, tokens, beams, precision, device, model."""
    parts = metrics_text(turn).split(" · ")
    if parts[0] and turn.num_beams:
        tokens = f"{turn.metrics.get('new_tokens')} tokens"
        at = parts.index(tokens) + 1 if tokens in parts else len(parts)
        parts.insert(at, f"{turn.num_beams} beam{'s' if turn.num_beams > 1 else ''}")
    return " · ".join(parts)


class QuestionBubble(QFrame):
    """The user's turn: a thumbnail of the picture and the question (or "Describe the picture")."""

    image_clicked = Signal(str)

    def __init__(self, turn: Turn, thumbnail: QImage | None, more: Sequence[QImage | None] = ()) -> None:
        super().__init__()
        self.setObjectName("questionBubble")
        self.turn = turn
        self.thumb = QToolButton()
        self.thumb.setObjectName("turnThumbnail")
        self.thumb.setAutoRaise(True)
        self.thumb.setIconSize(QSize(THUMB, THUMB))
        self.thumb.setFocusPolicy(Qt.FocusPolicy.TabFocus)
        self.thumb.clicked.connect(self._on_thumb_clicked)
        self.set_thumbnail(thumbnail)
        # A chat message's further pictures, smaller, below the first.
        self.more_thumbs: list[QToolButton] = []
        for i, path in enumerate(turn.pictures[1:]):
            button = QToolButton()
            button.setObjectName("turnThumbnailMore")
            button.setAutoRaise(True)
            button.setIconSize(QSize(THUMB // 2, THUMB // 2))
            button.setFocusPolicy(Qt.FocusPolicy.TabFocus)
            button.clicked.connect(lambda _=False, p=path: self.image_clicked.emit(p))
            button.setAccessibleName(f"Show {Path(path).name}")
            button.setToolTip(f"{Path(path).name}: show this picture")
            self._set_icon(button, more[i] if i < len(more) else None, THUMB // 2)
            self.more_thumbs.append(button)
        self.text = QLabel()
        self.text.setObjectName("questionText")
        self.text.setWordWrap(True)
        self.text.setTextFormat(Qt.TextFormat.PlainText)
        self.text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.text.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self._folded = "" if turn.describe else folded(turn.question)
        self.more = QToolButton()
        self.more.setObjectName("questionMore")
        self.more.setAutoRaise(True)
        self.more.setCheckable(True)
        self.more.setFocusPolicy(Qt.FocusPolicy.TabFocus)
        self.more.toggled.connect(self._show_more)
        self.more.setVisible(bool(self._folded))
        self.note = QLabel(TRUNCATED_NOTE)
        self.note.setObjectName("questionNote")
        self.note.setWordWrap(True)
        self.note.setAccessibleName(TRUNCATED_NOTE)
        if turn.describe:
            self.text.setText("Describe the picture.")
            font = self.text.font()
            font.setItalic(True)
            self.text.setFont(font)
        else:
            self._show_more(False)
        column = QVBoxLayout()
        column.setSpacing(2)
        column.addWidget(self.text)
        column.addWidget(self.more, 0, Qt.AlignmentFlag.AlignLeft)
        column.addWidget(self.note)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(10, 8, 12, 8)
        layout.setSpacing(10)
        pictures = QVBoxLayout()
        pictures.setSpacing(2)
        pictures.addWidget(self.thumb, 0, Qt.AlignmentFlag.AlignTop)
        row = QHBoxLayout()
        row.setSpacing(2)
        for button in self.more_thumbs:
            row.addWidget(button)
        pictures.addLayout(row)
        pictures.addStretch(1)
        layout.addLayout(pictures)
        layout.addLayout(column, 1)
        self.thumb.setVisible(bool(turn.image))  # a chat message may go without a picture (set once in a layout)
        names = [Path(p).name for p in turn.pictures]
        name = ", ".join(names) if names else "no picture"
        asked = self._folded or turn.question
        what = "asked for a description" if turn.describe else f"asked: {asked}"
        if self._folded:
            what += f" ({len(turn.question):,} characters; Show more shows it all)"
        self.setAccessibleName(f"You {what} ({'pictures' if len(names) > 1 else 'picture'}: {name})")
        self.thumb.setAccessibleName(f"Show {name}")
        self.thumb.setToolTip(f"{name}: show this picture")
        self.refresh()

    def refresh(self) -> None:
        """Show whether the model had to shorten the question (known once it answered)."""
        truncated = bool(self.turn.metrics.get("truncated_question"))
        self.note.setVisible(truncated)
        self.setAccessibleDescription(TRUNCATED_NOTE if truncated else "")

    def _show_more(self, shown: bool) -> None:
        self.text.setText(self.turn.question if shown or not self._folded else self._folded)
        self.more.setText("Show less" if shown else "Show more")
        self.more.setAccessibleName("Show less of the question" if shown else "Show the whole question")

    def set_thumbnail(self, thumbnail: QImage | None, path: str | None = None) -> None:
        """The thumbnail of the turn's picture (`path`: of that one of a chat message's pictures)."""
        if path is None or path == self.turn.image:
            self._set_icon(self.thumb, thumbnail, THUMB)
        pictures = self.turn.pictures[1:]
        if path in pictures:
            self._set_icon(self.more_thumbs[pictures.index(path)], thumbnail, THUMB // 2)

    def _set_icon(self, button: QToolButton, thumbnail: QImage | None, size: int) -> None:
        if thumbnail is not None and not thumbnail.isNull():
            pix = QPixmap.fromImage(thumbnail).scaled(
                size, size, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation
            )
            button.setIcon(QIcon(pix))
        else:
            button.setIcon(
                QIcon.fromTheme(
                    "image-missing", self.style().standardIcon(self.style().StandardPixmap.SP_FileIcon)
                )
            )

    def _on_thumb_clicked(self) -> None:
        if self.turn.image:
            self.image_clicked.emit(self.turn.image)


class AnswerBubble(QFrame):
    """Glimpse's turn: status while waiting, the text as it streams, then metrics; Copy (and Read aloud)."""

    copy_requested = Signal(str)
    speak_requested = Signal(str)

    def __init__(self, turn: Turn, speech: bool = False) -> None:
        super().__init__()
        self.setObjectName("answerBubble")
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.turn = turn
        self._shown = ""
        self.who = QLabel("Glimpse")
        self.who.setObjectName("answerWho")
        self.status = QLabel()
        self.status.setObjectName("answerStatus")
        self.copy_button = QToolButton()
        self.copy_button.setObjectName("copyAnswer")
        self.copy_button.setText("Copy")
        self.copy_button.setIcon(QIcon.fromTheme("edit-copy"))
        self.copy_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.copy_button.setAutoRaise(True)
        self.copy_button.setToolTip("Copy this answer")
        self.copy_button.setAccessibleName("Copy this answer")
        self.copy_button.clicked.connect(self.copy)
        self.speak_button = QToolButton()
        self.speak_button.setObjectName("speakAnswer")
        self.speak_button.setText("Read aloud")
        self.speak_button.setAutoRaise(True)
        self.speak_button.setAccessibleName("Read this answer aloud")
        self.speak_button.clicked.connect(lambda: self.speak_requested.emit(self.turn.answer))
        self.speak_button.setVisible(speech)
        head = QHBoxLayout()
        head.setSpacing(8)
        head.addWidget(self.who)
        head.addWidget(self.status)
        head.addStretch(1)
        head.addWidget(self.speak_button)
        head.addWidget(self.copy_button)
        self.text = QLabel()
        self.text.setObjectName("answerText")
        self.text.setWordWrap(True)
        self.text.setTextFormat(Qt.TextFormat.PlainText)
        self.text.setTextInteractionFlags(
            Qt.TextInteractionFlag.TextSelectableByMouse | Qt.TextInteractionFlag.TextSelectableByKeyboard
        )
        self.text.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.metrics = QLabel()
        self.metrics.setObjectName("answerMetrics")
        self.metrics.setWordWrap(True)
        self.metrics.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 8, 12, 10)
        layout.setSpacing(4)
        layout.addLayout(head)
        layout.addWidget(self.text)
        layout.addWidget(self.metrics)
        self._flush_timer = QTimer(self)
        self._flush_timer.setSingleShot(True)
        self._flush_timer.setInterval(FLUSH_MS)
        self._flush_timer.timeout.connect(self._flush)
        self.refresh()

    # -- updates (GUI thread) ----------------------------------------------------------------------------

    def set_status(self, text: str) -> None:
        self.status.setText(text)
        self.status.setVisible(bool(text))
        self._update_accessible()

    def text_grew(self) -> None:
        """The turn's answer grew by a streamed chunk; the label catches up at most every FLUSH_MS."""
        if self.status.text():
            self.set_status("")
        if not self._flush_timer.isActive():
            self._flush_timer.start()

    def refresh(self) -> None:
        """Show the turn as it now is (after it finished, failed, or was loaded from a file)."""
        self._flush_timer.stop()
        turn = self.turn
        status = {
            WAITING: "Waiting for the model…",
            STOPPED: "Stopped",
            FAILED: "Could not answer",
        }.get(turn.status, "Thinking…" if not turn.finished and not turn.answer else "")
        self.set_status(status)
        if turn.status == FAILED:
            self.text.setText(turn.error or "Something went wrong.")
            self.text.setProperty("failed", True)
        else:
            self.text.setText(turn.answer if turn.answer or not turn.finished else "(no answer)")
        self._shown = turn.answer
        text = details_text(turn) if turn.status in (DONE, STOPPED) else ""
        self.metrics.setText(text)
        self.metrics.setVisible(bool(text))
        self.copy_button.setEnabled(bool(turn.answer))
        self._update_accessible()

    def copy(self) -> None:
        QGuiApplication.clipboard().setText(self.turn.answer)
        self.copy_requested.emit(self.turn.answer)

    def _flush(self) -> None:
        if self._shown != self.turn.answer:
            self._shown = self.turn.answer
            self.text.setText(self._shown)
            self._update_accessible()

    def _update_accessible(self) -> None:
        turn = self.turn
        if turn.status == FAILED:
            name = f"Glimpse could not answer: {turn.error}"
        elif turn.answer:
            name = f"Glimpse answered: {turn.answer}" + (" (stopped)" if turn.status == STOPPED else "")
        else:
            name = f"Glimpse: {self.status.text() or 'no answer'}"
        self.setAccessibleName(name)
        if turn.finished:
            self.setAccessibleDescription(details_text(turn))

    def keyPressEvent(self, event) -> None:  # noqa: N802 - Qt override
        if event.matches(QKeySequence.StandardKey.Copy) and not self.text.hasSelectedText():
            self.copy()
            event.accept()
            return
        super().keyPressEvent(event)


class TurnView(QWidget):
    """A question bubble (right) above its answer bubble (left)."""

    def __init__(
        self, turn: Turn, thumbnail: QImage | None, speech: bool, more: Sequence[QImage | None] = ()
    ) -> None:
        super().__init__()
        self.turn = turn
        self.question = QuestionBubble(turn, thumbnail, more)
        self.answer = AnswerBubble(turn, speech)
        top = QHBoxLayout()
        top.addStretch(1)
        top.addWidget(self.question, 4)
        bottom = QHBoxLayout()
        bottom.addWidget(self.answer, 5)
        bottom.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(6)
        layout.addLayout(top)
        layout.addLayout(bottom)
