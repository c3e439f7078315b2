"""Preprocessing equals transformers' BlipImageProcessor, without transformers."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from transformers import BlipImageProcessor

from model_tools.runtime import preprocess
from model_tools.runtime.images import CLIP_MEAN, CLIP_STD


def _pictures():
    rng = np.random.default_rng(3)
    rgb = Image.fromarray((rng.random((123, 77, 3)) * 255).astype("uint8"))
    rgba = Image.fromarray((rng.random((50, 60, 4)) * 255).astype("uint8"), "RGBA")
    grey = Image.fromarray((rng.random((33, 90)) * 255).astype("uint8"), "L")
    palette = rgb.convert("P", palette=Image.Palette.ADAPTIVE)
    big = Image.fromarray((rng.random((900, 1200, 3)) * 255).astype("uint8"))
    return [rgb, rgba, grey, palette, big, rgb.resize((384, 384))]


@pytest.mark.parametrize("size", [32, 384])
@pytest.mark.parametrize("index", range(6))
def test_matches_blip_image_processor(size, index):
    image = _pictures()[index]
    reference = BlipImageProcessor(size={"height": size, "width": size})(images=image, return_tensors="np")
    ours = preprocess(image, (size, size), CLIP_MEAN, CLIP_STD)
    assert ours.shape == (1, 3, size, size)
    assert ours.dtype == np.float32
    np.testing.assert_allclose(ours, reference["pixel_values"], atol=1e-5, rtol=0)
