"""One typed request and one typed result per Model Tools job, and the table of jobs.

    request = QuantizeRequest("models/blip-vqa-base", decoder="int4")   # bad options raise here
    result = quantize(request, on_progress=show, cancel=stop)           # -> QuantizeResult
    asdict(request), QuantizeRequest.from_dict(data)                     # what the job process wire carries

The job functions, the CLI, the job process (`model_tools.jobs.child`) and the app's pages all use these
classes, so an option is named once and checked once: options that need no model or heavy library to judge
(a decoder mode, a subset size) are refused in `__post_init__`, the same way in the app and in the CLI.
Light on purpose (standard library and `runtime` only): the app imports it, never the job functions.
"""

from __future__ import annotations

import os
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, TypeVar

from model_tools.runtime.errors import GlimpseError
from model_tools.runtime.model_folder import PRECISIONS, ConvertedModel

DEFAULT_SUBSET_SIZE = 128  # NNCF defaults to 300; 128 keeps a 2-core laptop under ~10 minutes for the base models
DECODER_MODES = ("int8", "int4")
WEIGHTS = ("int8", "int4")  # a chat model's quantized precisions
PRESETS = ("mixed", "performance")
DEFAULT_GROUP_SIZE = 64
DEFAULT_RATIO = 0.8
DEFAULT_MAX_DROP = 0.01
DEFAULT_RUNS = 5
DEFAULT_MAX_NEW_TOKENS = 20
READY_PRECISIONS = ("fp16", "int8", "int4")

_PATH_TYPES = ("Path", "Path | None")
_R = TypeVar("_R", bound="Record")


class QuantizationError(GlimpseError):
    """A model or an option quantization cannot work with."""


class CompareError(GlimpseError):
    """Options or inputs a comparison cannot work with."""


class BadRequestError(GlimpseError):
    """A job request that names no job or does not fit its job's options (a bug in the sender)."""


class Record:
    """A request or result that crosses the job wire: `asdict()` there, `from_dict()` back. Fields typed
    `Path` accept any path-like (or text) and hold a `Path`, so a record equals itself after the trip."""

    def __post_init__(self) -> None:
        for f in fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            if f.type in _PATH_TYPES and value is not None and not isinstance(value, Path):
                object.__setattr__(self, f.name, Path(value))

    @classmethod
    def from_dict(cls: type[_R], data: dict[str, Any]) -> _R:
        """The record `data` (plain data, e.g. decoded JSON) describes; BadRequestError if it does not fit."""
        known = fields(cls)  # type: ignore[arg-type]
        unknown = sorted(set(data) - {f.name for f in known})
        if unknown:
            raise BadRequestError(f"{cls.__name__} has no option {', '.join(map(repr, unknown))}.")
        missing = [f.name for f in known if f.name not in data and f.default is f.default_factory is MISSING]
        if missing:
            raise BadRequestError(f"{cls.__name__} needs {', '.join(map(repr, missing))}.")
        try:
            return cls(**data)
        except (TypeError, ValueError) as exc:  # a value of the wrong type
            raise BadRequestError(f"{cls.__name__}: {exc}.") from None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)  # type: ignore[call-overload]


# -- download ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DownloadRequest(Record):
    """Fetch a Hugging Face model (only what conversion needs) into the local hub cache."""

    repo_id: str
    revision: str | None = None
    ready: bool = False  # a ready OpenVINO model: its IR files, not a checkpoint's safetensors


@dataclass(frozen=True)
class DownloadResult(Record):
    folder: Path  # the snapshot folder in the hub cache


# -- convert and import --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ConvertRequest(Record):
    """A BLIP or LLaVA model (Hugging Face id or local folder) -> a converted model folder at `out`, named
    `name` (default: the folder's name)."""

    source: str
    out: Path
    revision: str | None = None
    name: str | None = None
    overwrite: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "source", os.fspath(self.source))
        super().__post_init__()


@dataclass(frozen=True)
class ImportRequest(Record):
    """Copy a converted model `folder` into the models folder (under `name`, default its own), after
    checking every file."""

    folder: Path
    name: str | None = None


@dataclass(frozen=True)
class InstallRequest(Record):
    """A ready OpenVINO model (a Hugging Face id, downloaded first, or a local folder) becomes precision
    `precision` of the library entry `name`; the FP16 / INT8 / INT4 variants of one model so share one entry."""

    source: str
    name: str
    precision: str
    revision: str | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.precision not in READY_PRECISIONS:
            raise BadRequestError(
                f"A ready model's precision is one of {', '.join(READY_PRECISIONS)}, not {self.precision!r}."
            )
        if not self.name or "/" in self.name or self.name.startswith("."):
            raise BadRequestError(f"{self.name!r} is not a model folder name.")


@dataclass(frozen=True)
class ModelResult(Record):
    """A model folder a job made or installed: what the app's lists and result lines show."""

    path: Path
    name: str
    task: str
    precisions: list[str]
    size_bytes: int

    @classmethod
    def of(cls, path: str | os.PathLike[str]) -> ModelResult:
        """The facts about the converted model folder at `path`."""
        model = ConvertedModel.open(path)
        return cls(model.path, model.name, model.task, list(model.precisions), model.size_on_disk())


# -- quantize ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class QuantizeRequest(Record):
    """What `quantize` does to the model in `model`; options are checked on creation, before any work.

    calibration: "builtin", "vqav2" or a folder of pictures. max_drop: a fraction (0.01 is one point).
    group_size and ratio apply to an INT4 decoder; max_drop to accuracy control. weights: the precision a
    chat model's weights get ("int8" or "int4": its language model; group_size and ratio apply to INT4).
    """

    model: Path
    calibration: str = "builtin"
    subset_size: int = DEFAULT_SUBSET_SIZE
    decoder: str = "int8"
    preset: str = "mixed"
    accuracy_control: bool = False
    max_drop: float = DEFAULT_MAX_DROP
    group_size: int = DEFAULT_GROUP_SIZE
    ratio: float = DEFAULT_RATIO
    questions: Path | None = None
    validation_size: int = 50
    max_new_tokens: int = 10
    seed: int = 0
    weights: str = "int8"

    def __post_init__(self) -> None:
        object.__setattr__(self, "calibration", os.fspath(self.calibration))
        super().__post_init__()
        if self.decoder not in DECODER_MODES:
            raise QuantizationError(
                f"Unknown decoder mode '{self.decoder}'.", f"Use one of: {', '.join(DECODER_MODES)}."
            )
        if self.preset not in PRESETS:
            raise QuantizationError(f"Unknown preset '{self.preset}'.", f"Use one of: {', '.join(PRESETS)}.")
        if self.weights not in WEIGHTS:
            raise QuantizationError(f"Unknown weights '{self.weights}'.", f"Use one of: {', '.join(WEIGHTS)}.")
        if self.subset_size < 1:
            raise QuantizationError("The calibration subset size must be at least 1.")
        if not 0.0 <= self.max_drop < 1.0:
            raise QuantizationError(
                f"The maximum drop {self.max_drop} is out of range.",
                "Give a fraction such as 0.01 (one point).",
            )
        if not 0.0 < self.ratio <= 1.0:
            raise QuantizationError(f"The INT4 ratio {self.ratio} is out of range.", "Give a value in (0, 1].")
        if self.group_size < 1 and self.group_size != -1:
            raise QuantizationError("The INT4 group size must be positive (or -1 for per-channel).")
        if self.validation_size < 1 or self.max_new_tokens < 1:
            raise QuantizationError("The validation size and answer length must be at least 1.")


@dataclass(frozen=True)
class QuantizeResult(ModelResult):
    """The quantized model, where its INT8 files went, sizes per component before and after, and what the
    manifest recorded about the run."""

    int8: Path
    sizes_bytes: dict[str, dict[str, int]]  # "fp16" | "int8" -> component -> bytes, with "total"
    calibration: dict[str, Any] | None = None
    parts: dict[str, Any] | None = None
    accuracy_control: dict[str, Any] | None = None
    duration_s: float | None = None
    precision: str = "int8"  # the precision written (`int8` holds its folder): int8, or int4 for a chat model


# -- compare -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CompareRequest(Record):
    """Two precisions of the model in `model` on `device`; `images` is a folder (default: the built-in
    samples), `questions` a text file of questions (one a line)."""

    model: Path
    device: str = "CPU"
    runs: int = DEFAULT_RUNS
    images: Path | None = None
    baseline: str = "fp16"
    candidate: str = "int8"
    max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS
    questions: Path | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.runs < 1:
            raise CompareError("The number of runs must be at least 1.")
        if self.max_new_tokens < 1:
            raise CompareError("The answer length must be at least 1 token.")
        for precision in (self.baseline, self.candidate):
            if precision not in PRECISIONS:
                raise CompareError(f"Unknown precision '{precision}'.", f"Use one of: {', '.join(PRECISIONS)}.")


@dataclass
class AnswerPair:
    """One input's answers from the two precisions. A segment model's input is a click (`question` says
    where), its answers describe each precision's best mask, and `iou` is the two masks' intersection over
    union (None for text answers, and left out of the plain data then)."""

    image: str
    question: str
    baseline: str
    candidate: str
    iou: float | None = None


@dataclass
class CompareReport(Record):
    """Everything `compare` measured; `to_dict()` gives plain JSON-ready data (what the app charts and the
    CLI writes).

    sizes_bytes: precision -> component -> bytes (.xml + .bin), with "total".
    compression: component -> baseline bytes / candidate bytes, with "total".
    latency_ms:  mode ("vqa" | "caption" | "chat" | "segment") -> precision -> stage -> median milliseconds;
                 stages are vision (a chat model: encoding the first image), text_encoder (VQA), first_token,
                 per_token, end_to_end; a segment model's are encoder (a picture), decoder (a click),
                 click_to_mask (a click's decoder and the masks' upsampling to the picture) and end_to_end
                 (a new picture to its first mask).
    speedup:     mode -> stage -> baseline / candidate.
    tokens_per_s: mode -> precision -> median new tokens per end-to-end second (none for a segment model).
    agreement:   the share of inputs answered the same; a segment model's: the mean IoU of the two
                 precisions' best masks over every click (`differing`: the clicks whose IoU is below
                 `library.compare_report.SAME_MASK_IOU`).
    """

    model: str
    path: str
    task: str
    device: str
    baseline: str
    candidate: str
    runs: int
    max_new_tokens: int
    sizes_bytes: dict[str, dict[str, int]]
    compression: dict[str, float]
    latency_ms: dict[str, dict[str, dict[str, float]]]
    speedup: dict[str, dict[str, float]]
    tokens: dict[str, dict[str, float]]  # mode -> precision -> median tokens generated in the latency runs
    hints: dict[str, dict[str, str]]  # precision -> part -> INFERENCE_PRECISION_HINT used
    agreement: float  # same-answer rate, 0..1 (a segment model: the mean IoU of the best masks)
    compared: int
    differing: list[AnswerPair] = field(default_factory=list)
    images: str = "builtin"
    skipped_images: list[str] = field(default_factory=list)
    created: str = ""
    tools: dict[str, str] = field(default_factory=dict)
    answers: list[AnswerPair] = field(default_factory=list)  # every input, same answers too, in order
    weights: dict[str, dict[str, str]] = field(default_factory=dict)  # precision -> part -> fp16 | int8 | int4
    setup: dict[str, str] = field(default_factory=dict)  # precision -> what ran, e.g. "INT8 · exact · f32"
    files: dict[str, dict[str, str]] = field(default_factory=dict)  # precision -> part -> "int8/<part>.xml"
    thumbnails: dict[str, str] = field(default_factory=dict)  # picture (AnswerPair.image) -> base64 JPEG
    tokens_per_s: dict[str, dict[str, float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("differing", "answers"):  # rebuilt from plain data: pairs come back as dicts
            pairs = [p if isinstance(p, AnswerPair) else AnswerPair(**p) for p in getattr(self, name)]
            setattr(self, name, pairs)

    def to_dict(self) -> dict[str, Any]:
        data = super().to_dict()
        for name in ("differing", "answers"):  # text answers carry no IoU: their plain data stays as it was
            for pair in data[name]:
                if pair.get("iou") is None:
                    pair.pop("iou", None)
        return data

    @property
    def modes(self) -> list[str]:
        return list(self.latency_ms)


# -- the table -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class JobKind:
    """A job: its request and result classes, and its function as "module:name" (imported only where the
    job runs: the job process or the CLI). `needs_tools`: it cannot start without torch/transformers/NNCF."""

    request: type[Record]
    result: type[Record]
    function: str
    needs_tools: bool = False


JOBS: dict[str, JobKind] = {
    "download": JobKind(DownloadRequest, DownloadResult, "model_tools.library.hub:download"),
    "convert": JobKind(ConvertRequest, ModelResult, "model_tools.convert:convert", needs_tools=True),
    "import_converted": JobKind(ImportRequest, ModelResult, "model_tools.library.store:import_converted"),
    "install_ready": JobKind(InstallRequest, ModelResult, "model_tools.library.install:install_ready"),
    "quantize": JobKind(QuantizeRequest, QuantizeResult, "model_tools.quantize:quantize", needs_tools=True),
    "compare": JobKind(CompareRequest, CompareReport, "model_tools.measure.compare:compare"),
}


def kind_of(request: Record) -> str:
    """The job `request` asks for ("convert", "quantize"...)."""
    for kind, job in JOBS.items():
        if type(request) is job.request:
            return kind
    raise BadRequestError(f"{type(request).__name__} is not a Model Tools job request.")


def job_kind(kind: str) -> JobKind:
    job = JOBS.get(kind)
    if job is None:
        raise BadRequestError(f"Unknown Model Tools job '{kind}'.", f"Use one of: {', '.join(JOBS)}.")
    return job

