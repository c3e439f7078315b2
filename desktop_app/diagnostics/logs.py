"""One rotating log file for the runtime, the tools and the window, plus `faulthandler` for hard crashes.

<log dir>/glimpse.log      (rotated at 1 MB, 3 old files kept)
<log dir>/crash.log        (Python tracebacks of every thread on a segfault or abort)
"""

from __future__ import annotations

import faulthandler
import logging
import logging.handlers
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import IO

from PySide6.QtCore import QtMsgType, qInstallMessageHandler

from model_tools.runtime import paths

log = logging.getLogger("glimpse.app")

LOG_NAME = "glimpse.log"
CRASH_NAME = "crash.log"
FORMAT = "%(asctime)s %(levelname)-7s %(threadName)s %(name)s: %(message)s"

_crash_file: IO[str] | None = None
_handler: logging.Handler | None = None

ExceptionSink = Callable[[BaseException], None]
_sink: ExceptionSink | None = None


def log_file() -> Path:
    return paths.log_dir() / LOG_NAME


def setup_logging(level: int = logging.INFO) -> Path:
    """Send every logger (glimpse.*, openvino's, Qt's messages) to the rotating file; idempotent."""
    global _handler, _crash_file
    path = log_file()
    root = logging.getLogger()
    if _handler is None:
        _handler = logging.handlers.RotatingFileHandler(
            path, maxBytes=1_000_000, backupCount=3, encoding="utf-8"
        )
        _handler.setFormatter(logging.Formatter(FORMAT))
        root.addHandler(_handler)
    root.setLevel(level)
    if _crash_file is None:
        try:
            _crash_file = open(paths.log_dir() / CRASH_NAME, "a", encoding="utf-8")  # noqa: SIM115 - kept open
            faulthandler.enable(file=_crash_file, all_threads=True)
        except OSError as exc:
            log.warning("faulthandler not enabled: %s", exc)
    qInstallMessageHandler(_qt_message)
    sys.excepthook = _excepthook
    threading.excepthook = _thread_excepthook
    return path


def set_exception_sink(sink: ExceptionSink | None) -> None:
    """Where uncaught exceptions go after being logged (the window shows them in the error presenter)."""
    global _sink
    _sink = sink


def _qt_message(mode: QtMsgType, context: object, message: str) -> None:
    level = {
        QtMsgType.QtDebugMsg: logging.DEBUG,
        QtMsgType.QtInfoMsg: logging.INFO,
        QtMsgType.QtWarningMsg: logging.WARNING,
        QtMsgType.QtCriticalMsg: logging.ERROR,
        QtMsgType.QtFatalMsg: logging.CRITICAL,
    }.get(mode, logging.WARNING)
    logging.getLogger("glimpse.qt").log(level, "%s", message)


def _excepthook(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
    """Uncaught exceptions (in Qt slots too) are logged and shown, never silent. runs in: GUI thread."""
    if issubclass(kind, KeyboardInterrupt):
        sys.__excepthook__(kind, exc, tb)
        return
    log.error("Uncaught exception", exc_info=(kind, exc, tb))
    if _sink is not None:
        try:
            _sink(exc)
        except Exception:  # the presenter itself failed: the log still has it
            log.exception("The error presenter failed")
    else:
        sys.__excepthook__(kind, exc, tb)


def _thread_excepthook(args: threading.ExceptHookArgs) -> None:
    """runs in: the thread that failed; only logs (widgets belong to the GUI thread)."""
    log.error(
        "Uncaught exception in thread %s",
        args.thread.name if args.thread else "?",
        exc_info=(args.exc_type, args.exc_value, args.exc_traceback),  # type: ignore[arg-type]
    )
