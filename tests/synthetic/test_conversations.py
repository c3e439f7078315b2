"""Conversations about shape pictures for the tiny chat model: generation, facts, and the fact scorer."""

from __future__ import annotations

import functools
import os
import re
import subprocess
import sys
from collections import Counter

import pytest

from model_tools.synthetic import conversations as C
from model_tools.synthetic.shapes import COLORS, KINDS, NUMBERS, Scene, Shape

N = 2000
SAMPLE_QUESTIONS = (
    "what color is the circle?",
    "what shape is the yellow object?",
    "how many shapes are there?",
    "how many triangles are there?",
)


@functools.cache
def generated(n: int = N, seed: int = 0) -> list[C.Conversation]:
    return C.conversations(n, seed)


def all_turns() -> list[tuple[C.Conversation, int, C.ChatTurn]]:
    return [(conv, i, turn) for conv in generated() for i, turn in enumerate(conv.turns)]


def shape(kind: str, color: str, cx: float) -> Shape:
    return Shape(kind, color, cx, 0.5, 0.2)


# ---------------------------------------------------------------------------------------------
# Perturbing an answer: every colour, kind, count, yes/no, place and picture word swapped for another


def _swaps(answer: str) -> list[tuple[str, list[str]]]:
    """(regex of one word, the words it may be replaced with)."""
    counts = [(rf"\b{w}\b", [v for v in NUMBERS if v != w]) for w in NUMBERS]
    return [
        *((rf"\b{c}\b", [o for o in COLORS if o != c]) for c in COLORS),
        *((rf"\b{k}(?=s?\b)", [o for o in KINDS if o != k]) for k in KINDS),
        *counts,
        (r"(?<=is |re )no\b", ["one", "two", "three"]),  # "there is no ...", "there are no ..."
        (r"^Yes\b", ["No"]),
        (r"^No\b", ["Yes"]),
        *(
            (rf"\b{p}\b", [o for o in ("left", "right", "middle") if o != p])
            for p in ("left", "right", "middle")
        ),
        (r"\bfirst\b", ["second"]),
        (r"\bsecond\b", ["first"]),
    ]


def perturbed(answer: str) -> list[str]:
    out = []
    for pattern, others in _swaps(answer):
        for match in re.finditer(pattern, answer):
            out += [answer[: match.start()] + other + answer[match.end() :] for other in others]
    return out


def subject(turn: C.ChatTurn, scene: Scene) -> Shape | None:
    """The one shape a turn is about, worked out from its kind and facts (independently of the module)."""
    f = turn.facts
    if turn.kind == "shape":
        matches = [s for s in scene.shapes if s.color == f["color"]]
    elif turn.kind in ("yesno", "count_kind", "followup_count") and f["count"] == 1:
        matches = [s for s in scene.shapes if s.kind == f["kind"] and s.color == f.get("color", s.color)]
    else:
        return None
    assert len(matches) == 1
    return matches[0]


# ---------------------------------------------------------------------------------------------


def test_same_seed_same_conversations_other_seed_other():
    assert C.conversations(50, 3) == C.conversations(50, 3)
    assert C.conversations(50, 3) != C.conversations(50, 4)
    assert C.corpus(50, 3) == C.corpus(50, 3)


def test_reproducible_across_processes():
    code = "from model_tools.synthetic.conversations import corpus; print(' | '.join(corpus(200, 5)))"
    run = [sys.executable, "-c", code]
    outputs = {
        subprocess.run(
            run, capture_output=True, text=True, check=True, env={**os.environ, "PYTHONHASHSEED": seed}
        ).stdout
        for seed in ("1", "2")
    }
    assert (
        len(outputs) == 1 and len(outputs.pop()) > 1000
    )  # set iteration order (string hashing) does not leak into the draws


def test_no_training_stack_imported():
    code = "import sys, model_tools.synthetic.conversations; print(sorted({'torch', 'transformers'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_every_expected_answer_scores_right_and_every_perturbation_wrong():
    n_perturbed = 0
    for _, _, turn in all_turns():
        assert C.score_turn(turn.answer, turn), turn
        wrong = perturbed(turn.answer)
        assert wrong, turn.answer  # every answer has a word that can be swapped
        for text in wrong:
            assert not C.score_turn(text, turn), (text, turn)
        n_perturbed += len(wrong)
    assert n_perturbed > 5 * N


def test_answer_forms():
    for _, _, turn in all_turns():
        a = turn.answer
        assert a.endswith(".") and a[0].isupper() and a[1:] == a[1:].lower(), a
        assert not re.search(r"\d", a)
        assert turn.kind in C.QUESTION_KINDS
        assert turn.question.endswith(("?", "."))


def test_facts_agree_with_the_scene():
    for conv, _, turn in all_turns():
        scene, f = conv.scenes[0], turn.facts
        asked = C.facts_stated(turn.question)
        if turn.kind == "describe":
            assert f["count"] == len(scene.shapes)
            assert f["shapes"] == sorted((s.color, s.kind) for s in scene.shapes)
        elif turn.kind == "count_all":
            assert f == {"count": len(scene.shapes)}
        elif turn.kind in ("count_kind", "followup_count"):
            assert f["count"] == scene.count(f["kind"]) and asked["kinds"] == {f["kind"]}
        elif turn.kind == "color":
            (only,) = [s for s in scene.shapes if s.kind == f["kind"]]
            assert f["color"] == only.color and asked["kinds"] == {f["kind"]}
        elif turn.kind == "shape":
            (only,) = [s for s in scene.shapes if s.color == f["color"]]
            assert f["kind"] == only.kind and asked["colors"] == {f["color"]}
        elif turn.kind == "yesno":
            n = scene.count(f["kind"], f.get("color"))
            assert f["yes"] == (n > 0) and f["count"] == n
            assert asked["kinds"] == {f["kind"]} and asked["colors"] == (
                {f["color"]} if "color" in f else set()
            )
            if n == 1:
                (only,) = [
                    s for s in scene.shapes if s.kind == f["kind"] and s.color == f.get("color", s.color)
                ]
                assert C.position_word(only).endswith(f["position"])
            else:
                assert "position" not in f
        elif turn.kind == "compare":
            counts = tuple(len(s.shapes) for s in conv.scenes)
            assert f["counts"] == counts
            assert f["more"] == (
                "same" if counts[0] == counts[1] else "first" if counts[0] > counts[1] else "second"
            )


def test_follow_ups_follow_a_single_shape_or_a_count():
    seen = Counter()
    for conv, i, turn in all_turns():
        assert turn.followup == turn.kind.startswith("followup")
        if not turn.followup:
            continue
        assert i > 0
        last, scene = conv.turns[i - 1], conv.scenes[0]
        seen[turn.kind, last.kind] += 1
        if turn.kind == "followup_color":
            only = subject(last, scene)
            assert only is not None, (last, turn)
            assert turn.facts == {"color": only.color} and turn.answer == f"It is {only.color}."
        else:
            assert last.kind in ("describe", "count_all", "count_kind", "followup_count")
            short = last.kind in ("count_kind", "followup_count")
            assert turn.question.lower() == (
                f"and {turn.facts['kind']}s?" if short else f"and how many {turn.facts['kind']}s are there?"
            )
            assert last.facts.get("kind") != turn.facts["kind"]
    for pair in [
        ("followup_color", "yesno"),
        ("followup_color", "shape"),
        ("followup_color", "count_kind"),
        ("followup_count", "count_kind"),
        ("followup_count", "describe"),
        ("followup_count", "count_all"),
    ]:
        assert seen[pair] > 0, pair


def test_no_question_asked_twice_in_a_conversation():
    for conv in generated():  # "And what color is it?" may come twice, about two shapes
        questions = [t.question.lower() for t in conv.turns if t.kind != "followup_color"]
        assert len(questions) == len(set(questions)), questions


def test_sample_questions_occur():
    questions = {turn.question for _, _, turn in all_turns()}
    for q in SAMPLE_QUESTIONS:
        assert q in questions, q
    assert "What colour is the square?" in questions or "What colour is the circle?" in questions


def test_pictures_and_compare_turns():
    two = 0
    for conv in generated():
        first, *rest = conv.turns
        assert 1 <= len(conv.turns) <= 4 and len(conv.scenes) in (1, 2)
        assert first.pictures == tuple(range(len(conv.scenes)))
        assert all(t.pictures == () for t in rest)
        kinds = [t.kind for t in conv.turns]
        if len(conv.scenes) == 2:
            two += 1
            assert kinds == ["compare"] and first.question.lower() == "which picture has more shapes?"
        else:
            assert "compare" not in kinds
    assert 0.05 * N < two < 0.15 * N


def test_turn_mix():
    first = Counter(conv.turns[0].kind for conv in generated() if len(conv.scenes) == 1)
    single = sum(first.values())
    assert 0.2 < first["describe"] / single < 0.3
    for kind in ("count_all", "count_kind", "color", "shape", "yesno"):
        assert first[kind] > 0.08 * single, kind
    assert not first["followup_color"] and not first["followup_count"]
    lengths = Counter(len(conv.turns) for conv in generated())
    assert all(lengths[n] > 0.1 * N for n in (1, 2, 3, 4))


def test_half_the_no_questions_are_hard():
    hard = easy = 0
    for conv, _, turn in all_turns():
        if turn.kind == "yesno" and not turn.facts["yes"]:
            scene = conv.scenes[0]
            if "color" in turn.facts and (
                turn.facts["color"] in scene.colors or turn.facts["kind"] in scene.kinds
            ):
                hard += 1
            else:
                easy += 1
    assert 0.4 < hard / (hard + easy) < 0.6


def test_corpus_holds_every_question_and_answer():
    texts = C.corpus(300, 9)
    expected = [x for conv in C.conversations(300, 9) for t in conv.turns for x in (t.question, t.answer)]
    assert texts == expected and len(texts) > 600


def test_position_word():
    assert C.position_word(shape("circle", "red", 0.2)) == "on the left"
    assert C.position_word(shape("circle", "red", 0.5)) == "in the middle"
    assert C.position_word(shape("circle", "red", 0.8)) == "on the right"
    assert [C.position_word(shape("square", "blue", x)) for x in (0.37, 0.39, 0.61, 0.63)] == [
        "on the left",
        "in the middle",
        "in the middle",
        "on the right",
    ]


def test_facts_stated_reads_free_text():
    said = C.facts_stated("YES, there are Two Red CIRCLES on the Left; the colour is red.")
    assert said["yes"] == {True} and said["counts"] == {2} and said["colors"] == {"red"}
    assert said["kinds"] == {"circle"} and said["positions"] == {"left"}
    assert said["shapes"] == [("red", "circle"), ("red", "circle")]
    said = C.facts_stated("No, there is no square.")
    assert said["yes"] == {False} and said["counts"] == {0} and said["kinds"] == {"square"}
    assert C.facts_stated("There are no triangles.")["counts"] == {0}
    said = C.facts_stated("There are three shapes: two green circles and a blue triangle.")
    assert said["totals"] == {3} and said["counts"] == {3, 2}
    assert said["shapes"] == [("blue", "triangle"), ("green", "circle"), ("green", "circle")]
    assert C.facts_stated("The second picture has more.")["more"] == {"second"}
    assert C.facts_stated("Both pictures have one shape.")["more"] == {"same"}


@pytest.mark.parametrize(
    ("answer", "right"),
    [
        ("The triangle is blue.", True),
        ("the triangle is BLUE", True),
        ("It is blue.", False),  # does not say which shape
        ("The triangle is blue and red.", False),  # a second colour contradicts
        ("The square is blue.", False),
        ("blue", False),
    ],
)
def test_color_turns_are_scored_strictly(answer, right):
    turn = C.ChatTurn(
        "What color is the triangle?", "The triangle is blue.", "color", {"color": "blue", "kind": "triangle"}
    )
    assert C.score_turn(answer, turn) is right


def test_describe_needs_the_same_shapes():
    turn = C.ChatTurn(
        "What do you see?",
        "There are two shapes: two red circles.",
        "describe",
        {"count": 2, "shapes": [("red", "circle"), ("red", "circle")]},
    )
    assert C.score_turn("there are two shapes: a red circle and a red circle", turn)
    assert not C.score_turn("There are two shapes: a red circle.", turn)
    assert not C.score_turn("There are two shapes: two red circles and a blue square.", turn)
    assert not C.score_turn("Two red circles.", turn)  # the total is not stated


def test_yesno_and_compare_scoring():
    yes = C.ChatTurn(
        "Is there a circle?",
        "Yes, there is one circle, on the left.",
        "yesno",
        {"yes": True, "count": 1, "kind": "circle", "position": "left"},
    )
    assert C.score_turn("yes, one circle on the left", yes)
    assert not C.score_turn("Yes, there is one circle.", yes)  # the place is missing
    assert not C.score_turn("Yes and no, there is one circle, on the left.", yes)
    compare = C.ChatTurn("Which picture has more shapes?", "", "compare", {"more": "same", "counts": (2, 2)})
    assert C.score_turn("Both pictures have two shapes.", compare)
    assert not C.score_turn("Both pictures have three shapes.", compare)
    assert not C.score_turn("The first picture has two shapes.", compare)
