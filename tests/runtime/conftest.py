"""Fixtures of the runtime tests."""

from __future__ import annotations

import shutil

import pytest


@pytest.fixture
def model_copy(tiny_models, tmp_path):
    """A private copy of the tiny VQA model, to damage."""
    target = tmp_path / "copy"
    shutil.copytree(tiny_models["vqa"], target)
    return target
