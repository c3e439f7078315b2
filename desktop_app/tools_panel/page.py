"""Pieces every Model Tools page uses: the job view (progress, log, cancel), a path field, page scaffolding."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import (
    QAbstractButton,
    QComboBox,
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from desktop_app.tools_panel.job_host import Job, JobRunner
from desktop_app.widgets.error_dialog import describe
from model_tools.jobs.progress import NO_TOOLS_FIX, Progress, missing_tools
from model_tools.library import store as library
from model_tools.runtime import ConvertedModel

BAR_STEPS = 1000
STAGE_NAMES = {
    "download": "Download",
    "load": "Load",
    "tokenizer": "Tokenizer",
    "vision_model": "Vision model",
    "text_encoder": "Text encoder",
    "text_encoder inputs": "Text encoder inputs",
    "text_decoder_cross_kv": "Decoder cross-attention K/V",
    "text_decoder": "Text decoder",
    "manifest": "Manifest",
    "calibration data": "Calibration data",
    "latency": "Latency",
    "agreement": "Answer agreement",
    "save": "Save",
    "import": "Import",
    "done": "Done",
}


def human_bytes(n: float) -> str:
    """Three figures: 1.54 GB, 12.3 MB, 612 kB, 12 bytes."""
    n = float(n)
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            value = n / scale
            return (
                f"{value:.2f} {unit}"
                if value < 10
                else f"{value:.1f} {unit}"
                if value < 100
                else f"{value:.0f} {unit}"
            )
    return f"{n:.0f} bytes"


def stage_name(stage: str) -> str:
    return STAGE_NAMES.get(stage, stage.replace("_", " ").capitalize())


def progress_text(p: Progress) -> str:
    """What the bar says: bytes as sizes, counts with their unit."""
    if p.unit == "bytes":
        if not p.total:
            return human_bytes(p.done) if p.done else "Starting…"
        return f"{human_bytes(p.done)} of {human_bytes(p.total)} ({p.done / p.total:.0%})"
    if not p.total:
        return stage_name(p.stage)
    if p.unit == "steps":
        return f"Step {min(p.done + 1, p.total) if p.done < p.total else p.total} of {p.total}"
    return f"{p.done} of {p.total} {p.unit}"


def elapsed_text(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 60}:{seconds % 60:02d}"


class JobView(QFrame):
    """Shows the job a page started: what it is, its stage, a bar that counts (bytes, samples, runs, steps),
    a log of its stages and a Cancel button; then how it ended. Watches a JobRunner; only this page's jobs."""

    def __init__(self, runner: JobRunner, page: str, *, with_log: bool = True, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("jobView")
        self.runner, self.page = runner, page
        self.job: Job | None = None
        self._stage: str | None = None
        self._stage_started = 0.0
        self._last_message = ""

        self.title = QLabel()
        self.title.setObjectName("jobTitle")
        self.stage = QLabel()
        self.stage.setObjectName("jobStage")
        self.stage.setWordWrap(True)
        self.bar = QProgressBar()
        self.bar.setObjectName("jobProgress")
        self.bar.setRange(0, BAR_STEPS)
        self.bar.setAccessibleName("Job progress")
        self.bar.setMinimumWidth(280)
        self.elapsed = QLabel()
        self.elapsed.setObjectName("jobElapsed")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setObjectName("cancelJob")
        self.cancel_button.setAccessibleName("Cancel the job")
        self.cancel_button.clicked.connect(self._on_cancel_clicked)
        self.outcome = QLabel()
        self.outcome.setObjectName("jobOutcome")
        self.outcome.setWordWrap(True)
        self.outcome.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.log: QPlainTextEdit | None = None

        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.bar, 1)
        row.addWidget(self.elapsed)
        row.addWidget(self.cancel_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 4, 0, 0)
        layout.addWidget(self.title)
        layout.addWidget(self.stage)
        layout.addLayout(row)
        layout.addWidget(self.outcome)
        if with_log:
            self.log = QPlainTextEdit()
            self.log.setObjectName("jobLog")
            self.log.setReadOnly(True)
            self.log.setMaximumBlockCount(2000)
            self.log.setAccessibleName("Job log")
            self.log.setPlaceholderText("What the job does appears here.")
            self.log.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
            self.log.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
            layout.addWidget(self.log, 1)

        self._clock = QTimer(self)
        self._clock.setInterval(1000)
        self._clock.timeout.connect(self._on_clock_timeout)
        runner.job_started.connect(self._on_job_started)
        runner.job_progressed.connect(self._on_job_progressed)
        runner.job_logged.connect(self._on_job_logged)
        runner.job_finished.connect(self._on_job_finished)
        runner.job_failed.connect(self._on_job_failed)
        runner.job_cancelled.connect(self._on_job_cancelled)
        runner.stopping_slow.connect(self._on_stopping_slow)
        self._show_running(False)
        self.title.hide()
        self.stage.hide()
        self.outcome.hide()

    @property
    def running(self) -> bool:
        return self.job is not None

    def _mine(self, job: Job) -> bool:
        return job.page == self.page

    def _show_running(self, running: bool) -> None:
        for w in (self.bar, self.elapsed, self.cancel_button):
            w.setVisible(running)

    def append(self, line: str) -> None:
        if self.log is not None:
            self.log.appendPlainText(f"{time.strftime('%H:%M:%S')}  {line}")

    def _close_stage(self) -> None:
        if self._stage is not None and self._stage != "done":
            self.append(f"✓ {stage_name(self._stage)} ({time.monotonic() - self._stage_started:.1f} s)")

    # -- runner signals ---------------------------------------------------------------------------------------

    def _on_job_started(self, job: Job) -> None:
        if not self._mine(job):
            return
        self.job, self._stage, self._last_message = job, None, ""
        self.title.setText(job.title)
        self.title.show()
        self.stage.setText("Starting…")
        self.stage.show()
        self.outcome.hide()
        self.bar.setRange(0, 0)
        self.bar.setFormat("")
        self.cancel_button.setText("Cancel")
        self.cancel_button.setToolTip("Stop the job at its next step; nothing half-made is left behind")
        self.cancel_button.setEnabled(True)
        self.elapsed.setText("0:00")
        self._show_running(True)
        self._clock.start()
        if self.log is not None:
            self.log.clear()
        self.append(job.title)

    def _on_job_progressed(self, job: Job, p: Progress) -> None:
        if not self._mine(job) or self.job is None:
            return
        if p.stage != self._stage:
            self._close_stage()
            self._stage, self._stage_started = p.stage, time.monotonic()
            if p.message:
                self.append(p.message)
                self._last_message = p.message
        elif p.message and p.message != self._last_message and p.unit == "steps":
            self.append(p.message)
            self._last_message = p.message
        self.stage.setText(f"{stage_name(p.stage)} · {p.message}" if p.message else stage_name(p.stage))
        if p.total:
            self.bar.setRange(0, BAR_STEPS)
            self.bar.setValue(round(BAR_STEPS * min(p.done, p.total) / p.total))
        else:
            self.bar.setRange(0, 0)
        self.bar.setFormat(progress_text(p))
        self.bar.setAccessibleDescription(progress_text(p))

    def _on_job_logged(self, job: Job, level: str, message: str) -> None:
        if self._mine(job):
            self.append(message if level in ("info", "debug") else f"{level.upper()}: {message}")

    def _finish(self, text: str, state: str) -> None:
        self._clock.stop()
        self._show_running(False)
        self.stage.hide()
        self.title.hide()
        self.outcome.setText(text)
        self.outcome.setProperty("state", state)
        self.outcome.style().unpolish(self.outcome)
        self.outcome.style().polish(self.outcome)
        self.outcome.show()
        self.job = None

    def _on_job_finished(self, job: Job, result: object) -> None:
        if not self._mine(job):
            return
        self._close_stage()
        took = elapsed_text(time.monotonic() - self.runner.started_at)
        self.append(f"Finished in {took}")
        self._finish(f"✓ {job.title}: done in {took}.", "done")

    def _on_job_failed(self, job: Job, exc: BaseException, _details: str) -> None:
        if not self._mine(job):
            return
        summary, fix = describe(exc)
        self.append(f"Failed: {summary} {fix}")
        self._finish(f"✗ {summary}", "failed")

    def _on_job_cancelled(self, job: Job) -> None:
        if not self._mine(job):
            return
        self.append("Cancelled; nothing was left half-made.")
        self._finish(f"{job.title}: cancelled. Nothing was left half-made.", "cancelled")

    def _on_stopping_slow(self, job: Job) -> None:
        if self._mine(job):
            self.cancel_button.setText("Stop Now")
            self.cancel_button.setEnabled(True)
            self.cancel_button.setToolTip("End the job at once (its half-made folder is removed)")

    def _on_cancel_clicked(self) -> None:
        if self.runner.cancelling:
            self.runner.stop_now()
            self.stage.setText("Stopping now…")
            return
        if self.runner.cancel():
            self.cancel_button.setEnabled(False)
            self.cancel_button.setText("Stopping…")
            self.stage.setText("Stopping at the next step…")
            self.append("Cancel requested")

    def _on_clock_timeout(self) -> None:
        self.elapsed.setText(elapsed_text(time.monotonic() - self.runner.started_at))


class PathField(QWidget):
    """A line edit with Browse…: a folder or a file. `changed(str)` when the text changes."""

    changed = Signal(str)

    def __init__(
        self,
        placeholder: str,
        *,
        folder: bool = True,
        caption: str = "",
        file_filter: str = "",
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.folder, self.caption, self.file_filter = folder, caption or placeholder, file_filter
        self.edit = QLineEdit()
        self.edit.setPlaceholderText(placeholder)
        self.edit.setAccessibleName(placeholder)
        self.edit.setClearButtonEnabled(True)
        self.edit.textChanged.connect(self.changed)
        self.browse = QPushButton("Browse…")
        self.browse.setAccessibleName(f"Browse: {placeholder}")
        self.browse.clicked.connect(self._on_browse_clicked)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.edit, 1)
        layout.addWidget(self.browse)

    def text(self) -> str:
        return self.edit.text().strip()

    def path(self) -> Path | None:
        return Path(self.text()).expanduser() if self.text() else None

    def set_path(self, path: str | Path | None) -> None:
        self.edit.setText(str(path) if path else "")

    def _on_browse_clicked(self) -> None:
        start = self.text() or str(Path.home())
        if self.folder:
            chosen = QFileDialog.getExistingDirectory(self, self.caption, start)
        else:
            chosen, _ = QFileDialog.getOpenFileName(self, self.caption, start, self.file_filter)
        if chosen:
            self.set_path(chosen)


class ToolPage(QWidget):
    """A page: a header, a notice line (refusals, hints), start buttons that wait while another job runs.

    `page_requested(name, model_path)` asks the window to show another page with a model chosen.
    """

    page_requested = Signal(str, object)
    name = ""
    heading = ""
    blurb = ""

    def __init__(self, runner: JobRunner, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.runner = runner
        self.setObjectName(f"{self.name}Page")
        self.start_buttons: list[QAbstractButton] = []
        title = QLabel(self.heading)
        title.setObjectName("pageTitle")
        blurb = QLabel(self.blurb)
        blurb.setObjectName("pageBlurb")
        blurb.setWordWrap(True)
        self.notice = QLabel()
        self.notice.setObjectName("pageNotice")
        self.notice.setWordWrap(True)
        self.notice.hide()
        self.tools_note = QLabel()  # stays while this Glimpse lacks the conversion tools
        self.tools_note.setObjectName("pageNotice")
        self.tools_note.setWordWrap(True)
        self.tools_note.hide()
        self.tools_buttons: list[QAbstractButton] = []
        self.body = QVBoxLayout(self)
        self.body.setContentsMargins(20, 16, 20, 16)
        self.body.setSpacing(10)
        self.body.addWidget(title)
        self.body.addWidget(blurb)
        self.body.addWidget(self.notice)
        self.body.addWidget(self.tools_note)
        runner.busy_changed.connect(self._on_busy_changed)

    def refused(self) -> bool:
        """True (and the reason shown) if another job is running: checked before anything else."""
        reason = self.runner.refusal()
        if reason is not None:
            self.show_notice(reason)
        return reason is not None

    def start(self, job: Job) -> bool:
        """Start `job` on the shared runner; if another job runs, say why not here and return False."""
        reason = self.runner.start(job)
        if reason is not None:
            self.show_notice(reason)
            return False
        self.notice.hide()
        return True

    def show_notice(self, text: str) -> None:
        self.notice.setText(text)
        self.notice.show()

    def refresh(self) -> None:
        """Re-read what is installed (after a job, or when the page is shown)."""

    def require_tools(self, *buttons: QAbstractButton, what: str) -> None:
        """`buttons` need the conversion tools (torch, transformers, NNCF). Where they are missing (the runtime
        bundle) the buttons stay disabled and a note on the page says why and what to do."""
        missing = missing_tools()
        if not missing:
            return
        self.tools_buttons = list(buttons)
        self.tools_note.setText(
            f"{what} needs the model conversion tools, which this Glimpse does not include "
            f"({', '.join(missing)} missing). {NO_TOOLS_FIX}"
        )
        self.tools_note.show()
        for button in buttons:
            button.setProperty("idleTip", f"Needs the conversion tools: {NO_TOOLS_FIX}")
            button.setToolTip(button.property("idleTip"))
        self.refresh_buttons()

    def startable(self, button: QAbstractButton) -> bool:
        """Whether `button` may be pressed now that no job runs."""
        return button not in self.tools_buttons and self.can_start(button)

    def _on_busy_changed(self, busy: bool) -> None:
        reason = self.runner.refusal() if busy else None
        for button in self.start_buttons:
            button.setEnabled(not busy and self.startable(button))
            button.setToolTip(reason or button.property("idleTip") or "")
        job = self.runner.current
        if busy and job is not None and job.page != self.name:
            self.show_notice(
                f"Busy with “{job.title}” (on the {job.page.capitalize()} page). One job runs at a "
                "time: this page can start when it ends."
            )
        elif not busy:
            self.notice.hide()
            self.refresh_buttons()

    def can_start(self, button: QAbstractButton) -> bool:
        """Whether `button` may be pressed, jobs aside (e.g. a model is chosen)."""
        return True

    def refresh_buttons(self) -> None:
        busy = self.runner.busy
        for button in self.start_buttons:
            button.setEnabled(not busy and self.startable(button))


class ModelCombo(QComboBox):
    """Installed models that `accept` lets through, labelled with their task and precisions."""

    def __init__(self, accept: Callable[[ConvertedModel], bool], empty: str, parent: QWidget | None = None):
        super().__init__(parent)
        self._accept, self.empty = accept, empty
        self.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.setMinimumContentsLength(30)

    def refresh(self, select: Path | None = None) -> None:
        keep = select or self.model_path()
        self.blockSignals(True)
        try:
            self.clear()
            for model in library.installed():
                if not self._accept(model):
                    continue
                kind = "questions" if model.task == "vqa" else "captions"
                precisions = ", ".join(library.precision_label(model, p) for p in model.precisions)
                self.addItem(f"{model.name}  ({kind} · {precisions})", str(model.path))
                self.setItemData(self.count() - 1, str(model.path), Qt.ItemDataRole.ToolTipRole)
            if self.count() == 0:
                self.addItem(self.empty, None)
                self.setItemData(0, self.empty, Qt.ItemDataRole.ToolTipRole)
            if keep is not None:
                index = self.findData(str(keep))
                if index >= 0:
                    self.setCurrentIndex(index)
        finally:
            self.blockSignals(False)
        self.currentIndexChanged.emit(self.currentIndex())

    def model_path(self) -> Path | None:
        data = self.currentData()
        return Path(data) if data else None

    def select(self, path: Path) -> bool:
        index = self.findData(str(path))
        if index < 0:
            self.refresh(path)
            index = self.findData(str(path))
        if index >= 0:
            self.setCurrentIndex(index)
        return index >= 0


class ModelPage(ToolPage):
    """A page that works on one installed model (Quantize, Compare): `model_combo` lists those `accept` lets
    through, and the page can start once one is chosen."""

    def __init__(
        self,
        runner: JobRunner,
        accept: Callable[[ConvertedModel], bool],
        empty: str,
        label: str,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(runner, parent)
        self.model_combo = ModelCombo(accept, empty)
        self.model_combo.setObjectName(f"{self.name}Model")
        self.model_combo.setAccessibleName(label)
        self.model_combo.currentIndexChanged.connect(lambda *_: self.refresh_buttons())

    def refresh(self) -> None:
        self.model_combo.refresh()
        self.refresh_buttons()

    def select_model(self, path: Path) -> None:
        self.model_combo.select(Path(path))

    def can_start(self, button: QAbstractButton) -> bool:
        return self.model_combo.model_path() is not None

    def chosen_model(self, model: Path | None, missing: str) -> Path | None:
        """The model to work on (`model`, chosen first, if given). None, with the reason on the page, while
        another job runs or when no model is chosen (`missing` says what to do)."""
        if self.refused():
            return None
        if model is not None:
            self.select_model(model)
        path = self.model_combo.model_path()
        if path is None:
            self.show_notice(missing)
        return path
