"""Shared fixtures: tiny BLIP models built on the fly, and folders that keep tests off the user's files."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

# Before anything imports Qt or model_tools: headless Qt and private folders for cache, settings, logs, models.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
_ROOT = Path(tempfile.mkdtemp(prefix="glimpse-tests-"))
for var in ("GLIMPSE_CACHE_DIR", "GLIMPSE_CONFIG_DIR", "GLIMPSE_LOG_DIR", "GLIMPSE_MODELS_DIR"):
    os.environ[var] = str(_ROOT / var.lower())
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Tiny models: one torch thread is fastest, and avoids oversubscribing the 2-core CI machine.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from PIL import Image  # noqa: E402

# A scale at which tiny random models give varied answers of varied length (checked: 8 distinct answers
# over 16 inputs, most ending with [SEP]) rather than one token repeated.
TINY_STD = 0.1
TINY_SEED = 1

QUESTIONS = [
    "what color is the circle?",
    "how many shapes are there?",
    "is there a dog sitting on the table?",
    "what?",
]


@pytest.fixture(scope="session")
def tiny_hf(tmp_path_factory) -> dict[str, Path]:
    """Hugging Face folders of a random tiny BlipForQuestionAnswering ("vqa") and BlipForConditionalGeneration."""
    from model_tools.tiny import make_tiny_blip

    root = tmp_path_factory.mktemp("tiny-hf")
    return {task: make_tiny_blip(root / task, task, std=TINY_STD, seed=TINY_SEED) for task in ("vqa", "caption")}


@pytest.fixture(scope="session")
def tiny_models(tiny_hf, tmp_path_factory) -> dict[str, Path]:
    """The tiny models converted by our converter."""
    from model_tools.convert import convert

    root = tmp_path_factory.mktemp("tiny-converted")
    return {task: convert(src, root / task) for task, src in tiny_hf.items()}


@pytest.fixture(scope="session")
def images() -> list[Image.Image]:
    """Pictures of assorted sizes and contents."""
    rng = np.random.default_rng(0)
    out = [Image.fromarray((rng.random((40 + 7 * i, 50 + 3 * i, 3)) * 255).astype("uint8")) for i in range(3)]
    grad = np.linspace(0, 255, 64 * 48 * 3).reshape(48, 64, 3).astype("uint8")
    out.append(Image.fromarray(grad))
    return out
