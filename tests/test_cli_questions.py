"""`model-tools ask` with a question of only control characters asks for a caption, as an empty one does."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from PIL import Image


def ask(image, question: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-m", "model_tools.cli", "ask", "--image", str(image), "--question", question, "--json"],
        capture_output=True, text=True, env=os.environ.copy(), check=True,
    )
    return json.loads(out.stdout)


def test_a_question_of_control_characters_gets_the_caption_an_empty_question_gets(tmp_path):
    image = tmp_path / "shapes.png"
    Image.new("RGB", (96, 96), "white").save(image)
    caption = ask(image, "")
    assert caption["task"] == "caption" and caption["text"]
    odd = ask(image, "\x01\x07\x1b")
    assert (odd["task"], odd["text"], odd["token_ids"]) == ("caption", caption["text"], caption["token_ids"])
