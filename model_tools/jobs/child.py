"""One Model Tools job (download, convert, import, quantize, compare) in a process of its own, for the app.

    python -m model_tools.jobs.child     # request on stdin, events on stdout (see model_tools.jobs.wire)

Why a process and not a thread of the app: torch tracing, OpenVINO's converter and NNCF hold the GIL for
hundreds of milliseconds at a time, which would freeze the window; a process also hands its memory (a
model loaded in torch) back when the job ends, and keeps the app itself free of the training stack.

The jobs call the very functions the CLI calls, found in `requests.JOBS` (`convert.blip.convert`,
`library.store.import_converted`, `quantize.blip.quantize`, `measure.compare.compare`...); `run()` is the
in-process entry, `main()` the process one.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any, TextIO

from model_tools.jobs import progress as jobs
from model_tools.jobs import wire as job_wire
from model_tools.jobs.progress import NO_TOOLS_FIX, OnProgress, Progress, disable_telemetry
from model_tools.jobs.requests import Record, job_kind, kind_of
from model_tools.runtime.errors import Cancelled, GlimpseError

log = logging.getLogger("glimpse.job")

PROGRESS_EVERY_S = 0.05  # at most ~20 progress events a second reach the app (stage changes always do)
TOOLS_MODULES = {*jobs.TOOLS_MODULES, "datasets", "matplotlib"}


def job_function(kind: str) -> Callable[..., Record]:
    """The function that does job `kind` (imported here, in the job process: it may pull in torch)."""
    module, name = job_kind(kind).function.split(":")
    return getattr(importlib.import_module(module), name)  # type: ignore[no-any-return]


def run(
    request: Record,
    on_progress: OnProgress | None = None,
    cancel: threading.Event | None = None,
) -> Record:
    """Run the job `request` asks for here, in this process; returns its result. runs in: a worker thread."""
    kind = kind_of(request)
    missing = jobs.missing_tools() if job_kind(kind).needs_tools else []
    if missing:
        raise GlimpseError(
            f"This Glimpse has no model conversion tools ({', '.join(missing)} missing).", NO_TOOLS_FIX
        )
    try:
        function = job_function(kind)
        return function(request, on_progress=on_progress, cancel=cancel or threading.Event())
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.split(".")[0] in TOOLS_MODULES:
            raise GlimpseError(
                f"This Glimpse has no model conversion tools ({exc.name} is not installed).",
                NO_TOOLS_FIX,
            ) from exc
        raise


# -- the process ---------------------------------------------------------------------------------------------


class _Events:
    """Writes events to the app, one line each; progress is thinned out, but the latest always arrives."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.lock = threading.Lock()
        self.last_stage: str | None = None
        self.last_sent = 0.0
        self.pending: Progress | None = None
        self.closed = threading.Event()
        threading.Thread(target=self._flush_pending, name="glimpse-job-progress", daemon=True).start()

    def send(self, event: dict[str, Any]) -> None:
        with self.lock:
            try:
                self.out.write(job_wire.encode(event))
                self.out.flush()
            except (OSError, ValueError):  # the app went away; the job notices through stdin
                pass

    def progress(self, p: Progress) -> None:
        now = time.monotonic()
        with self.lock:
            due = (
                p.stage != self.last_stage
                or not p.total
                or p.done >= p.total
                or now - self.last_sent >= PROGRESS_EVERY_S
            )
            if not due:
                self.pending = p
                return
            self.pending, self.last_stage, self.last_sent = None, p.stage, now
        self.send(job_wire.progress_event(p))

    def _flush_pending(self) -> None:
        while not self.closed.wait(PROGRESS_EVERY_S):
            with self.lock:
                p, self.pending = self.pending, None
                if p is not None:
                    self.last_sent = time.monotonic()
            if p is not None:
                self.send(job_wire.progress_event(p))

    def close(self) -> None:
        self.closed.set()
        with self.lock:
            p, self.pending = self.pending, None
        if p is not None:
            self.send(job_wire.progress_event(p))


class _LogForwarder(logging.Handler):
    """Glimpse's own log lines (and other libraries' errors) go to the app's log view."""

    def __init__(self, events: _Events) -> None:
        super().__init__(logging.INFO)
        self.events = events

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno < logging.ERROR and not record.name.startswith("glimpse"):
            return
        try:
            self.events.send(
                {"event": "log", "level": record.levelname.lower(), "message": record.getMessage()}
            )
        except Exception:  # noqa: BLE001 - logging must never break the job
            pass


def _watch_stdin(stdin: TextIO, cancel: threading.Event) -> None:
    """`cancel` on a line saying so, or when the app closes our stdin (it quit or was killed)."""
    for line in stdin:
        if line.strip() == job_wire.CANCEL:
            break
    cancel.set()


def _protocol_stdout() -> TextIO:
    """Our own copy of stdout for events; file descriptor 1 (and sys.stdout) then point to stderr, so what a
    library prints can never be mistaken for an event."""
    fd = os.dup(sys.stdout.fileno())
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    sys.stdout = sys.stderr
    return os.fdopen(fd, "w", encoding="utf-8", buffering=1)


def main(argv: list[str] | None = None) -> int:
    """The job process: read the request, run it, report. Exit code 0 done, 1 failed, 130 cancelled."""
    out = _protocol_stdout()
    disable_telemetry()
    events = _Events(out)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("glimpse").setLevel(logging.INFO)
    logging.getLogger().addHandler(_LogForwarder(events))
    line = sys.stdin.readline()
    cancel = threading.Event()
    threading.Thread(
        target=_watch_stdin, args=(sys.stdin, cancel), name="glimpse-job-stdin", daemon=True
    ).start()
    # SIGTERM (and SIGINT) stop the job like a cancel: its half-made folder is removed on the way out.
    with jobs.stop_on_signals() as stop:
        try:
            result = run(job_wire.request_from(job_wire.decode(line)), events.progress, cancel)
        except BaseException as exc:  # noqa: BLE001 - every failure is reported to the app
            # Stopped by a signal: cancelled, whatever error a library made of the KeyboardInterrupt.
            error = Cancelled("Stopped.") if stop.signum is not None else exc
            events.close()
            events.send({"event": "failed", "error": job_wire.error_record(error, traceback.format_exc())})
            return 130 if isinstance(error, (Cancelled, KeyboardInterrupt)) else 1
    events.close()
    events.send(job_wire.finished_event(result))
    return 0


if __name__ == "__main__":
    code = main()
    sys.stderr.flush()
    os._exit(code)  # no waiting for library threads (NNCF, tokenizers) at exit: the result is out
