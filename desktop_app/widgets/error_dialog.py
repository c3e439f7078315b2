"""One presenter for every error, and a bar for notices that are not errors.

    set_error_context(window, ErrorContext(facts=..., devices=..., show_log=...))  # once, by each window
    show_error(parent, exc)          # what happened + what to do, details (traceback, versions) to copy
    window.notify("Settings reset")  # NotificationBar: a line at the top of the window, dismissable

The words come from `model_tools.runtime.errors.explain`, as they do for the job wire and the CLI. The dialog
is not modal: the window keeps working while it is open, and a second error updates it.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QEvent, QObject, Qt, QTimer, QUrl, Signal
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
from model_tools.runtime.errors import explain, is_user_mistake, traceback_of

log = logging.getLogger("glimpse.app.errors")

NO_FIX = "See the details below; the log has more."  # for an error that carries no fix of its own


@dataclass(frozen=True)
class ErrorContext:
    """What a window adds to the errors shown over it; asked for when one is shown, so it is current."""

    facts: Callable[[], Mapping[str, str]] = dict  # model, precision, device in use; the running job
    devices: Callable[[], Sequence[object]] = tuple  # what OpenVINO reported
    show_log: Callable[[], None] | None = None  # the window's Help ▸ Show Log; None: open the log file


class _ContextHolder(QObject):
    """Keeps a window's `ErrorContext` as a child of the window (found again by `error_context_of`)."""

    def __init__(self, window: QWidget, context: ErrorContext) -> None:
        super().__init__(window)
        self.setObjectName("errorContext")
        self.context = context


def set_error_context(window: QWidget, context: ErrorContext) -> None:
    """What `show_error` reports about `window` for errors shown over it or its pages. runs in: GUI thread."""
    holder = window.findChild(_ContextHolder, "errorContext", Qt.FindChildOption.FindDirectChildrenOnly)
    if holder is None:
        _ContextHolder(window, context)
    else:
        holder.context = context


def error_context_of(widget: QWidget | None) -> ErrorContext:
    """The context `set_error_context` gave `widget`'s window, or an empty one."""
    window = widget.window() if widget is not None else None
    holder = (
        window.findChild(_ContextHolder, "errorContext", Qt.FindChildOption.FindDirectChildrenOnly)
        if window is not None
        else None
    )
    return holder.context if holder is not None else ErrorContext()


def details(exc: BaseException, tb: str | None, context: Mapping[str, str], devices: Sequence[Any]) -> str:
    """The traceback and versions; for an ordinary mistake, its message and fix first, the rest after."""
    trace = tb or traceback_of(exc)
    if not trace:
        trace = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    technical = f"{trace.rstrip()}\n\n{environment_report(devices, dict(context))}\nLog: {log_file()}"
    if not is_user_mistake(exc):
        return technical
    summary, fix = explain(exc)
    return f"{summary}\n{fix or NO_FIX}\n\nTechnical details (for a bug report):\n\n{technical}"


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
        self.show_log: Callable[[], None] | None = None  # the window's own Show Log, from its `ErrorContext`

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
        self.log_button.clicked.connect(self._on_log_clicked)
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
        summary, fix = explain(exc)
        fix = fix or NO_FIX
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

    def _on_log_clicked(self) -> None:
        if self.show_log is not None:
            self.show_log()
        else:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(log_file())))

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


def show_error(
    parent: QWidget | None, exc: BaseException, tb: str | None = None, *, context: ErrorContext | None = None
) -> ErrorDialog:
    """Log `exc` and show it: the one way errors reach the user. Returns the (non-modal) dialog.

    `context` (default: the one `set_error_context` gave `parent`'s window) adds the model, devices and the
    running job to the details. `tb`: the traceback to show, if not the one attached to `exc`.
    runs in: GUI thread.
    """
    log.error(
        "%s", explain(exc), exc_info=(type(exc), exc, exc.__traceback__) if exc.__traceback__ else None
    )
    context = context or error_context_of(parent)
    facts: Mapping[str, str] = {}
    devices: Sequence[object] = ()
    try:
        facts, devices = context.facts(), context.devices()
    except Exception:  # noqa: BLE001 - the context is a bonus
        log.debug("no error context", exc_info=True)
    dialog = parent.findChild(ErrorDialog, "errorDialog") if parent is not None else None
    if dialog is None:
        dialog = ErrorDialog(parent)
    dialog.show_log = context.show_log
    dialog.set_error(exc, details(exc, tb, facts, devices))
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
