"""The shipped demo model really answers: right answers on pictures drawn here, in FP16 and INT8."""

from __future__ import annotations

import pytest

from model_tools.library import store as library
from model_tools.runtime import ConvertedModel, load
from model_tools.synthetic.shapes import Scene, Shape, render

RED_CIRCLE = Scene((Shape("circle", "red", 0.5, 0.5, 0.35),))
TWO = Scene((Shape("square", "blue", 0.28, 0.3, 0.3), Shape("triangle", "yellow", 0.7, 0.68, 0.32)))

CASES = [
    (RED_CIRCLE, "what color is the circle?", "red"),
    (RED_CIRCLE, "how many shapes are there?", "one"),
    (RED_CIRCLE, "is there a square?", "no"),
    (RED_CIRCLE, "is there a red circle?", "yes"),
    (TWO, "what shape is the yellow object?", "triangle"),
    (TWO, "what color is the square?", "blue"),
    (TWO, "how many shapes are there?", "two"),
    (TWO, "is there a circle?", "no"),
]


@pytest.fixture(scope="module", params=["fp16", "int8"])
def demo(request):
    vqa_dir = library.default_model("vqa")
    partner = library.caption_partner(ConvertedModel.open(vqa_dir))
    assert partner is not None, "the demo VQA model names its captioning partner"
    # Pure INT8 files (no FP16 fallback): these tests are about what quantization kept.
    return request.param, load(vqa_dir, request.param, exact=True), load(partner, request.param, exact=True)


def test_demo_is_shipped_with_both_precisions_and_says_so():
    for task in ("vqa", "caption"):
        model = ConvertedModel.open(library.default_model(task))
        assert model.precisions == ["fp16", "int8"]
        assert model.manifest["demo"] is True and "synthetic" in model.manifest["description"]


@pytest.mark.parametrize("scene, question, expected", CASES)
def test_demo_answers(demo, scene, question, expected):
    precision, vqa, _ = demo
    answer = vqa.ask(render(scene, size=192), question, max_new_tokens=5)
    assert answer.text == expected, (precision, question)


def test_demo_captions_name_shapes_and_colours(demo):
    _, _, captioner = demo
    words = captioner.caption(render(RED_CIRCLE, size=192)).text.split()
    assert "red" in words and "circle" in words
    words = captioner.caption(render(TWO, size=224)).text.split()
    assert {"blue", "square", "yellow", "triangle"} <= set(words)
