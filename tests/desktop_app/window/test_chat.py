"""Asking, describing, streaming, stopping and switching models, with the tiny models on worker threads."""

from __future__ import annotations

import threading
import time

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence

from desktop_app.session.workers import GenerationWorker
from model_tools.runtime import ConvertedModel, load
from tests.desktop_app.conftest import (
    ANSWER_TIMEOUT_MS,
    LOAD_TIMEOUT_MS,
    Heartbeat,
    error_dialog,
    open_pictures,
    wait_answer,
)

QUESTION = "what color is the circle?"


@pytest.fixture(scope="module")
def reference(tiny_models):
    """The runtime itself, outside the window, for the expected answers."""
    pipes = {task: load(path) for task, path in tiny_models.items()}

    def answer(task, image, question="", max_new_tokens=30, describe=False):
        pipe = pipes[task]
        if describe:
            return pipe.caption(image, max_new_tokens=max_new_tokens)
        return pipe.ask(image, question, max_new_tokens=max_new_tokens)

    return answer


def test_ask_streams_tokens_and_matches_the_runtime(
    qtbot, make_window, tiny_models, picture_files, reference
):
    win = make_window(tiny_models["vqa"])
    open_pictures(qtbot, win, [picture_files[1]])
    chunks: list[str] = []
    on_gui_thread: list[bool] = []
    main = threading.get_ident()

    def on_text(turn, chunk):
        chunks.append(chunk)
        on_gui_thread.append(threading.get_ident() == main)

    win.controller.text_received.connect(on_text)
    win.ask_bar.edit.setPlainText(QUESTION)
    with qtbot.waitSignal(win.controller.answer_finished, timeout=ANSWER_TIMEOUT_MS) as blocker:
        qtbot.keyClick(win.ask_bar.edit, Qt.Key.Key_Return)  # Enter sends
    turn, answer = blocker.args
    expected = reference("vqa", picture_files[1], QUESTION)
    assert len(chunks) >= 3, "expected several text_received signals"
    assert all(on_gui_thread)
    assert "".join(chunks) == expected.text == answer.text == turn.answer
    assert answer.token_ids == expected.token_ids
    assert win.ask_bar.edit.toPlainText() == ""  # sent, so cleared

    view = win.chat.views[-1]
    qtbot.waitUntil(lambda: view.answer.text.text() == expected.text, timeout=2000)
    metrics = view.answer.metrics.text()
    assert "first token" in metrics and "total" in metrics and "tokens/s" in metrics
    assert "FP16" in metrics and "CPU" in metrics
    assert view.question.text.text() == QUESTION
    assert view.answer.accessibleName() == f"Glimpse answered: {expected.text}"
    assert QUESTION in view.question.accessibleName()
    # Copy puts the answer on the clipboard.
    from PySide6.QtGui import QGuiApplication

    view.answer.copy_button.click()
    assert QGuiApplication.clipboard().text() == expected.text
    # Status bar: model, precision, device, load time, memory.
    status = win.status.model.text()
    assert "FP16" in status and "CPU" in status and "loaded in" in status
    assert win.status.memory.text().endswith("MB")


def test_shift_enter_adds_a_line_and_empty_enter_describes(
    qtbot, make_window, tiny_models, picture_files, reference
):
    win = make_window(tiny_models["caption"])
    open_pictures(qtbot, win, [picture_files[0]])
    edit = win.ask_bar.edit
    edit.setFocus()
    qtbot.keyClicks(edit, "a")
    qtbot.keyClick(edit, Qt.Key.Key_Return, Qt.KeyboardModifier.ShiftModifier)
    assert edit.toPlainText() == "a\n"
    assert not win.chat.views
    edit.clear()
    with qtbot.waitSignal(win.controller.answer_finished, timeout=ANSWER_TIMEOUT_MS) as blocker:
        qtbot.keyClick(edit, Qt.Key.Key_Return)  # empty question: a caption
    turn, answer = blocker.args
    assert turn.describe and answer.task == "caption"
    assert answer.text == reference("caption", picture_files[0], describe=True).text


def test_describe_with_a_vqa_model_uses_its_caption_partner(
    qtbot, make_window, vqa_with_partner, picture_files, reference
):
    win = make_window(vqa_with_partner)
    open_pictures(qtbot, win, [picture_files[2]])
    assert win.ask_bar.describe_button.isEnabled()
    with qtbot.waitSignal(win.controller.answer_finished, timeout=LOAD_TIMEOUT_MS) as blocker:
        win.ask_bar.describe_button.click()
    turn, answer = blocker.args
    assert answer.task == "caption" and turn.describe
    assert answer.text == reference("caption", picture_files[2], describe=True).text
    # The VQA model still answers questions afterwards.
    turn = win.ask(QUESTION)
    wait_answer(qtbot, win, turn)
    assert turn.task == "vqa" and turn.answer == reference("vqa", picture_files[2], QUESTION).text


def test_describe_is_disabled_for_a_vqa_model_without_partner(qtbot, make_window, tiny_models, picture_files):
    win = make_window(tiny_models["vqa"])
    open_pictures(qtbot, win, [picture_files[0]])
    assert not win.ask_bar.describe_button.isEnabled()
    assert "answers questions only" in win.ask_bar.describe_button.toolTip()
    assert win.describe() is None
    assert "answers questions only" in win.notification.message()


def test_stop_mid_answer_within_one_decode_step(
    qtbot, make_window, tiny_models, picture_files, held_generation
):
    win = make_window(tiny_models["vqa"])
    open_pictures(qtbot, win, [picture_files[1]])
    win.model_bar.max_tokens.setValue(60)
    assert win.controller.max_new_tokens == 60
    assert win.stop_action.shortcut() == QKeySequence(Qt.Key.Key_Escape)
    first: list[str] = []
    win.controller.text_received.connect(lambda turn, chunk: first.append(chunk))
    turn = win.ask(QUESTION)
    qtbot.waitUntil(lambda: bool(first), timeout=ANSWER_TIMEOUT_MS)
    qtbot.waitUntil(held_generation.held.is_set, timeout=ANSWER_TIMEOUT_MS)  # the second step is running
    assert win.ask_bar.stop_button.isVisible() and win.stop_action.isEnabled()
    with qtbot.waitSignal(win.controller.answer_finished, timeout=ANSWER_TIMEOUT_MS) as blocker:
        win.stop_action.trigger()  # Esc
    _, answer = blocker.args
    assert answer.cancelled and turn.status == "stopped"
    assert len(answer.token_ids) == 2, "the step running when Stop came may finish; no step after it"
    assert held_generation.steps == [2]
    qtbot.waitUntil(lambda: not win.ask_bar.stop_button.isVisible(), timeout=2000)
    assert "Stopped" in win.chat.views[-1].answer.status.text()


def test_switch_device_and_answer_again(qtbot, make_window, tiny_models, picture_files, reference):
    win = make_window(tiny_models["vqa"])
    open_pictures(qtbot, win, [picture_files[0]])
    bar = win.model_bar
    # INT8 is missing from the tiny model: disabled, with a tooltip saying how to make it.
    int8 = bar.precision_buttons["int8"]
    assert not int8.isEnabled()
    assert "Make an INT8 version in Model Tools ▸ Quantize" in int8.toolTip()
    assert bar.precision_buttons["fp16"].isChecked()

    qtbot.waitUntil(lambda: bar.device_combo.findData("AUTO") >= 0, timeout=LOAD_TIMEOUT_MS)
    assert bar.device_combo.itemText(bar.device_combo.findData("CPU")).startswith("CPU (")  # full names
    for device in ("AUTO", "CPU"):
        index = bar.device_combo.findData(device)
        with qtbot.waitSignal(win.models.loaded, timeout=LOAD_TIMEOUT_MS):
            bar.device_combo.setCurrentIndex(index)
            bar.device_combo.activated.emit(index)
        assert win.models.spec.device == device
        assert device in win.status.model.text()
        turn = win.ask(QUESTION)
        wait_answer(qtbot, win, turn)
        assert turn.device == device
        assert turn.answer == reference("vqa", picture_files[0], QUESTION).text


def test_switch_precision_when_an_int8_version_exists(qtbot, make_window, tiny_models, picture_files):
    if not ConvertedModel.open(tiny_models["vqa"]).has("int8"):
        pytest.skip("the tiny model has no INT8 version yet (quantize has not landed)")
    win = make_window(tiny_models["vqa"])
    open_pictures(qtbot, win, [picture_files[0]])
    with qtbot.waitSignal(win.models.loaded, timeout=LOAD_TIMEOUT_MS):
        win.model_bar.precision_buttons["int8"].click()
    assert win.models.spec.precision == "int8"
    turn = win.ask(QUESTION)
    wait_answer(qtbot, win, turn)
    assert turn.precision == "int8" and turn.status == "done"


def test_question_asked_while_loading_waits_then_runs(
    qtbot, make_window, tiny_models, picture_files, reference
):
    win = make_window(tiny_models["vqa"])
    open_pictures(qtbot, win, [picture_files[3]])
    qtbot.waitUntil(lambda: win.model_bar.device_combo.findData("AUTO") >= 0, timeout=LOAD_TIMEOUT_MS)
    from desktop_app.session.model_session import ModelSpec

    win.switch_model(ModelSpec(tiny_models["vqa"], "fp16", "AUTO"))
    assert win.models.busy and win.status.busy.isVisible()
    turn = win.ask(QUESTION)
    assert turn.status == "waiting"
    assert "Waiting for the model" in win.chat.views[-1].answer.status.text()
    wait_answer(qtbot, win, turn)
    assert turn.device == "AUTO" and turn.answer == reference("vqa", picture_files[3], QUESTION).text
    assert not win.status.busy.isVisible()


def test_switching_during_generation_stops_it_first(
    qtbot, make_window, tiny_models, picture_files, held_generation
):
    win = make_window(tiny_models["vqa"])
    open_pictures(qtbot, win, [picture_files[1]])
    win.model_bar.max_tokens.setValue(60)
    qtbot.waitUntil(lambda: win.model_bar.device_combo.findData("AUTO") >= 0, timeout=LOAD_TIMEOUT_MS)
    first = win.ask(QUESTION)
    qtbot.waitUntil(held_generation.held.is_set, timeout=ANSWER_TIMEOUT_MS)
    second = win.ask("how many shapes are there?")  # queued behind the first
    index = win.model_bar.device_combo.findData("AUTO")
    win.model_bar.device_combo.setCurrentIndex(index)
    win.model_bar.device_combo.activated.emit(index)
    qtbot.waitUntil(lambda: first.finished, timeout=ANSWER_TIMEOUT_MS)
    assert first.status == "stopped" and first.device == "CPU"
    # The waiting question runs on the new device (it is held too: stop it there).
    held_generation.held.clear()
    qtbot.waitUntil(held_generation.held.is_set, timeout=LOAD_TIMEOUT_MS)
    win.stop()
    qtbot.waitUntil(lambda: second.finished, timeout=ANSWER_TIMEOUT_MS)
    assert second.device == "AUTO" and second.status == "stopped"


def test_failed_generation_keeps_the_question_and_reports(
    qtbot, make_window, tiny_models, picture_files, monkeypatch
):
    win = make_window(tiny_models["vqa"])
    # No picture yet: the question is not sent, and stays in the box.
    win.ask_bar.edit.setPlainText("what is this?")
    assert win.ask() is None
    assert win.ask_bar.edit.toPlainText() == "what is this?"
    assert "Open a picture first" in win.notification.message()

    open_pictures(qtbot, win, [picture_files[0]])

    def explode(self):
        raise RuntimeError("Exception from src/inference/src/infer_request.cpp: simulated OpenVINO failure")

    monkeypatch.setattr(GenerationWorker, "work", explode)
    with qtbot.waitSignal(win.controller.answer_failed, timeout=ANSWER_TIMEOUT_MS):
        turn = win.ask()
    assert turn.status == "failed"
    assert win.ask_bar.edit.toPlainText() == "what is this?"  # put back
    dialog = error_dialog(win)
    assert dialog is not None and "OpenVINO reported an error" in dialog.summary.text()
    assert "Model in use" in dialog.details.toPlainText()
    assert win.chat.views[-1].answer.status.text() == "Could not answer"

    monkeypatch.undo()
    turn = win.ask()
    wait_answer(qtbot, win, turn)
    assert turn.status == "done"


def test_close_during_generation_leaves_no_thread(
    qtbot, make_window, tiny_models, picture_files, held_generation
):
    win = make_window(tiny_models["vqa"])
    open_pictures(qtbot, win, [picture_files[1]])
    win.model_bar.max_tokens.setValue(60)
    win.ask(QUESTION)
    win.ask("how many shapes are there?")
    qtbot.waitUntil(held_generation.held.is_set, timeout=ANSWER_TIMEOUT_MS)
    assert win.controller.pool.activeThreadCount() >= 1
    start = time.perf_counter()
    win.close()
    elapsed = time.perf_counter() - start
    assert win.threads_stopped is True
    assert elapsed < 1.0
    assert win.controller.pool.activeThreadCount() == 0
    assert held_generation.steps == [2]  # the queued question never started


def test_close_during_loading_leaves_no_thread(qtbot, make_window, tiny_models):
    win = make_window(tiny_models["caption"], wait=False)
    assert win.models.busy
    start = time.perf_counter()
    win.close()
    elapsed = time.perf_counter() - start
    assert win.threads_stopped is True, "a tiny model compiles well within the second"
    assert elapsed < 1.5
    assert win.controller.pool.activeThreadCount() == 0


@pytest.mark.gui_timing
def test_gui_heartbeat_never_stalls_while_answering(qtbot, make_window, tiny_models, picture_files):
    """A 10 ms QTimer on the GUI thread keeps ticking while answers stream: no gap over 10 + 50 ms that
    Glimpse caused (its own work on the GUI thread, the GIL held by the worker; see `Heartbeat`)."""
    win = make_window(tiny_models["caption"])
    open_pictures(qtbot, win, [picture_files[0], picture_files[1]])
    win.model_bar.max_tokens.setValue(60)
    chunks: list[str] = []
    win.controller.text_received.connect(lambda turn, chunk: chunks.append(chunk))
    beat = Heartbeat()
    beat.start()
    turns = []
    for i in range(6):
        win.image_panel.strip.setCurrentRow(i % 2)
        turns.append(win.describe())
    qtbot.waitUntil(lambda: all(t.finished for t in turns), timeout=ANSWER_TIMEOUT_MS)
    beat.stop()
    assert all(t.status == "done" for t in turns)
    assert len(chunks) >= 100, "the answers should stream many chunks"
    worst, _, count = beat.worst()
    assert count >= 10
    assert worst < 0.060, f"GUI stalled: {beat.describe()}"
