"""What the desktop app and a Model Tools job in a child process (`model_tools.jobs.child`) say to each other.

One JSON object per line.

    app -> job (stdin)    {"kind": "convert", "args": {...}}      the request, first line
                          cancel                                  stop at the next check (so does end of input)
    job -> app (stdout)   {"event": "progress", "stage", "done", "total", "unit", "message"}
                          {"event": "log", "level", "message"}
                          {"event": "finished", "result": {...}}
                          {"event": "failed", "error": {...}}     see `error_record`

Standard library and `runtime.errors` only: the app imports this module, never the job code itself.
"""

from __future__ import annotations

import builtins
import json
import sys
from typing import Any

from model_tools.jobs.progress import Progress
from model_tools.runtime import errors as runtime_errors
from model_tools.runtime.errors import Cancelled, GlimpseError

CANCEL = "cancel"
KINDS = ("convert", "import_converted", "quantize", "compare")


class JobFailedError(GlimpseError):
    """A job failed with an error that has no class on the app's side; `kind` names the original type."""

    def __init__(self, message: str, fix: str = "", kind: str = "") -> None:
        super().__init__(message, fix)
        self.kind = kind


def job_command() -> list[str]:
    """The command line that starts a job process (the app writes the request to its stdin)."""
    if getattr(sys, "frozen", False):  # a PyInstaller bundle: the app's own executable runs the job
        return [sys.executable, "--model-tools-job"]
    return [sys.executable, "-m", "model_tools.jobs.child"]


def encode(message: dict[str, Any] | str) -> str:
    """One line of the protocol (a request, an event, or the word `cancel`)."""
    if isinstance(message, str):
        return message + "\n"
    return json.dumps(message, ensure_ascii=False, default=str) + "\n"


def decode(line: str) -> dict[str, Any] | None:
    """An event or request, or None for a line that is not one (stray output of a library)."""
    line = line.strip()
    if not line.startswith("{"):
        return None
    try:
        data = json.loads(line)
    except ValueError:
        return None
    return data if isinstance(data, dict) and ("event" in data or "kind" in data) else None


def progress_event(p: Progress) -> dict[str, Any]:
    return {
        "event": "progress",
        "stage": p.stage,
        "done": p.done,
        "total": p.total,
        "unit": p.unit,
        "message": p.message,
    }


def progress_from(event: dict[str, Any]) -> Progress:
    return Progress(
        str(event.get("stage", "")),
        int(event.get("done") or 0),
        int(event.get("total") or 0),
        str(event.get("unit") or "steps"),
        str(event.get("message") or ""),
    )


def error_record(exc: BaseException, traceback_text: str = "") -> dict[str, Any]:
    """Everything the app needs to show `exc` as if it had happened in its own process."""
    record: dict[str, Any] = {
        "type": type(exc).__name__,
        "module": type(exc).__module__,
        "message": str(exc),
        "fix": "",
        "glimpse": isinstance(exc, GlimpseError),
        "cancelled": isinstance(exc, (Cancelled, KeyboardInterrupt)),
        "traceback": traceback_text,
    }
    if isinstance(exc, GlimpseError):
        record.update(message=exc.message, fix=exc.fix)
    if isinstance(exc, OSError):
        record.update(
            errno=exc.errno, strerror=exc.strerror, filename=str(exc.filename) if exc.filename else None
        )
    return record


def error_from_record(record: dict[str, Any]) -> BaseException:
    """The exception a `failed` event describes: runtime's own error classes and Python's OS errors come back
    as themselves, other Glimpse errors as `JobFailedError` with the same message and fix. The job's traceback
    is in `.remote_traceback`."""
    kind = str(record.get("type") or "Exception")
    message = str(record.get("message") or kind)
    fix = str(record.get("fix") or "")
    exc: BaseException
    if record.get("cancelled"):
        exc = Cancelled()
    elif record.get("glimpse"):
        cls = getattr(runtime_errors, kind, None)
        if (
            record.get("module") == runtime_errors.__name__
            and isinstance(cls, type)
            and issubclass(cls, GlimpseError)
            and cls is not Cancelled
        ):
            exc = cls(message, fix)
        else:
            exc = JobFailedError(message, fix, kind)
    elif record.get("module") == "builtins" and kind == "MemoryError":
        exc = MemoryError(message)
    elif (
        record.get("module") == "builtins"
        and isinstance(getattr(builtins, kind, None), type)
        and issubclass(getattr(builtins, kind), OSError)
    ):
        cls = getattr(builtins, kind)
        exc = (
            cls(record.get("errno"), record.get("strerror"), record.get("filename"))
            if record.get("strerror")
            else cls(message)
        )
    else:
        first = message.strip().splitlines()[0] if message.strip() else ""
        if str(record.get("module", "")).startswith("openvino") or "openvino" in message.lower():
            exc = JobFailedError(
                f"OpenVINO reported an error: {first or kind}", "Try another device (CPU always works).", kind
            )
        else:
            exc = JobFailedError(
                f"Something went wrong: {kind}{': ' + first if first else ''}.",
                "Try again; if it keeps happening, copy the details into a bug report.",
                kind,
            )
    exc.remote_traceback = str(record.get("traceback") or "")  # type: ignore[attr-defined]
    return exc
