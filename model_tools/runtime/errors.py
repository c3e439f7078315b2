"""Typed errors that carry the sentence a user reads and what to do about it, and `explain`, which puts any
other exception into the same two sentences."""

from __future__ import annotations

from typing import NamedTuple


class GlimpseError(Exception):
    """Base error: `message` says what happened, `fix` what the user can do."""

    def __init__(self, message: str, fix: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix

    def __str__(self) -> str:
        return f"{self.message} {self.fix}".strip()


class ModelNotFoundError(GlimpseError):
    """No converted model where one was expected."""


class CorruptModelError(GlimpseError):
    """A model folder whose manifest or files do not check out."""


class ManifestError(CorruptModelError):
    """A manifest.json with a missing or malformed field (named in the message)."""


class UnsupportedModelError(GlimpseError):
    """A model folder whose kind of model the runtime cannot run (a chat model type VLMPipeline does not know)."""


class DeviceUnavailableError(GlimpseError):
    """A device OpenVINO does not report (unplugged GPU, typo...)."""


class ImageError(GlimpseError):
    """A file or buffer that cannot be read as a picture."""


class ConversionError(GlimpseError):
    """A source model that cannot be converted (not BLIP, no safetensors, unreachable...)."""


class Cancelled(GlimpseError):
    """A long job stopped because the user asked it to."""

    def __init__(self, message: str = "Cancelled.") -> None:
        super().__init__(message)


_OV_WHERE = "Exception from src/"  # how OpenVINO's C++ errors begin, one such line per level they passed


class Explanation(NamedTuple):
    """What a user reads about an error: `message` says what happened, `fix` what to do (may be empty)."""

    message: str
    fix: str

    def __str__(self) -> str:
        return f"{self.message} {self.fix}".strip()


def explain(exc: BaseException) -> Explanation:
    """The one place that puts any exception into words: for the window, the job wire and the CLI alike."""
    if isinstance(exc, GlimpseError):
        return Explanation(exc.message, exc.fix)
    if isinstance(exc, MemoryError):
        return Explanation(
            "Glimpse ran out of memory.", "Close other programs, or choose an INT8 or smaller model."
        )
    if isinstance(exc, PermissionError):
        return Explanation(
            f"Glimpse is not allowed to use {exc.filename or 'a file'}.", "Check the file's permissions."
        )
    if isinstance(exc, FileNotFoundError):
        return Explanation(
            f"{exc.filename or 'A file'} does not exist.", "Check the path, or choose another file."
        )
    if isinstance(exc, OSError):
        what = exc.strerror or str(exc)
        return Explanation(
            f"A file could not be read or written: {what}.", "Check the disk and the path, then try again."
        )
    text = str(exc).strip()
    openvino = type(exc).__module__.startswith("openvino") or "openvino" in text.lower()
    if openvino or text.startswith(_OV_WHERE):
        return Explanation(
            f"OpenVINO reported an error: {_openvino_reason(text) or type(exc).__name__}",
            "Try another device or precision (CPU always works).",
        )
    first = text.splitlines()[0] if text else ""
    return Explanation(
        f"Something went wrong: {type(exc).__name__}{': ' + first if first else ''}.",
        "Try again; if it keeps happening, copy the details into a bug report.",
    )


def _openvino_reason(text: str) -> str:
    """The line of an OpenVINO error that says what went wrong. Its C++ errors nest: lines saying where
    ("Exception from src/...cpp:84:", "Check '...' failed at ...") above the cause, on the last line."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        return ""
    return lines[-1] if lines[0].startswith(_OV_WHERE) else lines[0]


def is_user_mistake(exc: BaseException) -> bool:
    """An ordinary problem the user can fix (a damaged picture, a missing file), not a bug in Glimpse."""
    return isinstance(exc, (GlimpseError, FileNotFoundError, PermissionError))


def attach_traceback(exc: BaseException, text: str) -> BaseException:
    """Keep where `exc` was raised (a worker thread's or the job process's traceback, as text) for its report.

    The first traceback attached stays: it is the one nearest the cause.
    """
    if text and not traceback_of(exc):
        exc.glimpse_traceback = text  # type: ignore[attr-defined]
    return exc


def traceback_of(exc: BaseException) -> str:
    """The traceback `attach_traceback` kept for `exc`, or ""."""
    return str(getattr(exc, "glimpse_traceback", "") or "")
