"""A converted model folder: its manifest, and checks that refuse a damaged folder before loading it.

    <name>/manifest.json  tokenizer.json  fp16/*.xml|.bin  int8/*.xml|.bin
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import paths
from .errors import CorruptModelError, ModelNotFoundError

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
TOKENIZER = "tokenizer.json"
PRECISIONS = ("fp16", "int8")

VISION = "vision_model"
TEXT_ENCODER = "text_encoder"
DECODER = "text_decoder"
CROSS_KV = "text_decoder_cross_kv"  # projects encoder states to each decoder layer's cross-attention K/V, once


def components(task: str) -> list[str]:
    """The model parts a task needs, in the order they run."""
    return [VISION, TEXT_ENCODER, CROSS_KV, DECODER] if task == "vqa" else [VISION, CROSS_KV, DECODER]


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_record(root: Path, rel: str) -> dict[str, Any]:
    path = root / rel
    return {"size": path.stat().st_size, "sha256": sha256_file(path)}


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON next to `path`, then rename over it: readers see the old or the new file, never half."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)


@dataclass
class ConvertedModel:
    """A model folder and its parsed manifest."""

    path: Path
    manifest: dict[str, Any]

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> ConvertedModel:
        root = Path(path)
        if not root.is_dir():
            raise ModelNotFoundError(f"No model folder at {root}.", "Convert a model or pick one from the list.")
        mpath = root / MANIFEST
        if not mpath.is_file():
            raise CorruptModelError(
                f"{root.name} has no {MANIFEST}, so it is not a converted Glimpse model.",
                "Convert it with `model-tools convert`.",
            )
        try:
            manifest = json.loads(mpath.read_text(encoding="utf-8"))
            version = manifest["format_version"]
            manifest["task"], manifest["tokens"], manifest["image"], manifest["precisions"]  # noqa: B018
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise CorruptModelError(f"{root.name}/{MANIFEST} is unreadable ({exc}).", "Convert the model again.") from None
        if version != FORMAT_VERSION:
            raise CorruptModelError(
                f"{root.name} was made by another version of Glimpse (format {version}).", "Convert it again."
            )
        return cls(root, manifest)

    @property
    def name(self) -> str:
        return str(self.manifest.get("name") or self.path.name)

    @property
    def task(self) -> str:
        return str(self.manifest["task"])

    @property
    def precisions(self) -> list[str]:
        return [p for p in PRECISIONS if p in self.manifest["precisions"]]

    def has(self, precision: str) -> bool:
        return precision in self.manifest["precisions"]

    def xml(self, precision: str, component: str) -> Path:
        return self.path / precision / f"{component}.xml"

    def verify(self, precision: str) -> None:
        """Refuse a folder with a missing, truncated or altered file, naming the file.

        Sizes are checked every time; sha256 once per file version (a stamp in the cache dir remembers it).
        """
        if precision not in PRECISIONS:
            raise ValueError(f"Unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}.")
        if not self.has(precision):
            hint = "Make it with `model-tools quantize`." if precision == "int8" else "Convert the model again."
            raise ModelNotFoundError(f"{self.name} has no {precision.upper()} version.", hint)
        files = dict(self.manifest.get("files", {}))
        files.update(self.manifest["precisions"][precision]["files"])
        stamps = _Stamps.load()
        for rel, rec in files.items():
            path = self.path / rel
            if not path.is_file():
                raise CorruptModelError(f"{self.name} is missing {rel}.", "Convert the model again.")
            stat = path.stat()
            if stat.st_size != rec["size"]:
                raise CorruptModelError(
                    f"{self.name}: {rel} is {stat.st_size} bytes, expected {rec['size']} (truncated or altered).",
                    "Convert the model again.",
                )
            key = str(path.resolve())
            stamp = [stat.st_size, stat.st_mtime_ns, rec["sha256"]]
            if stamps.get(key) == stamp:
                continue
            if sha256_file(path) != rec["sha256"]:
                raise CorruptModelError(
                    f"{self.name}: {rel} does not match its checksum (altered or damaged).", "Convert the model again."
                )
            stamps[key] = stamp
        _Stamps.save(stamps)


class _Stamps:
    """Checksums already verified, keyed by file path, size and mtime."""

    _lock = threading.Lock()

    @staticmethod
    def _file() -> Path:
        return paths.cache_dir() / "verified.json"

    @classmethod
    def load(cls) -> dict[str, Any]:
        try:
            data = json.loads(cls._file().read_text(encoding="utf-8"))
            return data if isinstance(data, dict) else {}
        except (OSError, ValueError):
            return {}

    @classmethod
    def save(cls, stamps: dict[str, Any]) -> None:
        with cls._lock:
            try:
                write_json_atomic(cls._file(), stamps)
            except OSError:
                pass  # a read-only cache only costs a re-check next time
