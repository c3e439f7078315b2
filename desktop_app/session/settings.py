"""What Glimpse remembers between runs, as plain JSON in the user's config folder.

    <config dir>/settings.json

A file that cannot be read is put aside (settings.json.bad) and replaced by the defaults with a notice;
a value of the wrong type falls back to its default alone.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from model_tools.runtime import paths
from model_tools.runtime.files import atomic_write_json
from model_tools.runtime.model_folder import PRECISIONS

log = logging.getLogger("glimpse.app.settings")

FILE_NAME = "settings.json"
VERSION = 1
MAX_RECENT = 10


@dataclass
class Settings:
    model: str | None = None  # folder of the last model used
    precision: str = "fp16"
    device: str = "CPU"
    max_new_tokens: int = 30
    num_beams: int = 1
    chat_max_new_tokens: int = 256  # a chat model's answers are sentences: their own limit
    chat_image_side: int = 0  # longest picture side sent to a chat model that takes any size (0: full size)
    geometry: str = ""  # QMainWindow.saveGeometry(), base64
    window_state: str = ""  # QMainWindow.saveState(), base64
    splitter: str = ""  # the image/chat splitter, base64
    recent_files: list[str] = field(default_factory=list)
    read_aloud: bool = False
    exact_precision: bool = False  # every part from the chosen precision's own files, at full precision
    segment_model: str | None = None  # folder of the Segment tool's model (beside the model asked)

    def add_recent(self, path: str | os.PathLike[str]) -> None:
        text = str(Path(path))
        self.recent_files = [text, *[p for p in self.recent_files if p != text]][:MAX_RECENT]

    def to_dict(self) -> dict[str, Any]:
        return {"version": VERSION, **asdict(self)}


def settings_file() -> Path:
    return paths.config_dir() / FILE_NAME


def _valid(name: str, value: Any) -> bool:
    if name in ("model", "segment_model"):
        return value is None or (isinstance(value, str) and bool(value))
    if name == "precision":
        return value in PRECISIONS
    if name == "device":
        return isinstance(value, str) and bool(value.strip())
    if name == "max_new_tokens":
        return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 512
    if name == "chat_max_new_tokens":
        return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 4096
    if name == "chat_image_side":
        return isinstance(value, int) and not isinstance(value, bool) and (value == 0 or 16 <= value <= 8192)
    if name == "num_beams":
        return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 8
    if name in ("geometry", "window_state", "splitter"):
        return isinstance(value, str)
    if name == "recent_files":
        return isinstance(value, list) and all(isinstance(p, str) for p in value)
    if name in ("read_aloud", "exact_precision"):
        return isinstance(value, bool)
    return False


def load_settings(path: Path | None = None) -> tuple[Settings, str | None]:
    """The saved settings and, when the file had to be replaced by defaults, a notice saying so."""
    path = path or settings_file()
    if not path.exists():
        return Settings(), None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ValueError("the file does not hold a JSON object")
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        log.warning("Settings file %s unreadable: %s", path, exc)
        kept = _put_aside(path)
        notice = f"Your settings could not be read ({_short(exc)}), so Glimpse started with the defaults."
        if kept:
            notice += f" The old file was kept as {kept.name}."
        return Settings(), notice
    settings = Settings()
    for f in fields(Settings):
        if f.name in data:
            if _valid(f.name, data[f.name]):
                setattr(settings, f.name, data[f.name])
            else:
                log.warning("Setting %s=%r is not valid; using the default", f.name, data[f.name])
    settings.recent_files = settings.recent_files[:MAX_RECENT]
    return settings, None


def save_settings(settings: Settings, path: Path | None = None) -> None:
    """Write atomically (readers see the old file or the new one). Raises OSError if the folder is read-only."""
    path = path or settings_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(path, settings.to_dict())


def _put_aside(path: Path) -> Path | None:
    target = path.with_name(path.name + ".bad")
    try:
        os.replace(path, target)
        return target
    except OSError:
        try:
            path.unlink()
        except OSError:
            pass
        return None


def _short(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text if len(text) < 120 else text[:117] + "..."
