"""Questions as people type them (or as a terminal mangles them) reach the tokenizer cleaned, never as a crash."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from model_tools.runtime import GlimpseError, load
from model_tools.runtime.text import clean_question


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("what color is the circle?", "what color is the circle?"),
        ("what \udcff color?", "what \ufffd color?"),  # a byte that is not UTF-8, as sys.argv gives it
        ("lone \ud800 surrogate", "lone \ufffd surrogate"),
        (b"what \xff\xfe color?", "what \ufffd\ufffd color?"),
        ("  what\tcolor\n\n is\r\nit?  ", "what color is it?"),
        ("what\x00 col\x1bor\x7f?", "what color?"),
        ("zero\u200bwidth\ufeff", "zerowidth"),
        ("\x00\x01\x1b\x7f", ""),
        ("\u200b \t\n", ""),
        ("什么颜色? 🟥", "什么颜色? 🟥"),
    ],
)
def test_clean_question(raw, clean):
    assert clean_question(raw) == clean
    assert clean_question(clean) == clean  # cleaning twice changes nothing
    clean.encode("utf-8")  # always encodable: no surrogates left


def test_clean_question_refuses_what_is_not_text():
    with pytest.raises(TypeError, match="str"):
        clean_question(42)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def vqa(tiny_models):
    return load(tiny_models["vqa"], hints={"*": "f32"})


@pytest.fixture(scope="module")
def captioner(tiny_models):
    return load(tiny_models["caption"], hints={"*": "f32"})


def test_undecodable_question_is_answered(vqa, images):
    expected = vqa.ask(images[0], "what \ufffd color is the circle?", max_new_tokens=5)
    for question in ("what \udcff color is the circle?", "what \ud800 color is the circle?",
                     b"what \xff color is the circle?"):
        answer = vqa.ask(images[0], question, max_new_tokens=5)  # type: ignore[arg-type]
        assert answer.token_ids == expected.token_ids and answer.text == expected.text
        assert answer.question == "what \ufffd color is the circle?"
        json.dumps(answer.to_dict(), ensure_ascii=False).encode("utf-8")  # what `ask --json` prints


def test_question_of_control_characters_is_an_empty_question(vqa, captioner, images):
    with pytest.raises(GlimpseError, match="cannot write captions") as empty:
        vqa.ask(images[0], "")
    with pytest.raises(GlimpseError, match="cannot write captions") as controls:
        vqa.ask(images[0], "\x00\x01\x1b\u200b\t")
    assert str(controls.value) == str(empty.value)

    caption = captioner.caption(images[1], max_new_tokens=6)
    answer = captioner.ask(images[1], "\x01\x02\x7f", max_new_tokens=6)
    assert answer.token_ids == caption.token_ids and answer.question == ""


def test_caption_prompt_is_cleaned(captioner, images):
    plain = captioner.caption(images[2], prompt="a picture of", max_new_tokens=6)
    messy = captioner.caption(images[2], prompt=" a\x00 picture\n of\udcff", max_new_tokens=6)
    assert messy.question == "a picture of\ufffd"
    assert messy.text.startswith("a picture of") and plain.text.startswith("a picture of")


def test_cli_question_with_invalid_utf8_bytes(tiny_models, tmp_path):
    from PIL import Image

    picture = tmp_path / "red.png"
    Image.new("RGB", (32, 32), (255, 0, 0)).save(picture)
    argv = [sys.executable, "-m", "model_tools.cli", "ask", "--image", str(picture), "--model", str(tiny_models["vqa"]),
            "--question", "what \udcff color?", "--max-new-tokens", "3", "--json"]
    # The OS hands the program bytes; os.fsencode turns the surrogate escape back into the byte 0xFF.
    done = subprocess.run([os.fsencode(a) for a in argv], capture_output=True, timeout=300)
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    assert b"Traceback" not in done.stderr
    answer = json.loads(done.stdout.decode("utf-8"))
    assert answer["question"] == "what \ufffd color?" and answer["token_ids"]
