"""Files shipped with Glimpse: the app icon and the sample pictures."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from PySide6.QtGui import QIcon

from model_tools.runtime.paths import RESOURCES

ICONS = RESOURCES / "icons"
SAMPLES = RESOURCES / "samples"


@lru_cache(maxsize=1)
def app_icon() -> QIcon:
    icon = QIcon()
    for size in (16, 24, 32, 48, 64, 128, 256, 512):
        path = ICONS / f"glimpse-{size}.png"
        if path.is_file():
            icon.addFile(str(path))
    return icon


@dataclass(frozen=True)
class Sample:
    path: Path
    question: str

    @property
    def title(self) -> str:
        return self.path.stem.replace("-", " ").capitalize()


def samples() -> list[Sample]:
    """The sample pictures (with a question each) offered in the empty image panel."""
    try:
        index = json.loads((SAMPLES / "samples.json").read_text(encoding="utf-8"))
        found = [Sample(SAMPLES / item["file"], str(item.get("question", ""))) for item in index]
    except (OSError, ValueError, KeyError, TypeError):
        return []
    return [s for s in found if s.path.is_file()]
