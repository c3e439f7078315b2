"""What a model does with a picture, said in words (fixed size, or its own size up to a limit), and a lower limit
for the models that take pictures at their own size: the picture the model sees is the shrunk one."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace

import pytest
from PIL import Image

from model_tools.runtime import ConvertedModel, load
from model_tools.runtime.image_input import ImageInput, fit, image_input

QUESTION = "what is in the picture?"
TOKENS = 8
SIDE = 16


def test_fit_shrinks_the_longer_side_and_never_enlarges():
    picture = Image.new("RGB", (640, 480))
    assert fit(picture, 320).size == (320, 240)
    assert fit(picture, 1024) is picture and fit(picture, None) is picture
    assert fit(Image.new("RGB", (300, 1000)), 100).size == (30, 100)


def test_blip_and_llava_say_the_one_size_they_scale_to(tiny_models, tiny_chat_model):
    blip = image_input(ConvertedModel.open(tiny_models["vqa"]), "fp16")
    height, width = ConvertedModel.open(tiny_models["vqa"]).spec.image.size
    assert blip.fixed == (width, height) and not blip.adjustable
    llava = image_input(ConvertedModel.open(tiny_chat_model), "fp16")
    config = json.loads((tiny_chat_model / "fp16" / "preprocessor_config.json").read_text())
    side = config["crop_size"]["width"]
    assert llava.fixed == (side, side) and "centre-cropped" in llava.words
    assert llava.short == f"{side} × {side} (fixed)" and "fixed" in llava.words


def test_a_dynamic_model_says_its_own_limit(tiny_chat_model, tmp_path):
    folder = shutil.copytree(tiny_chat_model, tmp_path / "qwen-like")
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["model_type"] = "qwen2_vl"
    (folder / "manifest.json").write_text(json.dumps(manifest))
    (folder / "fp16" / "preprocessor_config.json").write_text(json.dumps({"max_pixels": 12845056}))
    found = image_input(ConvertedModel.open(folder), "fp16")
    assert found.adjustable and found.fixed is None and "12.8 megapixels" in found.words
    assert found.short == "Full size"


def test_a_fixed_size_model_gets_pictures_whole(tiny_chat_model, images):
    pipe = load(tiny_chat_model, exact=True)
    pipe.set_image_side(24)
    assert pipe.image_side is None, "shrinking would only lose detail before the model's own scaling"
    with pytest.raises(ValueError):
        pipe.set_image_side(4)


def test_a_lower_limit_sends_the_shrunk_picture(tiny_chat_model, reference, images):
    pipe = load(tiny_chat_model, exact=True)
    pipe.image_input = replace(pipe.image_input, fixed=None)  # as a model that takes pictures at their size
    assert isinstance(pipe.image_input, ImageInput) and pipe.image_input.adjustable
    mattered = 0
    for picture in images:
        pipe.reset()
        pipe.set_image_side(SIDE)
        shrunk = pipe.ask(picture, QUESTION, max_new_tokens=TOKENS)
        assert max(fit(picture, SIDE).size) == SIDE
        assert shrunk.token_ids == reference.generate([("user", QUESTION, [fit(picture, SIDE)])], TOKENS)
        full = reference.generate([("user", QUESTION, [picture])], TOKENS)
        mattered += shrunk.token_ids != full
        pipe.reset()
        pipe.set_image_side(None)
        assert pipe.ask(picture, QUESTION, max_new_tokens=TOKENS).token_ids == full
    assert mattered, "on some picture the size changed the answer"
