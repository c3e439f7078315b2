"""Typed errors that carry the sentence a user reads and what to do about it."""

from __future__ import annotations


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
