"""Markdown export: short headings, escaped text, pictures copied beside the export and linked relatively."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote

from PIL import Image

from desktop_app.session.conversation import DONE, FAILED, HEADING_CHARS, Conversation, Turn, escape_markdown


def _picture(path: Path, color: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 6), color).save(path)
    return path


def _headings(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("## ")]


def test_a_long_question_gets_a_short_heading_and_keeps_its_words_in_the_body(tmp_path):
    question = "is the circle " + "really " * 700 + "red?"  # about 5,000 characters
    out = tmp_path / "chat.md"
    Conversation([Turn(question, None, answer="yes", status=DONE)]).save_markdown(out)
    text = out.read_text(encoding="utf-8")
    (heading,) = _headings(text)
    assert len(heading) <= len("## 1. ") + HEADING_CHARS + 1
    assert heading.startswith("## 1. is the circle really") and heading.endswith("…")
    assert f"**You:** {question}" in text  # nothing of it lost


def test_markdown_and_html_in_questions_and_answers_are_shown_as_typed(tmp_path):
    question = "# what is <b>this</b>? *bold* [link](http://x) & `code`\n- a list?\n1. or this"
    answer = "<script>alert(1)</script> **no** _under_"
    out = tmp_path / "chat.md"
    Conversation(
        [
            Turn(question, None, answer=answer, status=DONE),
            Turn("why?", None, status=FAILED, error="<i>boom</i>"),
        ]
    ).save_markdown(out)
    text = out.read_text(encoding="utf-8")
    assert "<b>" not in text and "<script>" not in text and "<i>" not in text
    assert "[link](" not in text and "*bold*" not in text and "**no**" not in text
    assert r"\<script\>alert(1)\</script\>" in text
    assert r"\# what is \<b\>this\</b\>? \*bold\* \[link\](http://x) \& \`code\`" in text
    assert "  \n\\- a list?  \n1\\. or this" in text  # no list made of the question's lines
    assert r"_Could not answer: \<i\>boom\</i\>_" in text
    (first, _) = _headings(text)
    assert first.startswith(r"## 1. \# what is \<b\>")  # the heading is one heading, not two
    assert escape_markdown("a red circle") == "a red circle"  # plain answers stay plain


def test_pictures_are_copied_beside_the_export_and_linked_relatively(tmp_path):
    red = _picture(tmp_path / "pictures" / "my photo (1).png", "red")
    other_red_name = _picture(tmp_path / "elsewhere" / "my photo (1).png", "blue")  # same name, other picture
    turns = [
        Turn("what color?", str(red), answer="red", status=DONE),
        Turn("and now?", str(red), answer="red", status=DONE),
        Turn("and this?", str(other_red_name), answer="blue", status=DONE),
        Turn("gone?", str(tmp_path / "deleted.png"), answer="?", status=DONE),
    ]
    out = tmp_path / "export" / "chat.md"
    out.parent.mkdir()
    Conversation(turns).save_markdown(out)
    text = out.read_text(encoding="utf-8")
    assert "file://" not in text and str(tmp_path) not in text
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert len(links) == 3 and links[0] == links[1] != links[2]
    for link, source in zip(links, [red, red, other_red_name], strict=True):
        assert not link.startswith("/")
        assert (out.parent / unquote(link)).read_bytes() == source.read_bytes()
    assert sorted(p.name for p in (out.parent / "chat_files").iterdir()) == [
        "my photo (1)-2.png",
        "my photo (1).png",
    ]
    assert "_Picture deleted.png (not found when exported)_" in text


def test_exporting_again_never_overwrites_a_users_file(tmp_path):
    red = _picture(tmp_path / "pictures" / "photo.png", "red")
    out = tmp_path / "chat.md"
    folder = tmp_path / "chat_files"
    folder.mkdir()
    users = folder / "photo.png"
    users.write_bytes(b"the user's own file, not our copy")
    conversation = Conversation([Turn("what color?", str(red), answer="red", status=DONE)])

    conversation.save_markdown(out)
    assert users.read_bytes() == b"the user's own file, not our copy"
    assert "](chat_files/photo-2.png)" in out.read_text(encoding="utf-8")
    assert (folder / "photo-2.png").read_bytes() == red.read_bytes()

    conversation.save_markdown(out)  # again: our own copy is used, no third file
    assert sorted(p.name for p in folder.iterdir()) == ["photo-2.png", "photo.png"]
    assert "](chat_files/photo-2.png)" in out.read_text(encoding="utf-8")
