"""Tools ▸ Model Tools…: one window with the Models, Convert, Quantize and Compare pages.

The pages share one JobRunner (one job at a time, each in a child process). The window shows failures with
the app's one error presenter and announces `models_changed` when a job added, changed or removed a model,
so the main window's model chooser follows. Closing the window only hides it: a running job goes on.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from PySide6.QtCore import QEvent, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QCloseEvent, QColor, QKeySequence, QPalette, QShortcut, QShowEvent
from PySide6.QtWidgets import QHBoxLayout, QListWidget, QListWidgetItem, QStackedWidget, QStyle, QWidget

from desktop_app.resources import app_icon
from desktop_app.tools_panel.job_host import Job, JobRunner
from desktop_app.tools_panel.page import ToolPage
from desktop_app.tools_panel.pages.compare import ComparePage
from desktop_app.tools_panel.pages.convert import ConvertPage
from desktop_app.tools_panel.pages.models import ModelsPage
from desktop_app.tools_panel.pages.quantize import QuantizePage
from desktop_app.widgets.error_dialog import ErrorContext, error_context_of, set_error_context, show_error
from desktop_app.widgets.theme import is_dark, mix, palette_colors

log = logging.getLogger("glimpse.app.tools")

PAGES = ("models", "convert", "quantize", "compare")
ICONS = {
    "models": QStyle.StandardPixmap.SP_DriveHDIcon,
    "convert": QStyle.StandardPixmap.SP_BrowserReload,
    "quantize": QStyle.StandardPixmap.SP_ArrowDown,
    "compare": QStyle.StandardPixmap.SP_FileDialogContentsView,
}


def style_sheet(palette: QPalette) -> str:
    """The window's own look, from palette roles (light and dark alike), on top of the app's sheet."""
    base, window, text, mid, highlight = palette_colors(palette)
    dark = is_dark(palette)
    muted = mix(text, window, 0.42)
    border = mix(window, mid, 0.6)
    nav_bg = mix(window, mid, 0.18 if dark else 0.12)
    nav_hover = mix(window, highlight, 0.1)
    selected = mix(base, highlight, 0.35 if dark else 0.2)
    notice_bg = mix(base, QColor(230, 160, 0), 0.25 if dark else 0.16)
    good = mix(text, QColor(40, 150, 70), 0.85)
    bad = mix(text, QColor(210, 45, 45), 0.85)
    return f"""
QListWidget#toolsNav {{ background: {nav_bg}; border: none; border-right: 1px solid {border}; padding: 10px 6px;
    font-size: 10.5pt; outline: 0; }}
QListWidget#toolsNav::item {{ padding: 9px 8px; border-radius: 6px; color: {text.name()}; }}
QListWidget#toolsNav::item:selected {{ background: {selected}; color: {text.name()}; }}
QListWidget#toolsNav::item:hover:!selected {{ background: {nav_hover}; }}
QLabel#pageTitle {{ font-size: 17pt; font-weight: 600; }}
QLabel#pageBlurb, QLabel#modelsLocation, QLabel#outputLocation, QLabel#catalogHint, QLabel#jobElapsed,
QLabel#jobStage {{ color: {muted}; }}
QLabel#pageNotice {{ background: {notice_bg}; border: 1px solid {border}; border-radius: 6px; padding: 6px 10px; }}
QLabel#jobTitle {{ font-weight: 600; }}
QLabel#jobOutcome[state="done"] {{ color: {good}; }}
QLabel#jobOutcome[state="failed"] {{ color: {bad}; }}
QLabel#compareHeadline {{ font-size: 10.5pt; }}
QPlainTextEdit#jobLog {{ border: 1px solid {border}; border-radius: 6px; background: {base.name()}; }}
QTreeWidget::item {{ padding: 3px 2px; }}
QGroupBox {{ border: 1px solid {border}; border-radius: 8px; margin-top: 14px; padding: 10px 8px 6px 8px; }}
QGroupBox::title {{ subcontrol-origin: margin; left: 10px; padding: 0 4px; color: {muted}; }}
"""


class ModelToolsWindow(QWidget):
    """Signals: `models_changed()` after a job that added, changed or removed a model."""

    models_changed = Signal()

    def __init__(self, parent: QWidget | None = None, *, runner: JobRunner | None = None) -> None:
        super().__init__(parent)
        self.setWindowFlag(Qt.WindowType.Window)
        self.setObjectName("modelToolsWindow")
        self.setWindowTitle("Model Tools – Glimpse")
        set_error_context(
            self, ErrorContext(self.error_context, lambda: self.devices, error_context_of(parent).show_log)
        )
        self.setWindowIcon(app_icon())
        self.runner = runner or JobRunner(self)

        self.models_page = ModelsPage(self.runner)
        self.convert_page = ConvertPage(self.runner)
        self.quantize_page = QuantizePage(self.runner)
        self.compare_page = ComparePage(self.runner)
        self.pages: dict[str, ToolPage] = {
            "models": self.models_page,
            "convert": self.convert_page,
            "quantize": self.quantize_page,
            "compare": self.compare_page,
        }
        self.nav = QListWidget()
        self.nav.setObjectName("toolsNav")
        self.nav.setAccessibleName("Model Tools pages")
        self.nav.setIconSize(QSize(20, 20))
        self.nav.setFixedWidth(168)
        self.nav.setSpacing(2)
        self.stack = QStackedWidget()
        for i, (key, page) in enumerate(self.pages.items()):
            item = QListWidgetItem(self.style().standardIcon(ICONS[key]), page.heading)
            item.setData(Qt.ItemDataRole.UserRole, key)
            item.setToolTip(f"{page.heading} (Alt+{i + 1})")
            self.nav.addItem(item)
            self.stack.addWidget(page)
            page.page_requested.connect(self._on_page_requested)
            shortcut = QShortcut(QKeySequence(f"Alt+{i + 1}"), self)
            shortcut.activated.connect(lambda k=key: self.show_page(k))
        close = QShortcut(self)  # Esc, Ctrl+W (and the platform's other Close keys): hides, a job goes on
        close.setKeys(
            [QKeySequence(Qt.Key.Key_Escape), *QKeySequence.keyBindings(QKeySequence.StandardKey.Close)]
        )
        close.activated.connect(self.close)
        self.nav.currentRowChanged.connect(self._on_nav_row_changed)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.nav)
        layout.addWidget(self.stack, 1)

        self.runner.job_finished.connect(self._on_job_finished)
        self.runner.job_failed.connect(self._on_job_failed)
        self.runner.job_cancelled.connect(self._on_job_cancelled)
        self.runner.busy_changed.connect(self._on_busy_changed)
        self.nav.setCurrentRow(0)
        self.setStyleSheet(style_sheet(self.palette()))
        self.resize(1120, 780)

    # -- pages ----------------------------------------------------------------------------------------------

    def show_page(self, name: str, model: Path | None = None) -> ToolPage:
        """Show a page (and choose `model` on it); returns the page."""
        page = self.pages[name]
        self.nav.setCurrentRow(list(self.pages).index(name))
        if model is not None and hasattr(page, "select_model"):
            page.select_model(Path(model))
        return page

    def current_page(self) -> ToolPage:
        return self.stack.currentWidget()  # type: ignore[return-value]

    def refresh_models(self) -> None:
        for page in self.pages.values():
            page.refresh()

    def _on_nav_row_changed(self, row: int) -> None:
        if row >= 0:
            self.stack.setCurrentIndex(row)

    def _on_page_requested(self, name: str, model: object) -> None:
        self.show_page(name, Path(model) if model else None)

    # -- jobs -----------------------------------------------------------------------------------------------

    def _on_job_finished(self, job: Job, _result: object) -> None:
        if job.changes_models:  # on a timer: the page showing the result draws first, input comes in between
            QTimer.singleShot(1, self, self._after_models_changed)

    def _after_models_changed(self) -> None:
        self.refresh_models()
        self.models_changed.emit()

    def _on_job_failed(self, job: Job, exc: BaseException, details: str) -> None:
        self.refresh_models()
        show_error(self, exc, details)

    def _on_job_cancelled(self, job: Job) -> None:
        self.refresh_models()  # e.g. a download now shows as interrupted, ready to resume

    def _on_busy_changed(self, busy: bool) -> None:
        job = self.runner.current
        for i in range(self.nav.count()):
            item = self.nav.item(i)
            key = item.data(Qt.ItemDataRole.UserRole)
            running = busy and job is not None and job.page == key
            item.setText(self.pages[key].heading + ("  ●" if running else ""))
        self.setWindowTitle(f"Model Tools – {job.title}…" if busy and job else "Model Tools – Glimpse")

    def error_context(self) -> dict[str, str]:
        """For the error presenter's details: the job that was running."""
        context = dict(error_context_of(self.parentWidget()).facts())  # the main window's: the model in use
        job = self.runner.current
        if job is not None:
            options = job.request.to_dict() if job.request is not None else {}
            context["Model Tools job"] = f"{job.kind}: {json.dumps(options, default=str)}"
        return context

    def models_in_use(self) -> set[Path]:
        """Model folders the main window has loaded or is loading (not to be deleted from under it)."""
        manager = getattr(self.parentWidget(), "models", None)
        specs = [getattr(manager, "spec", None), getattr(manager, "wanted", None)]
        return {spec.path.resolve() for spec in specs if spec is not None}

    @property
    def devices(self) -> list:
        parent = self.parentWidget()
        return list(getattr(parent, "devices", []) or [])

    def shutdown(self, timeout_ms: int = 1000) -> bool:
        """Cancel the running job (the app is quitting); True if nothing is left running."""
        return self.runner.shutdown(timeout_ms)

    # -- events ---------------------------------------------------------------------------------------------

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 - Qt override
        if self.devices:
            self.compare_page.set_devices(self.devices)
        if not self.runner.busy:
            self.refresh_models()
        super().showEvent(event)

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 - Qt override
        if event.type() == QEvent.Type.PaletteChange:  # light <-> dark
            sheet = style_sheet(self.palette())
            if sheet != self.styleSheet():
                self.setStyleSheet(sheet)
        super().changeEvent(event)

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt override
        """Only hides the window: a running job goes on (and is cancelled when Glimpse quits)."""
        event.accept()
