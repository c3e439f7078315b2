"""Nothing lost without a word: the conversation comes back after a restart, and Clear can be undone."""

from __future__ import annotations

import json

from PySide6.QtCore import Qt

from desktop_app.session.autosave import autosave_file
from tests.desktop_app.conftest import ANSWER_TIMEOUT_MS, open_pictures, wait_answer


def _restarted(qtbot, make_window, model, old):
    """Close `old` like the user does, and start a new window on the same private folders."""
    old.close()
    win = make_window(model)
    qtbot.waitUntil(lambda: win.image_panel.strip.count() > 0, timeout=ANSWER_TIMEOUT_MS)
    return win


def test_the_conversation_comes_back_after_a_restart(qtbot, make_window, tiny_models, picture_files):
    win = make_window(tiny_models["vqa"])
    open_pictures(qtbot, win, [picture_files[0], picture_files[1]])
    first = win.ask("what color is the circle?")
    wait_answer(qtbot, win, first)
    win.image_panel.select(picture_files[0].resolve())
    second = win.ask("how many shapes are there?")
    wait_answer(qtbot, win, second)
    kept = json.loads(autosave_file().read_text(encoding="utf-8"))  # written after each finished turn
    assert [t["answer"] for t in kept["turns"]] == [first.answer, second.answer]

    again = _restarted(qtbot, make_window, tiny_models["vqa"], win)
    assert [(t.question, t.answer, t.status) for t in again.conversation.turns] == [
        ("what color is the circle?", first.answer, "done"),
        ("how many shapes are there?", second.answer, "done"),
    ]
    assert [v.answer.text.text() for v in again.chat.views] == [first.answer, second.answer]
    assert "Restored your last conversation" in again.notification.message()
    qtbot.waitUntil(lambda: again.image_panel.strip.count() == 2, timeout=ANSWER_TIMEOUT_MS)
    assert {str(i.path) for i in again.image_panel.images} == {
        str(picture_files[0].resolve()),
        str(picture_files[1].resolve()),
    }
    qtbot.waitUntil(lambda: all(not v.question.thumb.icon().isNull() for v in again.chat.views))

    # It goes on from there: a new question joins the restored ones.
    third = again.ask("what?")
    wait_answer(qtbot, again, third)
    assert len(json.loads(autosave_file().read_text(encoding="utf-8"))["turns"]) == 3


def test_closing_mid_answer_keeps_every_turn(qtbot, make_window, tiny_models, picture_files, held_generation):
    win = make_window(tiny_models["vqa"])
    open_pictures(qtbot, win, [picture_files[1]])
    win.model_bar.max_tokens.setValue(60)
    win.ask("what color is the circle?")
    win.ask("how many shapes are there?")  # still waiting when the window closes
    qtbot.waitUntil(held_generation.held.is_set, timeout=ANSWER_TIMEOUT_MS)
    qtbot.waitUntil(lambda: win.conversation.turns[0].answer != "", timeout=ANSWER_TIMEOUT_MS)
    partial = win.conversation.turns[0].answer

    again = _restarted(qtbot, make_window, tiny_models["vqa"], win)
    turns = again.conversation.turns
    assert [t.question for t in turns] == ["what color is the circle?", "how many shapes are there?"]
    assert turns[0].answer == partial and turns[0].status == "stopped"
    assert turns[1].status == "stopped"
    assert len(again.chat.views) == 2


def test_clear_then_undo_brings_the_turns_back(qtbot, make_window, tiny_models, picture_files):
    win = make_window(tiny_models["vqa"])
    open_pictures(qtbot, win, [picture_files[0]])
    turn = win.ask("what color is the circle?")
    wait_answer(qtbot, win, turn)

    win.ask_bar.edit.setFocus()
    qtbot.keyClick(
        win.ask_bar.edit,
        Qt.Key.Key_Delete,
        Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier,
    )
    assert win.conversation.turns == [] and win.chat.views == []
    assert win.notification.message() == "Conversation cleared (1 turn) · Undo: Ctrl+Z"
    assert not autosave_file().exists()  # cleared is cleared, also for the next start...

    qtbot.keyClicks(win.ask_bar.edit, "typed")
    qtbot.keyClick(win.ask_bar.edit, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert win.ask_bar.edit.toPlainText() == "" and win.conversation.turns == []  # the typing first
    qtbot.keyClick(win.ask_bar.edit, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert win.conversation.turns == [turn]
    assert [v.answer.text.text() for v in win.chat.views] == [turn.answer]
    assert not win.notification.isVisible() and not win.undo_clear_action.isEnabled()
    assert json.loads(autosave_file().read_text(encoding="utf-8"))["turns"][0]["answer"] == turn.answer

    # ...and the notice's button does the same.
    win.clear_action.trigger()
    assert win.chat.views == []
    qtbot.mouseClick(win.notification.action_button, Qt.MouseButton.LeftButton)
    assert win.conversation.turns == [turn] and len(win.chat.views) == 1


def test_undo_clear_ends_with_the_next_question(qtbot, make_window, tiny_models, picture_files):
    win = make_window(tiny_models["vqa"])
    open_pictures(qtbot, win, [picture_files[0]])
    wait_answer(qtbot, win, win.ask("what color is the circle?"))
    win.clear_action.trigger()
    assert win.undo_clear_action.isEnabled()
    newer = win.ask("how many shapes are there?")
    assert not win.undo_clear_action.isEnabled()
    win.undo_clear_action.trigger()  # nothing to undo: the new question stays
    wait_answer(qtbot, win, newer)
    assert win.conversation.turns == [newer]


def test_opening_a_saved_conversation_can_be_undone(qtbot, make_window, tiny_models, picture_files, tmp_path):
    win = make_window(tiny_models["vqa"])
    open_pictures(qtbot, win, [picture_files[0]])
    saved = win.ask("what color is the circle?")
    wait_answer(qtbot, win, saved)
    assert win.files.save(tmp_path / "saved.json")
    current = win.ask("how many shapes are there?")
    wait_answer(qtbot, win, current)
    assert win.files.open(tmp_path / "saved.json")
    assert [t.question for t in win.conversation.turns] == ["what color is the circle?"]
    assert "Undo" in win.notification.message()
    win.undo_clear_action.trigger()
    assert [t.question for t in win.conversation.turns] == [
        "what color is the circle?",
        "how many shapes are there?",
    ]


def test_an_unreadable_autosave_is_put_aside(qtbot, make_window, tiny_models, private_config):
    private_config.mkdir(parents=True, exist_ok=True)
    autosave_file().write_text('{"format": "glimpse-conversation", "turns": [', encoding="utf-8")
    win = make_window(tiny_models["vqa"])
    assert win.conversation.turns == [] and win.chat.empty.isVisible()
    assert (private_config / "last-conversation.json.bad").exists()
    assert not autosave_file().exists()


def test_a_window_that_does_not_persist_keeps_nothing(qtbot, make_window, tiny_models, picture_files):
    win = make_window(tiny_models["vqa"], persist=False)
    open_pictures(qtbot, win, [picture_files[0]])
    wait_answer(qtbot, win, win.ask("what?"))
    win.close()
    assert not autosave_file().exists()
