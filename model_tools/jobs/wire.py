"""What the desktop app and a Model Tools job in a child process (`model_tools.jobs.child`) say to each other.

One JSON object per line.

    app -> job (stdin)    {"kind": "convert", "request": {...}}   the request (`request_message`), first line
                          cancel                                  stop at the next check (so does end of input)
    job -> app (stdout)   {"event": "progress", "stage", "done", "total", "unit", "message"}
                          {"event": "log", "level", "message"}
                          {"event": "finished", "result": {...}}  the result, rebuilt by `result_from`
                          {"event": "failed", "error": {...}}     see `error_record`

Requests and results are the dataclasses of `model_tools.jobs.requests`, sent as `asdict` and rebuilt on
the other side. Standard library, `runtime` and `jobs.requests` only: the app imports this module, never the
job code itself.
"""

from __future__ import annotations

import builtins
import json
import sys
from typing import Any

from model_tools.jobs.progress import Progress
from model_tools.jobs.requests import BadRequestError, Record, job_kind, kind_of
from model_tools.runtime import errors as runtime_errors
from model_tools.runtime.errors import Cancelled, GlimpseError, attach_traceback, explain

CANCEL = "cancel"


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


def request_message(request: Record) -> dict[str, Any]:
    """The first line the app sends: which job, and its options as plain data."""
    return {"kind": kind_of(request), "request": request.to_dict()}


def request_from(message: dict[str, Any] | None) -> Record:
    """The request a `request_message` carries; BadRequestError (a clear sentence) for anything else."""
    if not isinstance(message, dict) or not isinstance(message.get("request"), dict):
        raise BadRequestError("The job request is not one: it needs a kind and its options.")
    return job_kind(str(message.get("kind"))).request.from_dict(message["request"])


def finished_event(result: Record) -> dict[str, Any]:
    return {"event": "finished", "result": result.to_dict()}


def result_from(kind: str, data: dict[str, Any]) -> Record:
    """The result of job `kind` a `finished` event carries."""
    return job_kind(kind).result.from_dict(data)


def error_record(exc: BaseException, traceback_text: str = "") -> dict[str, Any]:
    """Everything the app needs to show `exc` as if it had happened in its own process: what rebuilds it
    (runtime's errors, Python's OS errors) and its explanation, put into words here, where its type is known.
    """
    explanation = explain(exc)
    record: dict[str, Any] = {
        "type": type(exc).__name__,
        "module": type(exc).__module__,
        "message": str(exc),
        "fix": "",
        "explanation": {"message": explanation.message, "fix": explanation.fix},
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
    as themselves, any other error as `JobFailedError` with the words `explain` found for it in the job. The
    job's traceback is attached (`runtime.errors.traceback_of`)."""
    kind = str(record.get("type") or "Exception")
    message = str(record.get("message") or kind)
    fix = str(record.get("fix") or "")
    explanation = record.get("explanation") or {}
    exc: BaseException
    cls = getattr(runtime_errors, kind, None)
    builtin = getattr(builtins, kind, None) if record.get("module") == "builtins" else None
    if record.get("cancelled"):
        exc = Cancelled()
    elif (
        record.get("glimpse")
        and record.get("module") == runtime_errors.__name__
        and isinstance(cls, type)
        and issubclass(cls, GlimpseError)
        and cls is not Cancelled
    ):
        exc = cls(message, fix)
    elif builtin is MemoryError:
        exc = MemoryError(message)
    elif isinstance(builtin, type) and issubclass(builtin, OSError):
        exc = (
            builtin(record.get("errno"), record.get("strerror"), record.get("filename"))
            if record.get("strerror")
            else builtin(message)
        )
    else:
        exc = JobFailedError(
            str(explanation.get("message") or message), str(explanation.get("fix") or fix), kind
        )
    attach_traceback(exc, str(record.get("traceback") or ""))
    return exc
