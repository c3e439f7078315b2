"""Score any backend (PyTorch, OpenVINO FP16 / INT8, ...) on fresh shape pictures.

Backend-agnostic and free of torch: the caller passes `answer(image, question) -> str` and/or
`caption(image) -> str`. The same seed always gives the same pictures and questions, so numbers from
different backends compare directly (training uses the same held-out set through `heldout`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from model_tools.synthetic.shapes import (
    QTYPES,
    Scene,
    available_qtypes,
    caption_for,
    caption_names_all,
    random_scene,
    render,
    sample_question,
)

HELDOUT_SEED = 20_250_917  # far from any training seed's stream


@dataclass(frozen=True)
class HeldOutPicture:
    scene: Scene
    image: Image.Image
    questions: tuple[tuple[str, str, str], ...]  # (question, answer, qtype): one per type the scene allows
    caption: str


def heldout(n: int, seed: int = HELDOUT_SEED, size: int = 192) -> list[HeldOutPicture]:
    """`n` fresh pictures, each with one question of every type it allows (yes/no half yes, half no)."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        scene = random_scene(rng)
        image = render(scene, size=size, rng=rng)
        questions = tuple(sample_question(scene, rng, qtype=t) for t in available_qtypes(scene))
        out.append(HeldOutPicture(scene, image, questions, caption_for(scene)))
    return out


def normalize_answer(text: str) -> str:
    """Lowercase, trimmed, without trailing punctuation: what exact match compares."""
    return " ".join(text.lower().strip().strip(".?!,").split())


def score_answers(items: list[tuple[str, str, str]]) -> dict[str, Any]:
    """Accuracy per type and overall from (qtype, expected, got) triples."""
    right: dict[str, int] = dict.fromkeys(QTYPES, 0)
    total: dict[str, int] = dict.fromkeys(QTYPES, 0)
    for qtype, expected, got in items:
        total[qtype] += 1
        right[qtype] += normalize_answer(got) == normalize_answer(expected)
    accuracy = {t: right[t] / total[t] for t in QTYPES if total[t]}
    accuracy["overall"] = sum(right.values()) / max(1, sum(total.values()))
    return {"accuracy": accuracy, "questions": {**total, "overall": sum(total.values())}}


def evaluate(
    answer: Callable[[Image.Image, str], str] | None = None,
    caption: Callable[[Image.Image], str] | None = None,
    n: int = 200,
    seed: int = HELDOUT_SEED,
    *,
    size: int = 192,
    progress: Callable[[int, int], None] | None = None,
    max_mistakes: int = 20,
) -> dict[str, Any]:
    """Exact-match VQA accuracy per question type and overall, and the caption rate, on `n` fresh pictures.

    Returns a dict with
      "pictures": n,
      "accuracy": {"color", "shape", "count", "yesno", "overall"} (when `answer` is given),
      "questions": how many questions of each type were asked,
      "caption_rate": share of captions naming every shape kind and every colour present (when `caption` is given),
      "caption_exact": share of captions equal to the reference caption,
      "mistakes": up to `max_mistakes` examples of wrong answers / incomplete captions.
    """
    pictures = heldout(n, seed, size)
    result: dict[str, Any] = {"pictures": n, "seed": seed}
    mistakes: list[dict[str, str]] = []
    triples: list[tuple[str, str, str]] = []
    named = exact = 0
    for i, pic in enumerate(pictures):
        if answer is not None:
            for question, expected, qtype in pic.questions:
                got = answer(pic.image, question)
                triples.append((qtype, expected, got))
                if normalize_answer(got) != expected and len(mistakes) < max_mistakes:
                    mistakes.append(
                        {"picture": pic.caption, "question": question, "expected": expected, "got": got}
                    )
        if caption is not None:
            text = caption(pic.image)
            ok = caption_names_all(text, pic.scene)
            named += ok
            exact += normalize_answer(text) == normalize_answer(pic.caption)
            if not ok and len(mistakes) < max_mistakes:
                mistakes.append(
                    {"picture": pic.caption, "question": "(caption)", "expected": pic.caption, "got": text}
                )
        if progress is not None:
            progress(i + 1, n)
    if answer is not None:
        result.update(score_answers(triples))
    if caption is not None:
        result["caption_rate"] = named / max(1, n)
        result["caption_exact"] = exact / max(1, n)
    result["mistakes"] = mistakes
    return result


def format_result(result: dict[str, Any]) -> str:
    """One line: 'overall 95.5% | color 98.0% shape 96.0% count 94.0% yesno 94.0% | captions 97.0% (exact 90.0%)'."""
    parts = []
    acc = result.get("accuracy")
    if acc:
        types = " ".join(f"{t} {acc[t]:.1%}" for t in QTYPES if t in acc)
        parts.append(f"overall {acc['overall']:.1%} | {types}")
    if "caption_rate" in result:
        parts.append(f"captions {result['caption_rate']:.1%} (exact {result['caption_exact']:.1%})")
    return " | ".join(parts)
