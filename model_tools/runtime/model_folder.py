"""A converted model folder: its manifest, and checks that refuse a damaged folder before loading it.

    <name>/manifest.json  tokenizer.json  fp16/*.xml|.bin  int8/*.xml|.bin
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from model_tools.runtime import paths
from model_tools.runtime.errors import CorruptModelError, ModelNotFoundError
from model_tools.runtime.files import atomic_write_json
from model_tools.runtime.manifest import FORMAT_VERSION, MANIFEST, Manifest  # noqa: F401 (FORMAT_VERSION: for the writers)

if TYPE_CHECKING:
    from model_tools.runtime.text import BlipTokenizer

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
    atomic_write_json(path, data)


@dataclass
class ConvertedModel:
    """A model folder and its manifest: `manifest` as parsed JSON (every field), `spec` checked and typed."""

    path: Path
    manifest: dict[str, Any]
    spec: Manifest
    _tokenizer: BlipTokenizer | None = field(default=None, repr=False, compare=False)

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
        except (OSError, ValueError) as exc:
            raise CorruptModelError(f"{root.name}/{MANIFEST} is unreadable ({exc}).", "Convert the model again.") from None
        return cls(root, manifest, Manifest.from_json(manifest, root))

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def task(self) -> str:
        return self.spec.task

    @property
    def precisions(self) -> list[str]:
        return [p for p in PRECISIONS if p in self.spec.precisions]

    def has(self, precision: str) -> bool:
        return precision in self.spec.precisions

    def size_on_disk(self) -> int:
        """Bytes used by the model folder."""
        return sum(p.stat().st_size for p in self.path.rglob("*") if p.is_file())

    def xml(self, precision: str, component: str) -> Path:
        return self.path / precision / f"{component}.xml"

    def verify(self, precision: str) -> None:
        """Refuse a folder with a missing, truncated or altered file, or a tokenizer that does not load.

        Sizes are checked every time; sha256 once per file version (a stamp in the cache dir remembers it).
        """
        if precision not in PRECISIONS:
            raise ValueError(f"Unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}.")
        if not self.has(precision):
            hint = "Make it with `model-tools quantize`." if precision == "int8" else "Convert the model again."
            raise ModelNotFoundError(f"{self.name} has no {precision.upper()} version.", hint)
        files = {**self.spec.files, **self.spec.precisions[precision].files}
        fix = _remake(precision)
        for part in components(self.task):
            for ext in ("xml", "bin"):
                if f"{precision}/{part}.{ext}" not in files:
                    raise CorruptModelError(f"{self.name}: {MANIFEST} does not list {precision}/{part}.{ext}.", fix)
        stamps = _Stamps.load()
        for rel, rec in files.items():
            fix = _remake(rel.split("/")[0])
            path = self.path / rel
            if not path.is_file():
                raise CorruptModelError(f"{self.name} is missing {rel}.", fix)
            stat = path.stat()
            if stat.st_size != rec.size:
                raise CorruptModelError(
                    f"{self.name}: {rel} is {stat.st_size} bytes, expected {rec.size} (truncated or altered).", fix
                )
            key = str(path.resolve())
            stamp = _Stamps.stamp(stat, rec.sha256)
            if stamps.get(key) == stamp:
                continue
            if sha256_file(path) != rec.sha256:
                raise CorruptModelError(f"{self.name}: {rel} does not match its checksum (altered or damaged).", fix)
            stamps[key] = stamp
        _Stamps.save(stamps)
        self._tokenizer = self._load_tokenizer()

    def tokenizer(self) -> BlipTokenizer:
        """The model's tokenizer: the one `verify` loaded, or loaded now."""
        if self._tokenizer is None:
            self._tokenizer = self._load_tokenizer()
        return self._tokenizer

    def _load_tokenizer(self) -> BlipTokenizer:
        from model_tools.runtime.text import (
            BlipTokenizer,  # imports `tokenizers`: only when a model is checked or used
        )

        path = self.path / TOKENIZER
        try:
            return BlipTokenizer(path, self.spec.text.max_question_tokens, self.spec.tokens.ids)
        except Exception as exc:  # `tokenizers` raises a bare Exception for a file it cannot read
            reason = (str(exc).splitlines() or [type(exc).__name__])[0]
            raise CorruptModelError(
                f"{self.name}: {TOKENIZER} is not a usable tokenizer ({reason}); the model is damaged.",
                "Convert the model again.",
            ) from None


def _remake(folder: str) -> str:
    """What rebuilds a file of `folder`: INT8 files come from quantizing, the rest from converting."""
    return "Quantize it again (`model-tools quantize`)." if folder == "int8" else "Convert the model again."


class _Stamps:
    """Checksums already verified, keyed by file path; a stamp holds the file's size, mtime, inode and ctime.

    Any of them changing means checking the checksum again: ctime catches a file rewritten in place with its
    size kept and its mtime put back (`os.utime`, `touch -r`), inode a file replaced by another.
    """

    _lock = threading.Lock()

    @staticmethod
    def stamp(stat: os.stat_result, sha256: str) -> list[Any]:
        return [stat.st_size, stat.st_mtime_ns, stat.st_ino, stat.st_ctime_ns, sha256]

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
