"""Model Tools jobs: one at a time, each in a child process watched by a worker thread.

    runner = JobRunner(parent)
    reason = runner.start(Job(ConvertRequest(source, out), "Converting …", page="convert"))
    # reason is None when the job started; else why not (another job is running)
    runner.cancel()                 # the job stops at its next check; its half-made folder is removed
    runner.shutdown(1000)           # on quit: cancel, wait at most a second, then stop the process

The child runs `model_tools.jobs.child` (the CLI's own functions); this module only starts it, turns its
events into signals and its failure into an exception for `show_error`. Why a process: torch, OpenVINO's
converter and NNCF hold the GIL for hundreds of milliseconds at a time, which would freeze the window.
"""

from __future__ import annotations

import itertools
import logging
import os
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QThreadPool, QTimer, Signal, Slot

from desktop_app.session.workers import FunctionWorker, Worker, WorkerSignals
from model_tools.jobs import wire as job_wire
from model_tools.jobs.folders import remove_temporaries
from model_tools.jobs.progress import Progress
from model_tools.jobs.requests import Record, kind_of
from model_tools.runtime import Cancelled
from model_tools.runtime.errors import attach_traceback, traceback_of

log = logging.getLogger("glimpse.app.tools")

STDERR_TAIL = 60  # lines of the job's stderr kept for the error details
KILL_GRACE_S = 2.0
EXIT_WAIT_S = 5.0  # after its last event, the job process exits at once; then its group is ended


@dataclass
class Job:
    """What to run (`request`, a `model_tools.jobs.requests` request for model_tools.jobs.child, or `call` for
    quick work done here), what the user reads (`title`), which page started it, and which folders to tidy if
    its process is killed."""

    request: Record | None
    title: str
    page: str = ""
    changes_models: bool = True  # a finished job changes what is installed: refresh the model lists
    targets: list[Path] = field(default_factory=list)
    call: Callable[[], Any] | None = None
    id: int = field(default_factory=itertools.count(1).__next__)

    @property
    def kind(self) -> str:
        """The job's name in `model_tools.jobs.requests.JOBS` ("call" for quick work done here)."""
        return kind_of(self.request) if self.request is not None else "call"


class JobSignals(WorkerSignals):
    """WorkerSignals plus `reported(Progress)` and `logged(level, message)`."""

    reported = Signal(object)
    logged = Signal(str, str)


class ProcessJobWorker(Worker):
    """Runs one job in a child process and relays its events; the result is the job's result (plain data).

    `stop()` asks the child to cancel (it stops at its next check); `kill()` ends it at once.
    """

    name = "tools-job"

    def __init__(self, job: Job, command: list[str], env: dict[str, str] | None = None) -> None:
        super().__init__()
        self.signals = JobSignals()
        self.job, self.command, self.env = job, list(command), env
        self.proc: subprocess.Popen[str] | None = None
        self.stderr_tail: deque[str] = deque(maxlen=STDERR_TAIL)
        self.killed = False
        self._lock = threading.Lock()

    def stop(self) -> None:
        """Ask the job to cancel. runs in: GUI thread (any thread is fine)."""
        self.cancel.set()
        self._send(job_wire.CANCEL)

    def kill(self) -> None:
        """End the job process now (a step that cannot be interrupted is taking too long, or the app quits)."""
        self.cancel.set()
        with self._lock:
            proc = self.proc
            self.killed = True
        if proc is not None and proc.poll() is None:
            proc.kill()
        if proc is not None:
            _end_group(proc)

    def _send(self, line: str) -> None:
        with self._lock:
            proc = self.proc
            if proc is None or proc.stdin is None or proc.poll() is not None:
                return
            try:
                proc.stdin.write(job_wire.encode(line))
                proc.stdin.flush()
            except (OSError, ValueError):
                pass  # the job already ended

    def work(self) -> Any:
        """runs in: worker thread. Starts the child, relays its events until it ends."""
        assert self.job.request is not None
        request = job_wire.encode(job_wire.request_message(self.job.request))
        with self._lock:
            if self.killed:
                raise Cancelled()
            self.proc = subprocess.Popen(
                self.command,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                encoding="utf-8",
                errors="replace",
                bufsize=1,
                env=self.env,
                start_new_session=True,  # Ctrl+C in the terminal is for the app; the job stops when we say
            )
            assert self.proc.stdin is not None
            self.proc.stdin.write(request)
            self.proc.stdin.flush()
        proc = self.proc
        if self.cancel.is_set():
            self._send(job_wire.CANCEL)
        reading = threading.Event()
        reading.set()
        drain = threading.Thread(
            target=self._drain_stderr, args=(proc,), name="glimpse-job-stderr", daemon=True
        )
        drain.start()
        threading.Thread(
            target=self._watch, args=(proc, reading), name="glimpse-job-watch", daemon=True
        ).start()
        result: Any = None
        error: dict[str, Any] | None = None
        finished = False
        assert proc.stdout is not None
        try:
            for line in proc.stdout:
                event = job_wire.decode(line)
                if event is None:
                    log.debug("job output: %s", line.rstrip())
                    continue
                kind = event.get("event")
                if kind == "progress":
                    self.signals.reported.emit(job_wire.progress_from(event))
                elif kind == "log":
                    self.signals.logged.emit(str(event.get("level", "info")), str(event.get("message", "")))
                elif kind == "finished":
                    result, finished = event.get("result"), True
                    break
                elif kind == "failed":
                    error = dict(event.get("error") or {})
                    break
        finally:
            reading.clear()
        try:
            code = proc.wait(timeout=EXIT_WAIT_S)
        except subprocess.TimeoutExpired:
            log.warning("The job process did not exit after its last word; ending it")
            proc.kill()
            code = proc.wait()
        _end_group(proc)  # helpers it forked (and that still hold its pipes) go with it
        drain.join(timeout=2)
        with self._lock:
            if proc.stdin is not None:
                try:
                    proc.stdin.close()
                except OSError:
                    pass
        if error is not None:
            raise job_wire.error_from_record(error)
        if finished:
            return job_wire.result_from(self.job.kind, result or {})
        if self.killed:
            raise Cancelled("Stopped.")
        tail = "\n".join(self.stderr_tail)
        exc = job_wire.JobFailedError(
            f"The job stopped unexpectedly (exit code {code}).",
            "It may have run out of memory: close other programs and try again.",
            "crash",
        )
        raise attach_traceback(exc, tail)

    @staticmethod
    def _watch(proc: subprocess.Popen[str], reading: threading.Event) -> None:
        """If the job process dies without a last word while something it forked keeps its output open, the
        read would never end: end the whole group."""
        proc.wait()
        time.sleep(EXIT_WAIT_S / 5)
        if reading.is_set():
            _end_group(proc)

    def _drain_stderr(self, proc: subprocess.Popen[str]) -> None:
        """The child's stderr (library warnings, its own log) goes to our log; the tail is kept for errors."""
        assert proc.stderr is not None
        for line in proc.stderr:
            line = line.rstrip()
            if line:
                self.stderr_tail.append(line)
                log.debug("job: %s", line)


def _end_group(proc: subprocess.Popen[str]) -> None:
    """Kill what is left of the job's process group (the job runs in a session of its own)."""
    if os.name != "posix":
        return
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


class JobRunner(QObject):
    """Runs Model Tools jobs one at a time. Signals: `job_started(Job)`, `job_progressed(Job, Progress)`,
    `job_logged(Job, level, message)`, `job_finished(Job, result)`, `job_failed(Job, exception, details)`,
    `job_cancelled(Job)`, `stopping_slow(Job)` (cancel asked, the job is still finishing a step),
    `busy_changed(bool)`."""

    job_started = Signal(object)
    job_progressed = Signal(object, object)
    job_logged = Signal(object, str, str)
    job_finished = Signal(object, object)
    job_failed = Signal(object, object, str)
    job_cancelled = Signal(object)
    stopping_slow = Signal(object)
    busy_changed = Signal(bool)

    SLOW_STOP_MS = 5000

    def __init__(self, parent: QObject | None = None, command: list[str] | None = None) -> None:
        super().__init__(parent)
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(2)
        self.command = command or job_wire.job_command()
        self.env: dict[str, str] | None = None  # None: the app's environment
        self.current: Job | None = None
        self.last_progress: Progress | None = None
        self.started_at = 0.0
        self._worker: ProcessJobWorker | FunctionWorker | None = None
        self._cancelling = False
        self._slow_timer = QTimer(self)
        self._slow_timer.setSingleShot(True)
        self._slow_timer.timeout.connect(self._on_slow_timer_timeout)

    @property
    def busy(self) -> bool:
        return self.current is not None

    @property
    def cancelling(self) -> bool:
        return self._cancelling

    def refusal(self) -> str | None:
        """Why a new job cannot start now, or None."""
        if self.current is None:
            return None
        return f"One job at a time: wait for “{self.current.title}” to finish, or cancel it."

    def start(self, job: Job) -> str | None:
        """Start `job`; returns None, or the reason it was refused (another job is running)."""
        reason = self.refusal()
        if reason is not None:
            log.info("Refused %s: %s", job.title, reason)
            return reason
        worker: ProcessJobWorker | FunctionWorker
        if job.call is not None:
            worker = FunctionWorker(job.call, name="tools-call", signals=JobSignals())  # quick work, done here
        else:
            env = dict(os.environ if self.env is None else self.env)
            env.setdefault("PYTHONUNBUFFERED", "1")
            worker = ProcessJobWorker(job, self.command, env)
        sig = worker.signals
        assert isinstance(sig, JobSignals)
        sig.reported.connect(self._on_reported)
        sig.logged.connect(self._on_logged)
        sig.finished.connect(self._on_finished)
        sig.errored.connect(self._on_errored)
        self.current, self._worker, self._cancelling = job, worker, False
        self.last_progress, self.started_at = None, time.monotonic()
        log.info("Job %d started: %s", job.id, job.title)
        self.busy_changed.emit(True)
        self.job_started.emit(job)
        worker.start(self.pool)
        return None

    def cancel(self) -> bool:
        """Ask the running job to stop; False if there is none."""
        if self._worker is None:
            return False
        if not self._cancelling:
            self._cancelling = True
            log.info("Cancelling %s", self.current.title if self.current else "?")
            self._worker.stop()
            self._slow_timer.start(self.SLOW_STOP_MS)
        return True

    def stop_now(self) -> None:
        """End the running job's process at once and tidy the folders it was building."""
        if self._worker is not None:
            self._cancelling = True
            self._worker.kill()

    def shutdown(self, timeout_ms: int = 1000) -> bool:
        """Cancel, wait up to `timeout_ms` for the job to stop, then end its process. True if nothing is left."""
        worker, job = self._worker, self.current
        if worker is None or job is None:
            return True
        worker.stop()
        if self.pool.waitForDone(max(1, timeout_ms)):
            return True
        log.info("Job %s still running %d ms after cancel: ending its process", job.title, timeout_ms)
        worker.kill()
        done = self.pool.waitForDone(int(KILL_GRACE_S * 1000))
        self._tidy(job, killed=True)
        return done

    # -- the worker's signals (GUI thread) ---------------------------------------------------------------------

    @Slot(object)
    def _on_reported(self, progress: Progress) -> None:
        if self.current is not None:
            self.last_progress = progress
            self.job_progressed.emit(self.current, progress)

    @Slot(str, str)
    def _on_logged(self, level: str, message: str) -> None:
        if self.current is not None:
            self.job_logged.emit(self.current, level, message)

    @Slot(object)
    def _on_finished(self, result: Any) -> None:
        job = self._end()
        if job is not None:
            log.info("Job %d finished: %s (%.1f s)", job.id, job.title, time.monotonic() - self.started_at)
            self.job_finished.emit(job, result)

    @Slot(object, str)
    def _on_errored(self, exc: BaseException, tb: str) -> None:
        worker = self._worker
        job = self._end()
        if job is None:
            return
        killed = bool(getattr(worker, "killed", False))
        if killed:
            self._tidy(job, killed=True)
        if isinstance(exc, Cancelled):
            log.info("Job %d cancelled: %s", job.id, job.title)
            self.job_cancelled.emit(job)
            return
        details = traceback_of(exc) or tb
        log.info("Job %d failed: %s: %s", job.id, job.title, exc)
        self.job_failed.emit(job, exc, details)

    def _end(self) -> Job | None:
        job, self.current, self._worker = self.current, None, None
        self._cancelling = False
        self._slow_timer.stop()
        if job is not None:
            self.busy_changed.emit(False)
        return job

    def _tidy(self, job: Job, *, killed: bool) -> None:
        if killed:
            for target in job.targets:
                removed = remove_temporaries(target)
                if removed:
                    log.info("Removed what the stopped job left: %s", ", ".join(map(str, removed)))

    def _on_slow_timer_timeout(self) -> None:
        if self.current is not None and self._cancelling:
            self.stopping_slow.emit(self.current)
