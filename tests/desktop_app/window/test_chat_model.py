"""A conversation with a chat model in the window: the tiny LLaVA, real signals, answers token-exact with
the chat runtime run in-process (both in exact precision: f32 and an f32 key/value cache)."""

from __future__ import annotations

import json
import shutil
import threading
from dataclasses import replace

import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication, QFileDialog, QMessageBox

from desktop_app.session.settings import Settings
from model_tools.runtime import ConvertedModel, load
from model_tools.runtime.chat.pipeline import DESCRIBE, ChatPipeline
from model_tools.runtime.image_input import image_input
from model_tools.runtime.model_folder import file_record
from tests.desktop_app.conftest import ANSWER_TIMEOUT_MS, LOAD_TIMEOUT_MS, error_dialog, open_pictures

Q1, Q2, Q3 = "what is in the picture?", "what color is the shape?", "how many shapes are there?"
TOKENS = 16  # the tiny model's answers run to the limit: every answer has this many tokens


@pytest.fixture(scope="module")
def reference(tiny_chat_model) -> ChatPipeline:
    """The chat runtime itself, outside the window, loaded as the window loads it (exact precision)."""
    pipe = load(tiny_chat_model, exact=True)
    assert isinstance(pipe, ChatPipeline)
    return pipe


def run(pipe: ChatPipeline, *messages, tokens: int = TOKENS, fresh: bool = True) -> list:
    """The answers of `pipe` to `messages` [(pictures, text)], in one conversation (a new one if `fresh`)."""
    if fresh:
        pipe.reset()
    return [pipe.ask(pictures, text, max_new_tokens=tokens) for pictures, text in messages]


@pytest.fixture
def chat_window(make_window, tiny_chat_model):
    """A window on the tiny chat model, in exact precision, answers of TOKENS tokens."""

    def make(model=tiny_chat_model, **kwargs):
        settings = Settings(exact_precision=True, chat_max_new_tokens=TOKENS)
        return make_window(model, settings=settings, **kwargs)

    return make


def send(qtbot, win, text: str):
    """Type `text` into the question box and press Enter; returns (turn, answer, chunks) once answered."""
    chunks: list[str] = []

    def on_text(_turn, chunk):
        chunks.append(chunk)

    win.controller.text_received.connect(on_text)
    try:
        win.ask_bar.edit.setPlainText(text)
        with qtbot.waitSignal(win.controller.answer_finished, timeout=ANSWER_TIMEOUT_MS) as blocker:
            qtbot.keyClick(win.ask_bar.edit, Qt.Key.Key_Return)
    finally:
        win.controller.text_received.disconnect(on_text)
    turn, answer = blocker.args
    return turn, answer, chunks


def answer_to(dialog_name: str, button: QMessageBox.StandardButton) -> None:
    """Press `button` of the question box called `dialog_name` once it is up (it runs its own event loop)."""

    def press() -> None:
        box = next((w for w in QApplication.topLevelWidgets() if w.objectName() == dialog_name and w.isVisible()),
                   None)
        if box is None:
            QTimer.singleShot(20, press)
            return
        box.button(button).click()

    QTimer.singleShot(0, press)


def test_two_turn_conversation_streams_and_matches_the_runtime(
    qtbot, chat_window, tiny_chat_model, picture_files, reference
):
    win = chat_window()
    assert win.chat_mode and win.models.current.task == "chat"
    bar = win.model_bar
    # The precision switch: a radio per precision a chat model may have; the tiny model has FP16 only.
    assert [k for k, b in bar.precision_buttons.items() if b.isVisibleTo(win)] == ["fp16", "int8", "int4"]
    assert bar.precision_buttons["fp16"].isChecked() and bar.precision_buttons["fp16"].isEnabled()
    assert not bar.precision_buttons["int4"].isEnabled()
    assert "no INT4 version" in bar.precision_buttons["int4"].toolTip()
    assert "(chat)" in bar.model_combo.currentText()
    assert win.models.current.history == ()  # the warm-up is no part of the conversation

    open_pictures(qtbot, win, [picture_files[1]])
    picture = picture_files[1].resolve()
    first, a1, chunks1 = send(qtbot, win, Q1)
    second, a2, chunks2 = send(qtbot, win, Q2)  # the picture is still selected: the model has it already

    expected = run(reference, ([picture], Q1), ([], Q2))
    assert a1.token_ids == expected[0].token_ids and a2.token_ids == expected[1].token_ids
    assert (first.answer, second.answer) == (expected[0].text, expected[1].text)
    assert len(chunks1) >= 3 and len(chunks2) >= 3, "the answers should stream in several chunks"
    assert "".join(chunks1) == first.answer and "".join(chunks2) == second.answer
    assert first.images == [str(picture)] and first.image == str(picture)
    assert second.images == [] and second.image is None
    assert [(t.role, t.text) for t in win.models.current.history] == [
        ("user", Q1), ("assistant", first.answer), ("user", Q2), ("assistant", second.answer)
    ]
    # The chat pane: the answers as text, metrics per answer as for BLIP, the follow-up without a thumbnail.
    views = win.chat.views
    qtbot.waitUntil(lambda: views[-1].answer.text.text() == second.answer, timeout=2000)
    metrics = views[0].answer.metrics.text()
    assert "first token" in metrics and "tokens/s" in metrics and f"{TOKENS} tokens" in metrics
    assert "FP16" in metrics and "CPU" in metrics and "beam" not in metrics
    assert views[0].question.thumb.isVisibleTo(win) and not views[1].question.thumb.isVisibleTo(win)
    assert first.task == "chat" and first.prompt == Q1 and first.num_beams == 0


def test_an_empty_message_asks_for_a_description_and_several_pictures_go_with_one(
    qtbot, chat_window, picture_files, reference
):
    win = chat_window()
    pictures = [p.resolve() for p in picture_files[:3]]
    open_pictures(qtbot, win, pictures)
    # Ctrl+click adds pictures to the message: the first and the third, the third current.
    strip = win.image_panel.strip
    for row in (0, 2):
        rect = strip.visualItemRect(strip.item(row))
        qtbot.mouseClick(strip.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.ControlModifier,
                         rect.center())
    assert win.attachments() == [pictures[0], pictures[2]]
    turn, answer, _ = send(qtbot, win, "")  # empty: describe the pictures
    assert turn.describe and turn.images == [str(pictures[0]), str(pictures[2])]
    assert turn.prompt == DESCRIBE
    assert answer.token_ids == run(reference, ([pictures[0], pictures[2]], ""))[0].token_ids
    assert len(win.chat.views[-1].question.more_thumbs) == 1
    assert win.attachments() == []  # both were sent: a follow-up goes without them
    # Another picture chosen later goes with the next message.
    win.image_panel.select(pictures[1])
    assert win.attachments() == [pictures[1]]
    follow, answer, _ = send(qtbot, win, Q2)
    expected = run(reference, ([pictures[0], pictures[2]], ""), ([pictures[1]], Q2))
    assert follow.images == [str(pictures[1])] and answer.token_ids == expected[1].token_ids


def test_esc_stops_an_answer_and_keeps_its_part(qtbot, chat_window, picture_files, reference, monkeypatch):
    """The pipeline holds after its first chunk until Esc sets the cancel event (then stops at that token)."""
    ask = ChatPipeline.ask
    held = threading.Event()

    def holding_ask(self, pictures, text, *, on_text=None, cancel=None, **kwargs):
        def hold(chunk):
            on_text(chunk)
            held.set()
            if not cancel.wait(30):
                raise AssertionError("the test never pressed Esc")

        return ask(self, pictures, text, on_text=hold if on_text else None, cancel=cancel, **kwargs)

    win = chat_window()
    win.model_bar.max_tokens.setValue(200)
    assert win.settings.chat_max_new_tokens == 200
    open_pictures(qtbot, win, [picture_files[0]])
    monkeypatch.setattr(ChatPipeline, "ask", holding_ask)
    chunks: list[str] = []
    win.controller.text_received.connect(lambda _turn, chunk: chunks.append(chunk))
    turn = win.ask(Q1)
    qtbot.waitUntil(held.is_set, timeout=ANSWER_TIMEOUT_MS)
    qtbot.waitUntil(lambda: bool(chunks), timeout=ANSWER_TIMEOUT_MS)
    assert win.ask_bar.stop_button.isVisible()
    win.activateWindow()
    win.ask_bar.edit.setFocus()
    qtbot.waitUntil(win.ask_bar.edit.hasFocus, timeout=2000)  # the window is active: its shortcuts work
    with qtbot.waitSignal(win.controller.answer_finished, timeout=ANSWER_TIMEOUT_MS) as blocker:
        qtbot.keyClick(win.ask_bar.edit, Qt.Key.Key_Escape)
    _, answer = blocker.args
    assert answer.cancelled and turn.status == "stopped"
    assert turn.answer == answer.text and turn.answer.startswith(chunks[0])
    # Stopped at the token whose text was held: a prefix of the whole answer, far from its 200 tokens.
    whole = run(reference, ([picture_files[0].resolve()], Q1), tokens=200)[0]
    assert 1 <= len(answer.token_ids) < 100 and answer.token_ids == whole.token_ids[: len(answer.token_ids)]
    assert "".join(chunks) == turn.answer
    qtbot.waitUntil(lambda: "Stopped" in win.chat.views[-1].answer.status.text(), timeout=2000)
    # The partial answer stays in the model's conversation: the next question follows it.
    monkeypatch.undo()
    follow, _, _ = send(qtbot, win, Q2)
    history = win.models.current.history
    assert [(t.role, t.text) for t in history] == [
        ("user", Q1), ("assistant", turn.answer), ("user", Q2), ("assistant", follow.answer)
    ]


def test_new_conversation_and_clear_start_the_model_over(
    qtbot, chat_window, picture_files, reference, tmp_path, monkeypatch
):
    win = chat_window()
    picture = picture_files[2].resolve()
    open_pictures(qtbot, win, [picture])
    send(qtbot, win, Q1)
    send(qtbot, win, Q2)
    fresh = run(reference, ([picture], Q1))[0]

    # New Conversation asks first (two turns were never saved); Cancel keeps them.
    answer_to("newConversationQuestion", QMessageBox.StandardButton.Cancel)
    win.new_conversation_action.trigger()
    assert len(win.conversation.turns) == 2 and len(win.models.current.history) == 4
    # Start New: the model forgets; the next answer is a first turn's again.
    answer_to("newConversationQuestion", QMessageBox.StandardButton.Discard)
    win.new_conversation_action.trigger()
    assert win.conversation.turns == [] and win.undo_clear_action.isEnabled()
    again, answer, _ = send(qtbot, win, Q1)  # the picture goes again: the new conversation has not seen it
    assert again.images == [str(picture)]
    assert answer.token_ids == fresh.token_ids
    assert [t.text for t in win.models.current.history] == [Q1, again.answer]

    # Saved turns: no question; Clear, then Undo brings the turns back to the model too.
    saved = tmp_path / "chat.json"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(lambda *a, **k: (str(saved), "")))
    win.save_action.trigger()
    assert win.files.unsaved() == 0
    win.new_conversation_action.trigger()  # would block on a question if it asked one
    assert win.conversation.turns == []
    win.undo_clear_action.trigger()
    assert len(win.conversation.turns) == 1
    follow, answer, _ = send(qtbot, win, Q2)
    assert answer.token_ids == run(reference, ([picture], Q1), ([], Q2))[1].token_ids
    # Clear (Ctrl+Shift+Delete): the same reset, with an empty message asking for a description.
    win.clear_action.trigger()
    described, answer, _ = send(qtbot, win, "")
    assert described.describe and described.images == [str(picture)]
    assert answer.token_ids == run(reference, ([picture], DESCRIBE))[0].token_ids


def test_saved_conversation_reopens_and_the_model_continues_it(
    qtbot, chat_window, picture_files, reference, tmp_path, monkeypatch
):
    win = chat_window()
    pictures = [p.resolve() for p in picture_files[:2]]
    open_pictures(qtbot, win, pictures)
    win.image_panel.select_several(pictures)
    first, _, _ = send(qtbot, win, Q1)
    second, _, _ = send(qtbot, win, Q2)
    saved = tmp_path / "chat.json"
    markdown = tmp_path / "chat.md"
    assert win.files.save(saved) and win.files.export(markdown)
    data = json.loads(saved.read_text(encoding="utf-8"))
    assert [(t["question"], t["images"], t["answer"]) for t in data["turns"]] == [
        (Q1, [str(p) for p in pictures], first.answer), (Q2, [], second.answer)
    ]
    text = markdown.read_text(encoding="utf-8")
    assert all(f"chat_files/{p.name}" in text for p in pictures) and text.count("**Glimpse:**") == 2

    win.clear_action.trigger()
    assert win.files.open(saved)
    assert [t.answer for t in win.conversation.turns] == [first.answer, second.answer]
    third, answer, _ = send(qtbot, win, Q3)
    expected = run(reference, (pictures, Q1), ([], Q2), ([], Q3))
    assert (first.answer, second.answer) == (expected[0].text, expected[1].text)
    assert answer.token_ids == expected[2].token_ids
    assert len(win.models.current.history) == 6


def test_switching_to_blip_and_back_keeps_the_pictures_and_the_conversation(
    qtbot, chat_window, tiny_models, tiny_chat_model, picture_files
):
    win = chat_window()
    open_pictures(qtbot, win, picture_files[:3])
    win.image_panel.select(picture_files[1].resolve())
    send(qtbot, win, Q1)
    shown = [image.path for image in win.image_panel.images]
    bar = win.model_bar

    def choose(model):
        with qtbot.waitSignal(win.models.loaded, timeout=LOAD_TIMEOUT_MS):
            index = bar.model_combo.findData(str(model.resolve()))
            if index < 0:
                win.session.choose_model(model)
            else:
                bar.model_combo.setCurrentIndex(index)
                bar.model_combo.activated.emit(index)

    choose(tiny_models["vqa"])
    assert win.models.current.task == "vqa" and not win.chat_mode
    assert [image.path for image in win.image_panel.images] == shown and win.image_panel.strip.count() == 3
    assert not bar.precision_buttons["int4"].isVisibleTo(win) and bar.beams.isEnabled()
    assert win.controller.max_new_tokens == win.settings.max_new_tokens
    vqa = win.ask("what color is the circle?")
    qtbot.waitUntil(lambda: vqa.finished, timeout=ANSWER_TIMEOUT_MS)
    assert vqa.status == "done" and vqa.task == "vqa"

    choose(tiny_chat_model)
    assert win.chat_mode and [image.path for image in win.image_panel.images] == shown
    assert bar.precision_buttons["int4"].isVisibleTo(win) and win.controller.max_new_tokens == TOKENS
    # The new chat model continues the conversation shown, the BLIP turn too.
    follow, _, _ = send(qtbot, win, Q2)
    assert follow.status == "done"
    assert [t.text for t in win.models.current.history] == [
        Q1, win.conversation.turns[0].answer, "what color is the circle?", vqa.answer, Q2, follow.answer
    ]


def test_int4_version_is_offered_and_answers(qtbot, chat_window, tiny_chat_model, picture_files, tmp_path):
    from model_tools.jobs.requests import QuantizeRequest
    from model_tools.quantize import quantize

    model = tmp_path / "tiny-chat"
    shutil.copytree(tiny_chat_model, model)
    quantize(QuantizeRequest(model, weights="int4", group_size=16, ratio=1.0))
    win = chat_window(model)
    buttons = win.model_bar.precision_buttons
    assert buttons["int4"].isEnabled() and not buttons["int8"].isEnabled()
    open_pictures(qtbot, win, [picture_files[0]])
    with qtbot.waitSignal(win.models.loaded, timeout=LOAD_TIMEOUT_MS):
        buttons["int4"].click()
    assert win.models.spec.precision == "int4" and buttons["int4"].isChecked()
    turn, answer, _ = send(qtbot, win, Q1)
    assert turn.precision == "int4" and turn.status == "done" and answer.token_ids
    assert "INT4" in win.chat.views[-1].answer.metrics.text()


def test_a_folder_the_chat_runtime_refuses_is_explained(qtbot, chat_window, tiny_chat_model, tmp_path):
    """A chat folder of a model type VLMPipeline cannot run: the one presenter says which, with the fix."""
    model = tmp_path / "odd-chat"
    shutil.copytree(tiny_chat_model, model)
    config = model / "fp16" / "config.json"
    config.write_text(json.dumps({**json.loads(config.read_text()), "model_type": "blip-2"}), encoding="utf-8")
    manifest = json.loads((model / "manifest.json").read_text(encoding="utf-8"))
    manifest["precisions"]["fp16"]["files"]["fp16/config.json"] = file_record(model, "fp16/config.json")
    manifest["model_type"] = "blip-2"
    (model / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    win = chat_window(model, wait=False)
    qtbot.waitUntil(lambda: error_dialog(win) is not None, timeout=LOAD_TIMEOUT_MS)
    dialog = error_dialog(win)
    assert "'blip-2'" in dialog.summary.text() and "VLMPipeline cannot run" in dialog.summary.text()
    assert "Choose a LLaVA model" in dialog.fix.text()


def test_the_picture_size_sent_is_shown_and_a_limit_reaches_the_model(
    qtbot, chat_window, tiny_chat_model, tiny_models, picture_files, tmp_path
):
    win = chat_window()
    combo = win.image_panel.image_size.combo
    fixed = image_input(win.models.current.model, "fp16")
    # The tiny LLaVA scales every picture to its tower's square: said, and nothing to choose.
    assert combo.currentText() == fixed.short and "fixed by the model" in combo.toolTip()
    assert not combo.isEnabled() and fixed.words in combo.toolTip()

    # A model that takes pictures at their own size offers limits; the one chosen is kept in the settings.
    dynamic = shutil.copytree(tiny_chat_model, tmp_path / "dynamic")
    manifest = json.loads((dynamic / "manifest.json").read_text())
    manifest["model_type"] = "qwen2_vl"
    (dynamic / "manifest.json").write_text(json.dumps(manifest))
    box = win.image_panel.image_size
    box.show_input(ConvertedModel.open(dynamic), "fp16")
    assert combo.isEnabled() and combo.itemText(0) == "Full size" and combo.count() == 5
    with qtbot.waitSignal(box.side_chosen) as chosen:
        combo.setCurrentIndex(combo.findData(768))
        combo.activated.emit(combo.currentIndex())
    assert chosen.args == [768]
    assert win.controller.image_side == 768 and win.settings.chat_image_side == 768

    # The loaded model gets the limit with the next question (as a model that takes any size would).
    box.show_input(win.models.current.model, "fp16")
    pipe = win.models.current
    pipe.image_input = replace(pipe.image_input, fixed=None)
    open_pictures(qtbot, win, [picture_files[1]])
    send(qtbot, win, Q1)
    assert pipe.image_side == 768
    # BLIP says its size too.
    blip = image_input(ConvertedModel.open(tiny_models["vqa"]), "fp16")
    box.show_input(ConvertedModel.open(tiny_models["vqa"]), "fp16")
    assert combo.currentText() == blip.short and not combo.isEnabled()
