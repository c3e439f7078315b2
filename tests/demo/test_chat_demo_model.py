"""The shipped demo chat model converses about the sample pictures in each precision it ships: real answers,
scored by the facts they state (`conversations.score_turn`), follow-up turns among them."""

from __future__ import annotations

import pytest

from model_tools.library.store import DEMO_CHAT
from model_tools.runtime import ConvertedModel, load
from model_tools.runtime.paths import RESOURCES
from model_tools.synthetic.conversations import ChatTurn, score_turn

# (picture, turns): each turn a question and the facts a right answer states, as the generator would write them.
CONVERSATIONS = [
    ("red-circle.png", [
        ChatTurn("what color is the circle?", "", "color", {"color": "red", "kind": "circle"}),
        ChatTurn("How many shapes are there?", "", "count_all", {"count": 1}),
    ]),
    ("three-shapes.png", [
        ChatTurn("Describe the picture.", "", "describe", {
            "count": 3, "shapes": sorted([("green", "circle"), ("red", "square"), ("blue", "triangle")])}),
        ChatTurn("What shape is the red object?", "", "shape", {"kind": "square", "color": "red"}),
        ChatTurn("And what colour is it?", "", "followup_color", {"color": "red"}, followup=True),
    ]),
    ("three-shapes.png", [
        ChatTurn("How many shapes are there?", "", "count_all", {"count": 3}),
        ChatTurn("And how many circles are there?", "", "followup_count", {"count": 1, "kind": "circle"},
                 followup=True),
    ]),
    ("two-triangles.png", [
        ChatTurn("how many triangles are there?", "", "count_kind", {"count": 2, "kind": "triangle"}),
        ChatTurn("Is there a blue square?", "", "yesno",
                 {"yes": False, "count": 0, "kind": "square", "color": "blue"}),
    ]),
    ("blue-square-yellow-triangle.png", [
        ChatTurn("what shape is the yellow object?", "", "shape", {"kind": "triangle", "color": "yellow"}),
        ChatTurn("What color is the square?", "", "color", {"color": "blue", "kind": "square"}),
    ]),
]


def test_the_demo_chat_model_ships_fp16_int8_and_int4():
    model = ConvertedModel.open(DEMO_CHAT)
    assert model.spec.family == "chat" and model.spec.demo
    assert set(model.precisions) == {"fp16", "int8", "int4"}
    for precision in model.precisions:
        model.verify(precision)


@pytest.mark.parametrize("precision", ["fp16", "int8", "int4"])
def test_it_converses_about_the_sample_pictures(precision):
    pipe = load(DEMO_CHAT, precision, "CPU")
    wrong = []
    for picture, turns in CONVERSATIONS:
        pipe.reset()
        for i, turn in enumerate(turns):
            answer = pipe.ask([RESOURCES / "samples" / picture] if i == 0 else [], turn.question, max_new_tokens=40)
            if not score_turn(answer.text, turn):
                wrong.append((picture, turn.question, answer.text))
    assert wrong == []
