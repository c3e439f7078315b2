"""One presenter for every error, and a bar for notices that are not errors.

    show_error(parent, exc)          # what happened + what to do, details (traceback, versions) to copy
    window.notify("Settings reset")  # NotificationBar: a line at the top of the window, dismissable

The dialog is not modal: the window keeps working while it is open, and a second error updates it.
"""

from __future__ import annotations

import logging
import traceback
from typing import Any

from PySide6.QtCore import QEvent, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QDesktopServices, QGuiApplication, QIcon
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSizePolicy,
    QStyle,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from desktop_app.diagnostics.about import environment_report
from desktop_app.diagnostics.logs import log_file
from model_tools.runtime import GlimpseError

log = logging.getLogger("glimpse.app.errors")


def describe(exc: BaseException) -> tuple[str, str]:
    """A plain sentence saying what happened, and one saying what to do."""
    if isinstance(exc, GlimpseError):
        return exc.message, exc.fix or "See the details below; the log has more."
    if isinstance(exc, MemoryError):
        return "Glimpse ran out of memory.", "Close other programs, or choose an INT8 or smaller model."
    if isinstance(exc, PermissionError):
        return f"Glimpse is not allowed to use {exc.filename or 'a file'}.", "Check the file's permissions."
    if isinstance(exc, FileNotFoundError):
        return f"{exc.filename or 'A file'} does not exist.", "Check the path, or choose another file."
    if isinstance(exc, OSError):
        what = exc.strerror or str(exc)
        return f"A file could not be read or written: {what}.", "Check the disk and the path, then try again."
    if type(exc).__module__.startswith("openvino") or "openvino" in str(exc).lower():
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return f"OpenVINO reported an error: {first}", "Try another device or precision (CPU always works)."
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return (
        f"Something went wrong: {type(exc).__name__}{': ' + text if text else ''}.",
        "Try again; if it keeps happening, copy the details into a bug report.",
    )


def is_user_mistake(exc: BaseException) -> bool:
    """An ordinary problem the user can fix (a damaged picture, a missing file), not a bug in Glimpse."""
    return isinstance(exc, (GlimpseError, FileNotFoundError, PermissionError))


def details(exc: BaseException, tb: str | None, context: dict[str, str], devices: list[Any]) -> str:
    """The traceback and versions; for an ordinary mistake, its message and fix first, the rest after."""
    trace = tb or getattr(exc, "glimpse_traceback", None)
    if not trace:
        trace = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    technical = f"{trace.rstrip()}\n\n{environment_report(devices, context)}\nLog: {log_file()}"
    if not is_user_mistake(exc):
        return technical
    summary, fix = describe(exc)
    return f"{summary}\n{fix}\n\nTechnical details (for a bug report):\n\n{technical}"


class ErrorDialog(QDialog):
    """Shows one error: summary, fix, collapsible details with Copy; non-modal."""

    def __init__(self, parent: QWidget | None) -> None:
        super().__init__(parent)
        self.setObjectName("errorDialog")
        self.setWindowTitle("Glimpse: something went wrong")
        self.setModal(False)
        self.setWindowModality(Qt.WindowModality.NonModal)
        self.exception: BaseException | None = None
        self.count = 0

        icon = QLabel()
        icon.setPixmap(self.style().standardIcon(QStyle.StandardPixmap.SP_MessageBoxWarning).pixmap(40, 40))
        icon.setAlignment(Qt.AlignmentFlag.AlignTop)
        self.summary = QLabel()
        self.summary.setObjectName("errorSummary")
        self.summary.setWordWrap(True)
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        font = self.summary.font()
        font.setBold(True)
        self.summary.setFont(font)
        self.fix = QLabel()
        self.fix.setObjectName("errorFix")
        self.fix.setWordWrap(True)
        self.fix.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        text = QVBoxLayout()
        text.addWidget(self.summary)
        text.addWidget(self.fix)
        head = QHBoxLayout()
        head.addWidget(icon)
        head.addLayout(text, 1)

        self.toggle = QToolButton()
        self.toggle.setObjectName("errorDetailsToggle")
        self.toggle.setText("Show &details")
        self.toggle.setCheckable(True)
        self.toggle.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.toggle.setArrowType(Qt.ArrowType.RightArrow)
        self.toggle.setAccessibleName("Show details")
        self.toggle.toggled.connect(self._on_toggled)
        self.details = QPlainTextEdit()
        self.details.setObjectName("errorDetails")
        self.details.setReadOnly(True)
        self.details.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.details.setAccessibleName("Error details")
        self.details.setVisible(False)
        self.details.setMinimumHeight(200)

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.copy_button = QPushButton(QIcon.fromTheme("edit-copy"), "&Copy details")
        self.copy_button.setAccessibleName("Copy error details")
        self.copy_button.clicked.connect(self.copy_details)
        self.log_button = QPushButton("Show &log")
        self.log_button.setAccessibleName("Open the log file")
        self.log_button.clicked.connect(lambda: QDesktopServices.openUrl(QUrl.fromLocalFile(str(log_file()))))
        buttons.addButton(self.copy_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.addButton(self.log_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.rejected.connect(self.close)

        layout = QVBoxLayout(self)
        layout.setSpacing(12)
        layout.addLayout(head)
        layout.addWidget(self.toggle, 0, Qt.AlignmentFlag.AlignLeft)
        layout.addWidget(self.details, 1)
        layout.addWidget(buttons)
        self.setMinimumWidth(460)

    def set_error(self, exc: BaseException, detail_text: str) -> None:
        self.exception = exc
        self.count += 1
        summary, fix = describe(exc)
        self.summary.setText(summary)
        self.fix.setText(fix)
        self.fix.setVisible(bool(fix))
        self.details.setPlainText(detail_text)
        self._on_toggled(self.toggle.isChecked())
        self.setAccessibleDescription(f"{summary} {fix}")

    def copy_details(self) -> None:
        text = self.details.toPlainText()
        if not text.startswith(self.summary.text()):
            text = f"{self.summary.text()}\n{self.fix.text()}\n\n{text}"
        QGuiApplication.clipboard().setText(text)

    def _on_toggled(self, shown: bool) -> None:
        self.details.setVisible(shown)
        self.toggle.setArrowType(Qt.ArrowType.DownArrow if shown else Qt.ArrowType.RightArrow)
        what = (
            "technical details"
            if self.exception is not None and is_user_mistake(self.exception)
            else "details"
        )
        self.toggle.setText(f"{'Hide' if shown else 'Show'} &{what}")
        self.toggle.setAccessibleName(f"{'Hide' if shown else 'Show'} {what}")
        self.adjustSize()


def show_error(parent: QWidget | None, exc: BaseException, tb: str | None = None) -> ErrorDialog:
    """Log `exc` and show it: the one way errors reach the user. Returns the (non-modal) dialog.

    `parent` may offer `error_context() -> dict[str, str]` (model, precision, device in use) and
    `devices` (what OpenVINO reported) for the details.
    """
    summary, fix = describe(exc)
    log.error(
        "%s %s", summary, fix, exc_info=(type(exc), exc, exc.__traceback__) if exc.__traceback__ else None
    )
    context: dict[str, str] = {}
    devices: list[Any] = []
    if parent is not None:
        try:
            context = dict(parent.error_context()) if hasattr(parent, "error_context") else {}
            devices = list(getattr(parent, "devices", []) or [])
        except Exception:  # noqa: BLE001 - the context is a bonus
            log.debug("no error context", exc_info=True)
    dialog = parent.findChild(ErrorDialog, "errorDialog") if parent is not None else None
    if dialog is None:
        dialog = ErrorDialog(parent)
    dialog.set_error(exc, details(exc, tb, context, devices))
    dialog.show()
    dialog.raise_()
    return dialog


class NotificationBar(QFrame):
    """A one-line notice at the top of the window (settings reset, files skipped, demo model...)."""

    dismissed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("notificationBar")
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setAccessibleName("Notice")
        self.icon = QLabel()
        self.text = QLabel()
        self.text.setObjectName("notificationText")
        self.text.setWordWrap(True)
        self.text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.text.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.action_button = QPushButton()
        self.action_button.setVisible(False)
        self.close_button = QToolButton()
        self.close_button.setText("✕")
        self.close_button.setToolTip("Dismiss (Esc)")
        self.close_button.setAccessibleName("Dismiss notice")
        self.close_button.clicked.connect(self.dismiss)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(12, 6, 6, 6)
        layout.addWidget(self.icon)
        layout.addWidget(self.text, 1)
        layout.addWidget(self.action_button)
        layout.addWidget(self.close_button)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self.dismiss)
        self._action: Any = None
        self.action_button.clicked.connect(self._on_action_clicked)
        self.level = "info"
        self.hide()

    def show_message(
        self, message: str, level: str = "info", *, timeout_ms: int = 0, action: tuple[str, Any] | None = None
    ) -> None:
        self.level = level
        pix = {
            "info": QStyle.StandardPixmap.SP_MessageBoxInformation,
            "warning": QStyle.StandardPixmap.SP_MessageBoxWarning,
            "error": QStyle.StandardPixmap.SP_MessageBoxCritical,
        }.get(level, QStyle.StandardPixmap.SP_MessageBoxInformation)
        self.icon.setPixmap(self.style().standardIcon(pix).pixmap(18, 18))
        self.text.setText(message)
        self.setProperty("level", level)
        self.style().unpolish(self)
        self.style().polish(self)
        self.setAccessibleDescription(message)
        self._action = action[1] if action else None
        self.action_button.setText(action[0] if action else "")
        self.action_button.setVisible(action is not None)
        self.show()
        if timeout_ms:
            self._timer.start(timeout_ms)
        else:
            self._timer.stop()

    def message(self) -> str:
        return self.text.text() if self.isVisible() else ""

    def dismiss(self) -> None:
        self._timer.stop()
        if self.isVisible():
            self.hide()
            self.dismissed.emit()

    def _on_action_clicked(self) -> None:
        callback = self._action
        self.dismiss()
        if callback is not None:
            callback()

    def event(self, event: QEvent) -> bool:
        if (
            event.type() == QEvent.Type.KeyPress
            and getattr(event, "key", lambda: None)() == Qt.Key.Key_Escape
        ):
            self.dismiss()
            return True
        return super().event(event)
