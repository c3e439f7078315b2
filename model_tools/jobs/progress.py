"""What long jobs (download, convert, quantize, compare) report, and how they are stopped (`folders`: what they build)."""

from __future__ import annotations

import importlib.util
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from model_tools.runtime.errors import Cancelled
from model_tools.runtime.privacy import disable_telemetry  # noqa: F401  (entry points call it from here)


@dataclass(frozen=True)
class Progress:
    """One report: `done` of `total` `unit`s in `stage` (total 0: no count known)."""

    stage: str
    done: int = 0
    total: int = 0
    unit: str = "steps"
    message: str = ""


OnProgress = Callable[[Progress], None]


def report(on_progress: OnProgress | None, *args: object, **kwargs: object) -> None:
    if on_progress is not None:
        on_progress(Progress(*args, **kwargs))  # type: ignore[arg-type]


def check_cancel(cancel: threading.Event | None) -> None:
    """Raise `Cancelled` if the user asked to stop; call between steps of a long job."""
    if cancel is not None and cancel.is_set():
        raise Cancelled()


@dataclass
class StopSignal:
    """The signal that stopped a command-line job (`stop_on_signals`), None while none came."""

    signum: int | None = None


@contextmanager
def stop_on_signals() -> Iterator[StopSignal]:
    """While a command runs, Ctrl+C (SIGINT) and SIGTERM raise KeyboardInterrupt in the main thread, so the job
    unwinds and removes its half-made folder, and which signal came is remembered: a library that turns the
    KeyboardInterrupt into another error (OpenVINO's converter raises a RuntimeError) cannot hide it."""
    stop = StopSignal()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def on_signal(signum: int, frame: object) -> None:
        stop.signum = signum
        raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)


# What converting and quantizing need beyond the runtime: the `tools` extra, left out of the runtime bundle.
TOOLS_MODULES = ("torch", "transformers", "nncf", "safetensors", "huggingface_hub")
NO_TOOLS_FIX = (
    "Use the full Glimpse bundle, or install from source with the tools extra: pip install -e '.[tools]'."
)


def missing_tools() -> list[str]:
    """The conversion tools that are not installed here (none from source with the tools extra)."""
    return [name for name in TOOLS_MODULES if importlib.util.find_spec(name) is None]
