"""The shape-picture generator of the demo model: pictures, questions, answers, captions, evaluation."""

from __future__ import annotations

import itertools
import math
import subprocess
import sys
from collections import Counter

import numpy as np
import pytest

from model_tools.demo.evaluate import evaluate, format_result, heldout, normalize_answer
from model_tools.synthetic import shapes as S

ANSWERS = {
    "color": set(S.COLORS),
    "shape": set(S.KINDS),
    "count": set(S.NUMBERS),
    "yesno": {"yes", "no"},
}


def scenes(n: int = 400, seed: int = 0) -> list[S.Scene]:
    rng = np.random.default_rng(seed)
    return [S.random_scene(rng) for _ in range(n)]


def test_generator_is_deterministic_per_seed():
    a, b = np.random.default_rng(7), np.random.default_rng(7)
    for _ in range(5):
        image_a, *rest_a = S.sample(a)
        image_b, *rest_b = S.sample(b)
        assert rest_a == rest_b
        assert image_a.tobytes() == image_b.tobytes()
    sa, sb = S.random_scene(np.random.default_rng(3)), S.random_scene(np.random.default_rng(3))
    assert sa == sb
    assert S.questions_for(sa, np.random.default_rng(1)) == S.questions_for(sb, np.random.default_rng(1))
    assert S.render(sa).tobytes() == S.render(sb).tobytes()
    assert S.random_scene(np.random.default_rng(4)) != sa


def test_scenes_hold_one_to_three_shapes_of_every_kind_and_colour():
    all_scenes = scenes()
    counts = Counter(len(s.shapes) for s in all_scenes)
    assert set(counts) == {1, 2, 3}
    assert {sh.kind for s in all_scenes for sh in s.shapes} == set(S.KINDS)
    assert {sh.color for s in all_scenes for sh in s.shapes} == set(S.COLORS)
    # several of the same shape / colour do appear
    assert any(max(Counter(sh.kind for sh in s.shapes).values()) >= 2 for s in all_scenes)
    assert any(max(Counter(sh.color for sh in s.shapes).values()) >= 2 for s in all_scenes)


def test_shapes_do_not_overlap_stay_inside_and_have_sizes_within_15_to_40_percent():
    for scene in scenes():
        for shape in scene.shapes:
            assert S.MIN_SIZE <= shape.size <= S.MAX_SIZE
            assert 0.0 <= shape.cx - shape.radius and shape.cx + shape.radius <= 1.0
            assert 0.0 <= shape.cy - shape.radius and shape.cy + shape.radius <= 1.0
            assert abs(shape.rotation) <= 15.0
        for a, b in itertools.combinations(scene.shapes, 2):
            assert math.hypot(a.cx - b.cx, a.cy - b.cy) >= a.radius + b.radius
            assert not S.overlaps(a, b)
        bg = scene.background
        assert min(bg) >= 215  # white or light


def test_render_draws_every_shape_in_its_colour_on_the_background():
    rng = np.random.default_rng(5)
    for scene in scenes(40, seed=5):
        for image in (S.render(scene, size=192), S.render(scene, size=160, rng=rng)):
            assert image.mode == "RGB"
            arr = np.asarray(image).astype(int)
            side = image.size[0]
            assert np.abs(arr[0, 0] - scene.background).max() <= 40  # corners are background
            for shape in scene.shapes:
                x, y = int(shape.cx * side), int(shape.cy * side)
                assert np.abs(arr[y, x] - shape.fill).max() <= 40, (shape, arr[y, x])


def test_colour_is_asked_only_for_unique_shapes_and_shape_only_for_unique_colours():
    rng = np.random.default_rng(1)
    for scene in scenes():
        questions = S.questions_for(scene, rng)
        for question, answer, qtype in questions:
            assert answer in ANSWERS[qtype]
            assert question.endswith("?") and question == question.lower()
            if qtype == "color":
                kind = question.removeprefix("what color is the ").removesuffix("?")
                assert scene.count(kind) == 1
                assert answer == next(s.color for s in scene.shapes if s.kind == kind)
            elif qtype == "shape":
                color = question.removeprefix("what shape is the ").removesuffix(" object?")
                assert scene.count(color=color) == 1
                assert answer == next(s.kind for s in scene.shapes if s.color == color)
            elif qtype == "count":
                if question == "how many shapes are there?":
                    assert answer == S.NUMBERS[len(scene.shapes)] and answer != "zero"
                else:
                    kind = question.removeprefix("how many ").removesuffix("s are there?")
                    assert answer == S.NUMBERS[scene.count(kind)]
            else:
                words = question.removeprefix("is there a ").removesuffix("?").split()
                kind = words[-1]
                color = words[0] if len(words) == 2 else None
                assert answer == ("yes" if scene.count(kind, color) else "no")
        asked_colour = {q for q, _, t in questions if t == "color"}
        for kind in S.KINDS:
            assert (S.color_question(kind) in asked_colour) == (scene.count(kind) == 1)
        types = Counter(t for _, _, t in questions)
        assert types["count"] == 4
        yesno = Counter(a for _, a, t in questions if t == "yesno")
        assert yesno["yes"] == yesno["no"] >= 1


def test_sampled_questions_are_correct_and_balanced():
    rng = np.random.default_rng(2)
    types: Counter[str] = Counter()
    answers: Counter[str] = Counter()
    for _ in range(3000):
        scene = S.random_scene(rng)
        question, answer, qtype = S.sample_question(scene, rng)
        assert (question, answer, qtype) in S.questions_for(scene, rng) or qtype == "yesno"
        assert answer in ANSWERS[qtype]
        types[qtype] += 1
        if qtype == "yesno":
            answers[answer] += 1
    assert set(types) == set(S.QTYPES)
    assert 0.45 < answers["yes"] / (answers["yes"] + answers["no"]) < 0.55
    # a requested type is honoured when the scene allows it
    scene = S.Scene((S.Shape("circle", "red", 0.3, 0.3, 0.2), S.Shape("square", "blue", 0.7, 0.7, 0.2)))
    for qtype in S.QTYPES:
        assert S.sample_question(scene, rng, qtype=qtype)[2] == qtype


def test_caption_names_every_shape_left_to_right():
    scene = S.Scene(
        (
            S.Shape("circle", "yellow", 0.8, 0.5, 0.2),
            S.Shape("triangle", "green", 0.2, 0.3, 0.2),
            S.Shape("triangle", "green", 0.5, 0.7, 0.2),
        )
    )
    assert S.caption_for(scene) == "two green triangles and a yellow circle"
    scene = S.Scene((S.Shape("square", "blue", 0.7, 0.5, 0.2), S.Shape("circle", "red", 0.2, 0.5, 0.2)))
    assert S.caption_for(scene) == "a red circle and a blue square"
    scene = S.Scene(
        (
            S.Shape("square", "blue", 0.5, 0.5, 0.2),
            S.Shape("circle", "red", 0.2, 0.5, 0.2),
            S.Shape("circle", "red", 0.8, 0.2, 0.2),
        )
    )
    assert S.caption_for(scene) == "two red circles and a blue square"
    for scene in scenes():
        caption = S.caption_for(scene)
        assert S.caption_names_all(caption, scene)
        words = S.caption_words(caption)
        for shape in scene.shapes:
            assert shape.kind in words and shape.color in words
    assert not S.caption_names_all(
        "a red circle", scene_with := S.Scene((S.Shape("circle", "blue", 0.5, 0.5, 0.2),))
    )
    assert S.caption_names_all("a blue circle", scene_with)


def test_demo_words_cover_every_question_answer_and_caption():
    pytest.importorskip("tokenizers")
    from tokenizers import Tokenizer

    from model_tools.synthetic.tiny_blip import build_vocab, save_tokenizer

    vocab = build_vocab(S.DEMO_WORDS, pieces=S.DEMO_PIECES)
    assert len(vocab) == len(set(vocab))
    rng = np.random.default_rng(3)
    texts = set()
    for scene in scenes(300):
        texts.add(S.caption_for(scene))
        for q, a, _ in S.questions_for(scene, rng):
            texts.update((q, a))
    words = {w for t in texts for w in t.replace("?", " ").replace(",", " ").split()}
    assert words <= set(S.DEMO_WORDS)
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        save_tokenizer(vocab, Path(tmp))
        tok = Tokenizer.from_file(str(Path(tmp) / "tokenizer.json"))
    unk = tok.token_to_id("[UNK]")
    for text in texts:
        assert unk not in tok.encode(text).ids, text
    for answers in ANSWERS.values():  # one-word answers are single tokens
        for answer in answers:
            assert len(tok.encode(answer).ids) == 3


def test_demo_modules_do_not_import_torch():
    code = (
        "import sys, model_tools.synthetic.shapes, model_tools.demo.evaluate, model_tools.demo.train\n"
        "heavy = [m for m in ('torch', 'transformers', 'nncf', 'PySide6') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_evaluate_scores_any_backend():
    pictures = heldout(30)
    assert [p.caption for p in pictures] == [p.caption for p in heldout(30)]  # same seed, same pictures
    by_image = {p.image.tobytes(): p for p in pictures}

    def oracle(image, question):
        pic = by_image[image.tobytes()]
        return next(a for q, a, _ in pic.questions if q == question).upper() + "."

    def perfect_caption(image):
        return by_image[image.tobytes()].caption

    result = evaluate(oracle, perfect_caption, n=30)
    assert result["accuracy"]["overall"] == 1.0
    assert set(result["accuracy"]) == {*S.QTYPES, "overall"}
    assert result["caption_rate"] == result["caption_exact"] == 1.0
    assert result["mistakes"] == []
    assert "overall 100.0%" in format_result(result)

    always_yes = evaluate(lambda image, question: "yes", lambda image: "a circle", n=30)
    assert always_yes["accuracy"]["color"] == 0.0
    assert 0.2 < always_yes["accuracy"]["yesno"] < 0.8
    assert always_yes["caption_rate"] < 0.2
    assert always_yes["mistakes"]

    only_vqa = evaluate(lambda image, question: "no", n=5)
    assert "caption_rate" not in only_vqa and "accuracy" in only_vqa
    assert normalize_answer("  Yes. ") == "yes"
