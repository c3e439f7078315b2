"""A converted model folder: its manifest, and checks that refuse a damaged folder before loading it.

    BLIP:  <name>/manifest.json  tokenizer.json  fp16/<part>.xml|.bin  int8/<part>.xml|.bin
    chat:  <name>/manifest.json  fp16/ int8/ int4/, each a complete VLMPipeline folder:
           openvino_<part>.xml|.bin, openvino_tokenizer / openvino_detokenizer .xml|.bin, the three configs
    segment: <name>/manifest.json  fp16/openvino_image_encoder.xml|.bin  fp16/openvino_prompt_decoder.xml|.bin
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
from model_tools.runtime.families import FAMILIES
from model_tools.runtime.files import atomic_write_json
from model_tools.runtime.manifest import FORMAT_VERSION, MANIFEST, Manifest  # noqa: F401 (FORMAT_VERSION: for the writers)

if TYPE_CHECKING:
    from model_tools.runtime.text import BlipTokenizer

TOKENIZER = "tokenizer.json"
PRECISIONS = ("fp16", "int8", "int4")  # every precision folder any family has (each family's: `Family.precisions`)

VISION = "vision_model"
TEXT_ENCODER = "text_encoder"
DECODER = "text_decoder"
CROSS_KV = "text_decoder_cross_kv"  # projects encoder states to each decoder layer's cross-attention K/V, once


# The chat family: the parts VLMPipeline reads (as openvino_<part>.xml), its tokenizers and configs.
CHAT_VISION, CHAT_TEXT_EMBEDDINGS, CHAT_LANGUAGE = "vision_embeddings_model", "text_embeddings_model", "language_model"
CHAT_PARTS = (CHAT_VISION, CHAT_TEXT_EMBEDDINGS, CHAT_LANGUAGE)
CHAT_TOKENIZERS = ("openvino_tokenizer", "openvino_detokenizer")
CHAT_CONFIGS = ("config.json", "generation_config.json", "preprocessor_config.json")

# The segment family (Segment Anything): the encoder runs once per picture, the prompt decoder once per click.
SEGMENT_ENCODER, SEGMENT_DECODER = "image_encoder", "prompt_decoder"
SEGMENT_PARTS = (SEGMENT_ENCODER, SEGMENT_DECODER)


def components(task: str) -> list[str]:
    """The model parts a task needs, in the order they run ("chat": a chat model's three parts; "segment":
    the image encoder and the prompt decoder)."""
    if task == "chat":
        return list(CHAT_PARTS)
    if task == "segment":
        return list(SEGMENT_PARTS)
    return [VISION, TEXT_ENCODER, CROSS_KV, DECODER] if task == "vqa" else [VISION, CROSS_KV, DECODER]


def part_file(family: str, precision: str, part: str, ext: str = "xml") -> str:
    """The path of one part's file inside a model folder of `family` ("fp16/openvino_language_model.xml")."""
    return f"{precision}/openvino_{part}.{ext}" if family in ("chat", "segment") else f"{precision}/{part}.{ext}"


def required_files(family: str, task: str, precision: str) -> list[str]:
    """The files a precision folder must have (and its manifest list) for the family's pipeline to run."""
    parts = [part_file(family, precision, part, ext) for part in components(task) for ext in ("xml", "bin")]
    if family == "chat":
        parts += [f"{precision}/{name}.{ext}" for name in CHAT_TOKENIZERS for ext in ("xml", "bin")]
        parts += [f"{precision}/{name}" for name in CHAT_CONFIGS]
    return parts


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
    def family_precisions(self) -> tuple[str, ...]:
        """The precisions a model of this family may have, in order (BLIP: fp16, int8; chat: and int4)."""
        return FAMILIES[self.spec.family].precisions

    @property
    def precisions(self) -> list[str]:
        """The precisions this folder has."""
        return [p for p in self.family_precisions if p in self.spec.precisions]

    def has(self, precision: str) -> bool:
        return precision in self.family_precisions and precision in self.spec.precisions

    def size_on_disk(self) -> int:
        """Bytes used by the model folder."""
        return sum(p.stat().st_size for p in self.path.rglob("*") if p.is_file())

    def xml(self, precision: str, component: str) -> Path:
        return self.path / part_file(self.spec.family, precision, component)

    def verify(self, precision: str) -> None:
        """Refuse a folder with a missing, truncated or altered file, or (BLIP) a tokenizer that does not load.

        Every file the family's pipeline needs must be listed in the manifest; every listed file is checked.
        Sizes are checked every time; sha256 once per file version (a stamp in the cache dir remembers it).
        """
        known = self.family_precisions
        if precision not in known:
            raise ValueError(f"Unknown precision {precision!r}; choose one of {', '.join(known)}.")
        if not self.has(precision):
            hint = "Convert the model again." if precision == "fp16" else "Make it with `model-tools quantize`."
            raise ModelNotFoundError(f"{self.name} has no {precision.upper()} version.", hint)
        files = {**self.spec.files, **self.spec.precisions[precision].files}
        fix = _remake(precision)
        for rel in required_files(self.spec.family, self.task, precision):
            if rel not in files:
                raise CorruptModelError(f"{self.name}: {MANIFEST} does not list {rel}.", fix)
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
        if self.spec.family == "blip":
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
    """What rebuilds a file of `folder`: INT8 and INT4 files come from quantizing, the rest from converting."""
    if folder in ("int8", "int4"):
        return "Quantize it again (`model-tools quantize`)."
    return "Convert the model again."


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
