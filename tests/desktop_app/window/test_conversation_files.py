"""Copy, clear, save and export (JSON, Markdown), and open a saved conversation again."""

from __future__ import annotations

import json

from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QFileDialog

from desktop_app.session.conversation import Conversation
from tests.desktop_app.conftest import ANSWER_TIMEOUT_MS, error_dialog, open_pictures, wait_answer


def test_save_export_and_reopen(qtbot, make_window, vqa_with_partner, picture_files, tmp_path, monkeypatch):
    win = make_window(vqa_with_partner)
    open_pictures(qtbot, win, [picture_files[0], picture_files[1]])
    asked = win.ask("how many shapes are there?\nand what color?")
    wait_answer(qtbot, win, asked)
    win.image_panel.select(picture_files[0].resolve())
    described = win.describe()
    wait_answer(qtbot, win, described)

    win.copy_answer_action.trigger()
    assert QGuiApplication.clipboard().text() == described.answer

    saved = tmp_path / "chat.json"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(lambda *a, **k: (str(saved), "")))
    win.save_action.trigger()
    data = json.loads(saved.read_text(encoding="utf-8"))
    assert data["format"] == "glimpse-conversation" and len(data["turns"]) == 2
    first, second = data["turns"]
    assert first["image"] == str(picture_files[1].resolve())
    assert first["question"] == "how many shapes are there?\nand what color?"
    assert first["answer"] == asked.answer and first["status"] == "done"
    assert first["metrics"]["new_tokens"] > 0
    assert {"ttft_s", "total_s", "tokens_per_s"} <= set(first["metrics"])
    assert (first["precision"], first["device"], first["task"]) == ("fp16", "CPU", "vqa")
    assert (
        second["describe"]
        and second["task"] == "caption"
        and second["image"] == str(picture_files[0].resolve())
    )

    markdown = tmp_path / "chat.md"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(lambda *a, **k: (str(markdown), "")))
    win.export_action.trigger()
    text = markdown.read_text(encoding="utf-8")
    assert "# Glimpse conversation" in text
    assert "how many shapes are there?" in text and asked.answer in text and described.answer in text
    assert "file://" not in text  # the pictures travel with the export, linked relatively
    assert "![picture-1.png](chat_files/picture-1.png)" in text
    assert (tmp_path / "chat_files" / "picture-1.png").read_bytes() == picture_files[1].read_bytes()
    assert "first token" in text and "FP16" in text

    win.clear_action.trigger()
    assert win.chat.views == [] and win.conversation.turns == []
    assert win.chat.empty.isVisible()

    # Open it again, in a fresh window: turns come back, with their pictures.
    other = make_window(vqa_with_partner)
    monkeypatch.setattr(QFileDialog, "getOpenFileName", staticmethod(lambda *a, **k: (str(saved), "")))
    with qtbot.waitSignal(other.images_added, timeout=ANSWER_TIMEOUT_MS):
        other.open_conversation_action.trigger()
    assert [t.answer for t in other.conversation.turns] == [asked.answer, described.answer]
    assert len(other.chat.views) == 2
    assert other.chat.views[0].answer.text.text() == asked.answer
    assert "first token" in other.chat.views[0].answer.metrics.text()
    assert other.image_panel.strip.count() == 2
    assert Conversation.load_json(saved).to_dict()["turns"] == data["turns"]


def test_opening_a_bad_conversation_file_reports_and_keeps_the_chat(
    qtbot, make_window, tiny_models, tmp_path, picture_files
):
    win = make_window(tiny_models["vqa"])
    open_pictures(qtbot, win, [picture_files[0]])
    turn = win.ask("what?")
    wait_answer(qtbot, win, turn)
    bad = tmp_path / "not-a-chat.json"
    bad.write_text('{"hello": 1}', encoding="utf-8")
    assert not win.files.open(bad)
    assert "not a Glimpse conversation" in error_dialog(win).summary.text()
    assert len(win.chat.views) == 1  # the current conversation is untouched
    broken = tmp_path / "broken.json"
    broken.write_text("{", encoding="utf-8")
    assert not win.files.open(broken)
    assert "not valid JSON" in error_dialog(win).summary.text()


def test_save_to_an_unwritable_place_reports(qtbot, make_window, tiny_models, tmp_path):
    win = make_window(tiny_models["vqa"])
    assert not win.files.save(tmp_path / "missing-folder" / "chat.json")
    dialog = error_dialog(win)
    assert dialog is not None
    assert dialog.summary.text() == "Could not write chat.json: No such file or directory."
