"""The job view every Model Tools page shows: what runs, its stage, a bar that counts, a log, Cancel; and the
words for progress (sizes, counts, stage names)."""

from __future__ import annotations

import time

from PySide6.QtCore import QTimer
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from desktop_app.tools_panel.job_host import Job, JobRunner
from desktop_app.widgets.labels import text_label
from model_tools.jobs.progress import Progress
from model_tools.runtime.errors import explain

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

        self.title = text_label("jobTitle")
        self.stage = text_label("jobStage", wrap=True)
        self.bar = QProgressBar()
        self.bar.setObjectName("jobProgress")
        self.bar.setRange(0, BAR_STEPS)
        self.bar.setAccessibleName("Job progress")
        self.bar.setMinimumWidth(280)
        self.elapsed = text_label("jobElapsed")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setObjectName("cancelJob")
        self.cancel_button.setAccessibleName("Cancel the job")
        self.cancel_button.clicked.connect(self._on_cancel_clicked)
        self.outcome = text_label("jobOutcome", wrap=True, selectable=True)
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
        explanation = explain(exc)
        self.append(f"Failed: {explanation}")
        self._finish(f"✗ {explanation.message}", "failed")

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
