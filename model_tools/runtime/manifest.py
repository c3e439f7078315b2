"""The manifest of a converted model folder, checked field by field and turned into typed values.

`Manifest.from_json` refuses a manifest with a missing or malformed field, naming the field and the folder,
so that nothing later fails with a `KeyError` or a `TypeError`. It reads the JSON that `model-tools convert`
and `quantize` write (format 1); fields it does not know are kept only in the raw dict
(`ConvertedModel.manifest`). The `family` field names the kind of model (`families`); manifests written
before it existed are BLIP models.

What is common to every family (name, source, files and checksums per precision) is a field of `Manifest`;
what belongs to one family is its own section, checked only for that family: `blip` (task, token ids, image
and text sizes), `chat` (the config's model type, the architecture, the picture settings if known) and
`segment` (the picture settings, the resize-and-pad rule, the masks' size and threshold).
`Manifest.task`, `.tokens`, `.text` and `.image` read the BLIP section, as the BLIP code always has; `task`
is "chat" for a chat model, and asking a chat model for BLIP's token ids is a `ManifestError`, never a
half-filled value.
"""

from __future__ import annotations

import math
import string
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path, PurePosixPath
from typing import Any

from model_tools.runtime.errors import CorruptModelError, ManifestError
from model_tools.runtime.families import DEFAULT_FAMILY, family_of

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
TASKS = ("vqa", "caption")


@dataclass(frozen=True)
class FileRecord:
    size: int
    sha256: str


@dataclass(frozen=True)
class Tokens:
    decoder_start: int  # [DEC], the first token of every answer
    end: int  # [SEP]
    pad: int

    @property
    def ids(self) -> set[int]:
        return {self.decoder_start, self.end, self.pad}


@dataclass(frozen=True)
class ImageSpec:
    size: tuple[int, int]  # height, width
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    resample: str = "bicubic"


@dataclass(frozen=True)
class TextSpec:
    layers: int
    heads: int
    head_dim: int
    vocab_size: int
    max_positions: int
    max_question_tokens: int


@dataclass(frozen=True)
class PrecisionSpec:
    files: Mapping[str, FileRecord]  # path in the folder -> record
    weight_modes: Mapping[str, str] = field(default_factory=dict)  # part -> "int8_asym", "int4_sym"... as quantized
    made: Mapping[str, Any] = field(default_factory=dict)  # how it was made (calibration, parts...), for display


@dataclass(frozen=True)
class BlipSpec:
    """What only a BLIP model's manifest holds."""

    task: str  # vqa | caption
    tokens: Tokens
    image: ImageSpec
    text: TextSpec


@dataclass(frozen=True)
class ChatSpec:
    """What only a chat model's manifest holds."""

    model_type: str  # config.json's model_type ("llava", "llava_next", "internvl_chat"...): what VLMPipeline runs
    architecture: str = ""  # "LlavaForConditionalGeneration"; "" for a downloaded OpenVINO model
    image: ImageSpec | None = None  # the picture size and normalisation, where the converter knew them
    source_revision: str | None = None


@dataclass(frozen=True)
class SegmentSpec:
    """What only a segment (Segment Anything) model's manifest holds: how a picture becomes the encoder's input
    and what the decoder's masks are.

    A picture is resized (`image.resample`) so that its longer side is `longest_side`, normalised with
    `image.mean` / `image.std` (on 0..1 values), and padded with zeros at the bottom and right to the square
    `image.size`; point and box coordinates are scaled by the same factors. The decoder gives `masks` low-res
    mask logits of `mask_size` per prompt (SAM's multimask output); a pixel is inside where the logit, upsampled
    to the picture, is above `mask_threshold`.
    """

    image: ImageSpec  # size: the padded square the encoder takes (S x S, 1024 for SAM)
    longest_side: int  # S: a picture's longer side is resized to this
    mask_size: tuple[int, int]  # the low-res masks (S/4: 256 x 256 for SAM)
    embedding: tuple[int, int, int]  # image_embeddings without the batch: (channels, S/16, S/16)
    masks: int = 3  # masks per prompt
    mask_threshold: float = 0.0
    model_type: str = "sam"


@dataclass(frozen=True)
class Manifest:
    format_version: int
    name: str
    files: Mapping[str, FileRecord]  # files every precision needs (BLIP: tokenizer.json; chat: none)
    precisions: Mapping[str, PrecisionSpec]
    family: str = DEFAULT_FAMILY
    source_id: str = ""  # the Hugging Face id or folder it was converted from ("" if unknown)
    demo: bool = False  # a bundled demo model, which knows only its synthetic pictures
    caption_model: str | None = None  # a captioning model to describe pictures with, relative to the folder
    blip: BlipSpec | None = None  # set for the blip family
    chat: ChatSpec | None = None  # set for the chat family
    segment: SegmentSpec | None = None  # set for the segment family

    @property
    def task(self) -> str:
        """What the model does: "vqa" or "caption" for BLIP, "chat" for a chat model."""
        return self.blip.task if self.blip is not None else self.family

    @property
    def tokens(self) -> Tokens:
        return self._blip("tokens").tokens

    @property
    def text(self) -> TextSpec:
        return self._blip("text").text

    @property
    def image(self) -> ImageSpec:
        """The picture size and normalisation (BLIP's, a segment model's padded square; a chat model's where its
        manifest has them)."""
        if self.blip is not None:
            return self.blip.image
        if self.segment is not None:
            return self.segment.image
        if self.chat is not None and self.chat.image is not None:
            return self.chat.image
        raise ManifestError(f"{self.name}: its manifest has no image section.", "Convert the model again.")

    def _blip(self, what: str) -> BlipSpec:
        if self.blip is None:
            raise ManifestError(f"{self.name} is a {self.family} model: it has no BLIP {what}.")
        return self.blip

    @classmethod
    def from_json(cls, data: Any, folder: Path) -> Manifest:
        """The manifest of `folder` from its parsed JSON; a `ManifestError` names the first bad field."""
        r = _Reader(folder)
        if not isinstance(data, dict):
            raise r.error("", f"should be a JSON object, not {_kind(data)}")
        version = r.integer(data, "format_version", minimum=0)
        if version != FORMAT_VERSION:
            raise CorruptModelError(
                f"{folder.name} was made by another version of Glimpse (format {version}).", "Convert it again."
            )
        family = data.get("family", DEFAULT_FAMILY)
        if not isinstance(family, str):
            raise r.error("family", f"should be text, not {_kind(family)}")
        family_of(family, folder)  # a kind of model this version cannot run is refused before its fields
        name = data.get("name") or folder.name
        if not isinstance(name, str):
            raise r.error("name", f"should be text, not {_kind(name)}")
        blip = _blip_spec(r, data) if family == "blip" else None
        chat = _chat_spec(r, data) if family == "chat" else None
        segment = _segment_spec(r, data) if family == "segment" else None
        precisions = {}
        for key in r.section(data, "precisions"):
            entry = r.section(data["precisions"], key, "precisions.")
            files = r.section(entry, "files", f"precisions.{key}.")
            made = {k: v for k, v in entry.items() if k != "files"}
            precisions[key] = PrecisionSpec(r.files(files, f"precisions.{key}.files"), _weight_modes(made), made)
        shared = r.files(r.section(data, "files") if "files" in data else {}, "files")
        source = data.get("source")
        source_id = source.get("id") if isinstance(source, dict) else None
        caption_model = data.get("caption_model")
        return cls(
            version, name, shared, precisions, family,
            source_id=str(source_id or ""),
            demo=bool(data.get("demo")),
            caption_model=caption_model if isinstance(caption_model, str) and caption_model else None,
            blip=blip,
            chat=chat,
            segment=segment,
        )


def _blip_spec(r: _Reader, data: dict[str, Any]) -> BlipSpec:
    task = r.field(data, "task")
    if task not in TASKS:
        raise r.error("task", f"should be one of {', '.join(TASKS)}, not {task!r}")
    text = r.section(data, "text")
    text_spec = TextSpec(**{f.name: r.integer(text, f.name, "text.") for f in fields(TextSpec)})
    tokens = r.section(data, "tokens")
    tokens_spec = Tokens(**{f.name: r.integer(tokens, f.name, "tokens.", minimum=0) for f in fields(Tokens)})
    for key, value in asdict(tokens_spec).items():
        if value >= text_spec.vocab_size:
            raise r.error(f"tokens.{key}", f"is {value}, beyond the vocabulary ({text_spec.vocab_size} tokens)")
    return BlipSpec(task, tokens_spec, _image_spec(r, r.section(data, "image")), text_spec)


def _chat_spec(r: _Reader, data: dict[str, Any]) -> ChatSpec:
    model_type = r.field(data, "model_type")
    if not isinstance(model_type, str) or not model_type.strip():
        raise r.error("model_type", f"should be the model type of config.json, not {model_type!r}")
    architecture = data.get("architecture", "")
    if not isinstance(architecture, str):
        raise r.error("architecture", f"should be text, not {_kind(architecture)}")
    source = data.get("source")
    revision = source.get("revision") if isinstance(source, dict) else None
    image = _image_spec(r, r.section(data, "image")) if data.get("image") is not None else None
    return ChatSpec(model_type, architecture, image, revision if isinstance(revision, str) else None)


def _segment_spec(r: _Reader, data: dict[str, Any]) -> SegmentSpec:
    image = _image_spec(r, r.section(data, "image"))
    if image.size[0] != image.size[1]:
        raise r.error("image.size", f"should be a square (the padded picture), not {list(image.size)}")
    seg = r.section(data, "segment")
    longest = r.integer(seg, "longest_side", "segment.")
    if longest > image.size[0]:
        raise r.error("segment.longest_side", f"is {longest}, more than the padded square ({image.size[0]})")
    mask_h, mask_w = r.numbers(seg, "mask_size", "segment.", count=2, whole=True)
    channels, height, width = r.numbers(seg, "embedding", "segment.", count=3, whole=True)
    threshold = seg.get("mask_threshold", 0.0)
    if not _is_number(threshold):
        raise r.error("segment.mask_threshold", f"should be a number, not {threshold!r}")
    model_type = data.get("model_type", "sam")
    if not isinstance(model_type, str):
        raise r.error("model_type", f"should be text, not {_kind(model_type)}")
    return SegmentSpec(
        image=image,
        longest_side=longest,
        mask_size=(int(mask_h), int(mask_w)),
        embedding=(int(channels), int(height), int(width)),
        masks=r.integer(seg, "masks", "segment.") if "masks" in seg else 3,
        mask_threshold=float(threshold),
        model_type=model_type,
    )


def _image_spec(r: _Reader, image: dict[str, Any]) -> ImageSpec:
    resample = image.get("resample", "bicubic")
    if not isinstance(resample, str):
        raise r.error("image.resample", f"should be text, not {_kind(resample)}")
    height, width = r.numbers(image, "size", "image.", count=2, whole=True)
    return ImageSpec(
        size=(int(height), int(width)),
        mean=_three(r.numbers(image, "mean", "image.", count=3, positive=False)),
        std=_three(r.numbers(image, "std", "image.", count=3)),
        resample=resample,
    )


class _Reader:
    """Reads fields of one folder's manifest; each failure names the field (dotted: `text.layers`)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def error(self, field: str, problem: str) -> ManifestError:
        where = f"{self.folder.name}/{MANIFEST}"
        what = f"{where}: {field} {problem}" if field else f"{where} {problem}"
        return ManifestError(f"{what}.", "Convert the model again.")

    def field(self, data: dict[str, Any], key: str, prefix: str = "") -> Any:
        if key not in data:
            raise self.error(prefix + key, "is missing")
        return data[key]

    def section(self, data: dict[str, Any], key: str, prefix: str = "") -> dict[str, Any]:
        value = self.field(data, key, prefix)
        if not isinstance(value, dict):
            raise self.error(prefix + key, f"should be a JSON object, not {_kind(value)}")
        return value

    def integer(self, data: dict[str, Any], key: str, prefix: str = "", minimum: int = 1) -> int:
        value = self.field(data, key, prefix)
        if not _is_int(value) or value < minimum:
            raise self.error(prefix + key, f"should be a whole number of at least {minimum}, not {value!r}")
        return int(value)

    def numbers(
        self, data: dict[str, Any], key: str, prefix: str, count: int, whole: bool = False, positive: bool = True
    ) -> list[float]:
        value = self.field(data, key, prefix)
        good = _is_int if whole else _is_number
        if not isinstance(value, list) or len(value) != count or not all(good(x) for x in value) or (
            positive and min(value) <= 0
        ):
            kind = ("positive " if positive else "") + ("whole numbers" if whole else "numbers")
            raise self.error(prefix + key, f"should be a list of {count} {kind}, not {value!r}")
        return [float(x) for x in value]

    def files(self, data: dict[str, Any], prefix: str) -> dict[str, FileRecord]:
        records = {}
        for rel, rec in data.items():
            where = f"{prefix}[{rel!r}]"
            parts = PurePosixPath(rel).parts
            if not parts or rel.startswith("/") or ".." in parts or "\\" in rel:
                raise self.error(where, "should be a path inside the model folder")
            if not isinstance(rec, dict):
                raise self.error(where, f"should be a JSON object, not {_kind(rec)}")
            size = self.integer(rec, "size", f"{where}.", minimum=0)
            sha = self.field(rec, "sha256", f"{where}.")
            if not isinstance(sha, str) or len(sha) != 64 or not set(sha.lower()) <= set(string.hexdigits.lower()):
                raise self.error(f"{where}.sha256", f"should be 64 hex digits, not {sha!r}")
            records[rel] = FileRecord(size, sha.lower())
        return records


def _weight_modes(made: Mapping[str, Any]) -> dict[str, str]:
    """Part -> weight mode from a precision's `parts` record; informative only, so a malformed one is skipped."""
    parts = made.get("parts")
    if not isinstance(parts, dict):
        return {}
    return {p: str(rec["mode"]) for p, rec in parts.items() if isinstance(rec, dict) and rec.get("mode")}


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _three(values: list[float]) -> tuple[float, float, float]:
    return values[0], values[1], values[2]


def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "text", bool: "true/false", type(None): "null"}.get(
        type(value), type(value).__name__
    )
