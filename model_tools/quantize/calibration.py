"""Calibration data for quantization: (image, question) samples, and the model inputs made from them.

Sources:
  "vqav2"   VQAv2 questions and pictures streamed with Hugging Face `datasets` (needs the network);
  a folder  its pictures, with the questions in a text file (one per line; `questions.txt` in the folder
            is used when no file is given), else a small set of generic questions;
  "builtin" the pictures in resources/samples with their questions (samples.json), then generated shape
            pictures (model_tools.synthetic.shapes) with their own questions; random pictures if the generator
            is missing.

Pictures become pixel values through the runtime's own `preprocess` (the manifest's size, mean and std) and
questions become ids through the runtime's tokenizer, so the quantized parts are calibrated on exactly what
they will see in the app. `datasets` is imported inside the function that streams VQAv2.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from model_tools.jobs.progress import OnProgress, check_cancel, report
from model_tools.runtime import paths
from model_tools.runtime.errors import GlimpseError, ImageError
from model_tools.runtime.images import load_image, preprocess
from model_tools.runtime.model_folder import TOKENIZER, ConvertedModel
from model_tools.runtime.text import BlipTokenizer

log = logging.getLogger("glimpse.calibration")

VQAV2_DATASET = (
    "lmms-lab/VQAv2"  # parquet files, loadable by datasets >= 3 (the older script-based repo is not)
)
VQAV2_SPLIT = "validation"
BUILTIN = "builtin"
VQAV2 = "vqav2"
SOURCES = (VQAV2, BUILTIN)
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}
QUESTIONS_FILE = "questions.txt"
SAMPLES_DIR = paths.RESOURCES / "samples"
SAMPLES_INDEX = "samples.json"

# Asked of pictures when no questions are given: short, everyday VQA questions of the usual kinds.
GENERIC_QUESTIONS = (
    "what is in the picture?",
    "what color is it?",
    "how many people are there?",
    "is this indoors or outdoors?",
    "what is the man doing?",
    "is there a dog?",
    "where was this taken?",
    "what is on the table?",
)


class CalibrationError(GlimpseError):
    """Calibration data that cannot be had: no pictures, no network, an unknown source..."""


@dataclass(frozen=True)
class Sample:
    """One calibration pair; `origin` names where it came from (file name, dataset row), for messages."""

    image: Image.Image
    question: str
    origin: str = ""

    def __iter__(self) -> Iterator[object]:  # unpacks as (image, question)
        return iter((self.image, self.question))


@dataclass
class CalibrationSet:
    """Samples held in memory, and what a manifest should say about them."""

    source: str
    samples: list[Sample]
    questions: str = "generic"  # "generic" | a file path | "dataset" | "generated"
    skipped: list[str] = field(default_factory=list)

    def describe(self) -> dict[str, object]:
        return {
            "source": self.source,
            "samples": len(self.samples),
            "questions": self.questions,
            "skipped": len(self.skipped),
        }


# -- sources -------------------------------------------------------------------------------------------------


def read_questions(path: str | os.PathLike[str]) -> list[str]:
    """Non-empty lines of a text file (lines starting with # are comments)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CalibrationError(f"Could not read the questions file {path} ({exc}).") from None
    questions = [
        line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")
    ]
    if not questions:
        raise CalibrationError(f"The questions file {path} has no questions.", "Write one question per line.")
    return questions


def image_files(folder: str | os.PathLike[str]) -> list[Path]:
    """Picture files directly in `folder` (by extension), sorted; a clear error when there are none."""
    folder = Path(folder)
    if not folder.is_dir():
        raise CalibrationError(
            f"{folder} is not a folder.", "Give a folder of pictures, or 'builtin' or 'vqav2'."
        )
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise CalibrationError(
            f"{folder} holds no pictures.", f"Add PNG or JPEG files ({', '.join(sorted(IMAGE_SUFFIXES))})."
        )
    return files


def read_images(
    files: Iterable[Path], skipped: list[str] | None = None
) -> Iterator[tuple[Path, Image.Image]]:
    """Open each file; one that cannot be read is logged, noted in `skipped` and passed over."""
    for path in files:
        try:
            yield path, load_image(path)
        except ImageError as exc:
            log.warning("Skipping %s: %s", path.name, exc)
            if skipped is not None:
                skipped.append(f"{path.name}: {exc.message}")


def folder_samples(
    folder: str | os.PathLike[str],
    questions: list[str] | None = None,
    *,
    skipped: list[str] | None = None,
) -> Iterator[Sample]:
    """Every readable picture in `folder` paired with a question, cycling on until the caller stops.

    The pictures are read now (a folder with none readable fails here); pass k asks picture i question
    (i + k) of the list, so repeated pictures come with new questions.
    """
    files = image_files(folder)
    qs = questions or list(GENERIC_QUESTIONS)
    pictures = [(p.name, img) for p, img in read_images(files, skipped)]
    if not pictures:
        raise CalibrationError(
            f"None of the {len(files)} pictures in {folder} could be read.",
            "Check that they are valid images.",
        )

    def cycle() -> Iterator[Sample]:
        for k in itertools.count():
            for i, (name, image) in enumerate(pictures):
                yield Sample(image, qs[(i + k) % len(qs)], name)

    return cycle()


def sample_questions() -> dict[str, str]:
    """The question each bundled sample picture comes with (samples.json: file -> question)."""
    try:
        index = json.loads((SAMPLES_DIR / SAMPLES_INDEX).read_text(encoding="utf-8"))
        return {str(entry["file"]): str(entry["question"]) for entry in index}
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def builtin_samples(seed: int = 0, questions: list[str] | None = None) -> Iterator[Sample]:
    """The bundled sample pictures (each once), then endless generated shape pictures.

    The sample pictures come with their own questions (samples.json: questions about their shapes, which
    the demo models know and real models answer too), or `questions` in turn when given; the generated
    pictures with questions of the generator's forms.
    """
    own = {} if questions else sample_questions()
    questions = questions or list(GENERIC_QUESTIONS)
    if SAMPLES_DIR.is_dir():
        files = sorted(p for p in SAMPLES_DIR.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        for i, (path, image) in enumerate(read_images(files)):
            yield Sample(image, own.get(path.name) or questions[i % len(questions)], f"samples/{path.name}")
    rng = np.random.default_rng(seed)
    try:
        from model_tools.synthetic import shapes
    except ImportError:
        shapes = None  # type: ignore[assignment]
    for i in itertools.count():
        if shapes is not None:
            image, question, *_ = shapes.sample(rng, size=192)
            yield Sample(image, question, f"shapes #{i}")
        else:
            yield Sample(random_picture(rng), questions[i % len(questions)], f"random #{i}")


def random_picture(rng: np.random.Generator, size: int = 192) -> Image.Image:
    """Smooth colour blobs plus noise: more like a photo's statistics than white noise."""
    coarse = rng.random((6, 6, 3)) * 255
    img = Image.fromarray(coarse.astype("uint8")).resize((size, size), Image.Resampling.BICUBIC)
    arr = np.asarray(img, dtype=np.float32) + rng.normal(0, 12, (size, size, 3))
    return Image.fromarray(arr.clip(0, 255).astype("uint8"))


def vqav2_samples(
    *, dataset: str = VQAV2_DATASET, split: str = VQAV2_SPLIT, seed: int = 0, buffer: int = 1000
) -> Iterator[Sample]:
    """VQAv2 (picture, question) rows streamed from the Hugging Face hub, shuffled within a buffer.

    Offline mode, a missing `datasets` package or an unreachable hub fail here, with what to use instead.
    """
    if _offline():
        raise CalibrationError(
            "VQAv2 cannot be streamed: Hugging Face offline mode is on (HF_HUB_OFFLINE / HF_DATASETS_OFFLINE).",
            "Use --calibration builtin, or a folder of your own pictures.",
        )
    try:
        from datasets import load_dataset
    except ImportError:
        raise CalibrationError(
            "VQAv2 calibration needs the `datasets` package.", "Install it with `pip install datasets`."
        ) from None
    with _dataset_errors(dataset):
        stream = load_dataset(dataset, split=split, streaming=True).shuffle(seed=seed, buffer_size=buffer)

    def rows() -> Iterator[Sample]:
        with _dataset_errors(dataset):
            for row in stream:
                try:
                    image = load_image(row["image"]) if isinstance(row.get("image"), Image.Image) else None
                except ImageError:
                    image = None
                if image is None or not row.get("question"):
                    continue
                yield Sample(image, str(row["question"]), f"{dataset}:{row.get('question_id', '')}")

    return rows()


@contextmanager
def _dataset_errors(dataset: str) -> Iterator[None]:
    """Turn whatever `datasets` raises (ConnectionError, DatasetNotFoundError, HTTP errors...) into one sentence."""
    try:
        yield
    except GlimpseError:
        raise
    except (ConnectionError, OSError, TimeoutError) as exc:
        raise CalibrationError(
            f"Could not stream VQAv2 ({dataset}) from Hugging Face: {_first_line(exc)}.",
            "Check your network, or use --calibration builtin or a folder of your own pictures.",
        ) from None
    except Exception as exc:  # noqa: BLE001 - datasets raises many types
        raise CalibrationError(
            f"Could not load VQAv2 ({dataset}): {_first_line(exc)}.",
            "Use --calibration builtin or a folder of your own pictures.",
        ) from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0]}" if text else type(exc).__name__


def _offline() -> bool:
    return any(
        os.environ.get(v, "").strip().lower() in ("1", "true", "yes", "on")
        for v in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")
    )


def samples(
    source: str | os.PathLike[str],
    questions: str | os.PathLike[str] | None = None,
    *,
    seed: int = 0,
    skipped: list[str] | None = None,
) -> tuple[Iterator[Sample], str]:
    """An endless (or dataset-long) iterator of samples from `source`, and how its questions were chosen.

    `source` is "vqav2", "builtin" or a folder; anything else is a CalibrationError naming the choices.
    """
    qlist = read_questions(questions) if questions else None
    qdesc = str(questions) if questions else "generic"
    text = str(source)
    if text.lower() == VQAV2:
        if qlist:
            raise CalibrationError(
                "VQAv2 brings its own questions; --questions works with a folder or builtin."
            )
        return vqav2_samples(seed=seed), "dataset"
    if text.lower() == BUILTIN:
        return builtin_samples(seed, qlist), qdesc if qlist else "samples + generated"
    folder = Path(text)
    if folder.is_dir():
        if qlist is None and (folder / QUESTIONS_FILE).is_file():
            qlist, qdesc = read_questions(folder / QUESTIONS_FILE), str(folder / QUESTIONS_FILE)
        return folder_samples(folder, qlist, skipped=skipped), qdesc
    if folder.exists():
        raise CalibrationError(f"{folder} is a file, not a folder of pictures.")
    raise CalibrationError(
        f"Unknown calibration source '{text}'.", "Use 'vqav2', 'builtin' or a folder of pictures."
    )


def load_samples(
    source: str | os.PathLike[str],
    count: int,
    questions: str | os.PathLike[str] | None = None,
    *,
    seed: int = 0,
    on_progress: OnProgress | None = None,
    cancel: threading.Event | None = None,
) -> CalibrationSet:
    """Gather `count` samples in memory, reporting each (stage "calibration data", unit "samples")."""
    if count < 1:
        raise CalibrationError("The calibration subset must hold at least one sample.")
    skipped: list[str] = []
    it, qdesc = samples(source, questions, seed=seed, skipped=skipped)
    name = str(source) if str(source).lower() in SOURCES else str(Path(source).resolve())
    got: list[Sample] = []
    report(on_progress, "calibration data", 0, count, "samples", f"Reading calibration data ({name})")
    for sample in it:
        check_cancel(cancel)
        got.append(sample)
        report(on_progress, "calibration data", len(got), count, "samples", sample.origin)
        if len(got) >= count:
            break
    if not got:
        raise CalibrationError(f"The calibration source {name} gave no samples.")
    if len(got) < count:
        report(on_progress, "calibration data", count, count, "samples", f"Only {len(got)} samples available")
    return CalibrationSet(name, got, qdesc, skipped)


# -- model inputs --------------------------------------------------------------------------------------------


class ModelInputs:
    """Turns pictures and questions into model inputs with the runtime's own preprocessing and tokenizer."""

    def __init__(self, model: ConvertedModel) -> None:
        spec = model.spec
        self.size, self.mean, self.std = spec.image.size, spec.image.mean, spec.image.std
        self.tokenizer = BlipTokenizer(model.path / TOKENIZER, spec.text.max_question_tokens, spec.tokens.ids)

    def pixels(self, image: Image.Image) -> np.ndarray:
        """float32 [1, 3, H, W], as the app computes it."""
        return preprocess(image, self.size, self.mean, self.std)

    def question(self, text: str) -> dict[str, np.ndarray]:
        """input_ids and attention_mask [1, T] (int64), as the app computes them."""
        ids, _ = self.tokenizer.encode(text)
        q = np.asarray([ids], dtype=np.int64)
        return {"input_ids": q, "attention_mask": np.ones_like(q)}
