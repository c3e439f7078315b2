"""The input at the bottom: Enter sends, Shift+Enter adds a line; Describe; Stop while an answer runs."""

from __future__ import annotations

from PySide6.QtCore import QMimeData, Qt, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QPlainTextEdit,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from desktop_app.window import pictures_in as intake


class QuestionEdit(QPlainTextEdit):
    """A few lines of text. Pictures pasted or dropped here go to the window instead of becoming text."""

    submitted = Signal()
    pictures_pasted = Signal(object)  # QMimeData

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("questionEdit")
        self.setAccessibleName("Question")
        self.setTabChangesFocus(True)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.document().contentsChanged.connect(self._fit_height)
        self._fit_height()

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 - Qt override
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            if event.modifiers() & Qt.KeyboardModifier.ShiftModifier:
                self.insertPlainText("\n")
            else:
                self.submitted.emit()
            event.accept()
            return
        super().keyPressEvent(event)

    def canInsertFromMimeData(self, source: QMimeData) -> bool:  # noqa: N802 - Qt override
        return intake.has_pictures(source) or super().canInsertFromMimeData(source)

    def insertFromMimeData(self, source: QMimeData) -> None:  # noqa: N802 - Qt override
        incoming = intake.from_mime(source)
        if incoming.sources or incoming.missing:  # a missing file's path is reported, not typed in
            self.pictures_pasted.emit(source)
        else:
            super().insertFromMimeData(source)

    def text(self) -> str:
        return self.toPlainText()

    def _fit_height(self) -> None:
        lines = max(1, min(6, int(self.document().size().height())))
        metrics = self.fontMetrics()
        margins = self.contentsMargins()
        height = (
            lines * metrics.lineSpacing()
            + 2 * int(self.document().documentMargin())
            + margins.top()
            + margins.bottom()
            + 6
        )
        self.setFixedHeight(max(height, metrics.lineSpacing() * 2 + 14))


DESCRIBE_TIP = "Write a caption for the picture (Ctrl+D, or send an empty question)"


def _button(text: str, name: str, accessible_name: str, tip: str) -> QPushButton:
    button = QPushButton(text)
    button.setObjectName(name)
    button.setAccessibleName(accessible_name)
    button.setToolTip(tip)
    return button


class AskBar(QFrame):
    """Question box with Send, Describe and Stop. Emits `asked(str)`, `describe_requested`, `stop_requested`."""

    asked = Signal(str)
    describe_requested = Signal()
    stop_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("askBar")
        self.edit = QuestionEdit()
        self.edit.setPlaceholderText("Ask about the picture… (Enter sends, Shift+Enter adds a line)")
        self.edit.submitted.connect(self._on_submitted)
        self.send_button = _button("&Send", "sendButton", "Send question", "Send the question (Enter)")
        self.send_button.setDefault(False)
        self.send_button.clicked.connect(self._on_submitted)
        self.describe_button = _button("D&escribe", "describeButton", "Describe the picture", DESCRIBE_TIP)
        self.describe_button.clicked.connect(self.describe_requested)
        self.stop_button = _button("Stop", "stopButton", "Stop generating", "Stop the answer (Esc)")
        self.stop_button.clicked.connect(self.stop_requested)
        self.stop_button.setVisible(False)
        buttons = QVBoxLayout()
        buttons.setSpacing(4)
        buttons.addWidget(self.send_button)
        buttons.addWidget(self.describe_button)
        buttons.addWidget(self.stop_button)
        buttons.addStretch(1)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(12, 10, 12, 10)
        layout.setSpacing(8)
        layout.addWidget(self.edit, 1)
        layout.addLayout(buttons)

    def set_generating(self, generating: bool) -> None:
        self.stop_button.setVisible(generating)

    def set_task(self, task: str | None) -> None:
        if task == "caption":
            self.edit.setPlaceholderText(
                "Press Enter to describe the picture, or type how the caption starts (e.g. “a picture of”)…"
            )
        else:
            self.edit.setPlaceholderText("Ask about the picture… (Enter sends, Shift+Enter adds a line)")

    def set_can_describe(self, can: bool, reason: str = "") -> None:
        self.describe_button.setEnabled(can)
        self.describe_button.setToolTip(
            DESCRIBE_TIP if can else reason
        )
        self.describe_button.setAccessibleDescription("" if can else reason)

    def take_text(self) -> str:
        text = self.edit.toPlainText()
        self.edit.clear()
        return text

    def restore_text(self, text: str) -> None:
        """Put back a question that could not be asked, ahead of anything typed since."""
        if not text.strip():
            return
        current = self.edit.toPlainText()
        if current.strip() == text.strip():
            return
        self.edit.setPlainText(text if not current.strip() else f"{text}\n{current}")
        cursor = self.edit.textCursor()
        cursor.movePosition(cursor.MoveOperation.End)
        self.edit.setTextCursor(cursor)

    def _on_submitted(self) -> None:
        text = self.edit.toPlainText()
        if text.strip():
            self.asked.emit(text)
        else:
            self.describe_requested.emit()
