"""Issue 10, in the window: long questions, the demo's question forms, the details line, the model bar's
boxes and precision switch, the picture's focus ring, pasted paths, error details and big pictures."""

from __future__ import annotations

import itertools
import re

from PIL import Image
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication, QPalette

from desktop_app.widgets.bubbles import TRUNCATED_NOTE
from desktop_app.widgets.error_dialog import show_error
from desktop_app.widgets.model_bar import ModelBar
from model_tools.library import store as library
from model_tools.runtime import ConvertedModel
from model_tools.synthetic import shapes
from tests.desktop_app.conftest import (
    ANSWER_TIMEOUT_MS,
    LOAD_TIMEOUT_MS,
    error_dialog,
    open_pictures,
    wait_answer,
)

QUESTION = "what color is the circle?"


def test_long_question_is_folded_and_says_the_model_read_only_its_start(
    qtbot, make_window, tiny_models, picture_files
):
    win = make_window(tiny_models["vqa"])
    open_pictures(qtbot, win, [picture_files[0]])
    long = " ".join(itertools.repeat(QUESTION, 200))[:5000]
    turn = win.ask(long)
    wait_answer(qtbot, win, turn)
    bubble = win.chat.views[-1].question
    assert turn.metrics["truncated_question"] is True
    # Folded: the first part and "Show more", so the chat is not filled by one question.
    assert len(bubble.text.text()) < 400 and long.startswith(bubble.text.text().rstrip(" …")[:100])
    assert bubble.more.isVisible() and bubble.more.text() == "Show more"
    assert bubble.sizeHint().height() < win.chat.viewport().height()
    assert len(bubble.accessibleName()) < 600 and "5,000 characters" in bubble.accessibleName()
    # And it says the model read only the start of it.
    assert bubble.note.isVisible() and bubble.note.text() == TRUNCATED_NOTE
    assert bubble.accessibleDescription() == TRUNCATED_NOTE
    qtbot.mouseClick(bubble.more, Qt.MouseButton.LeftButton)
    assert bubble.text.text() == long and bubble.more.text() == "Show less"
    bubble.more.click()
    assert len(bubble.text.text()) < 400

    short = win.ask(QUESTION)
    wait_answer(qtbot, win, short)
    bubble = win.chat.views[-1].question
    assert bubble.text.text() == QUESTION
    assert not bubble.more.isVisible() and not bubble.note.isVisible()
    assert not short.metrics.get("truncated_question")


def test_demo_notice_names_the_question_forms_it_knows():
    known = {shapes.COUNT_ALL_QUESTION}
    for kind in shapes.KINDS:
        known |= {shapes.color_question(kind), shapes.count_question(kind), shapes.exists_question(kind)}
        known |= {shapes.exists_question(kind, color) for color in shapes.COLORS}
    known |= {shapes.shape_question(color) for color in shapes.COLORS}
    examples = re.findall(r"“([^”]+)”", library.DEMO_NOTE)
    assert len(examples) >= 4
    assert set(examples) <= known, "every example is a question the demo was trained on"
    kinds = {"color": "what color", "shape": "what shape", "count": "how many", "yesno": "is there"}
    assert all(any(e.startswith(start) for e in examples) for start in kinds.values()), "one per form"


def test_details_line_gives_the_beam_count(qtbot, make_window, tiny_models, picture_files):
    win = make_window(tiny_models["vqa"])
    open_pictures(qtbot, win, [picture_files[0]])
    for beams, said in ((1, "1 beam"), (2, "2 beams")):
        win.model_bar.beams.setValue(beams)
        turn = win.ask(QUESTION)
        wait_answer(qtbot, win, turn)
        parts = win.chat.views[-1].answer.metrics.text().split(" · ")
        assert said in parts
        assert parts.index(said) == parts.index(f"{turn.metrics['new_tokens']} tokens") + 1
        assert said in win.chat.views[-1].answer.accessibleDescription()


def test_device_and_model_boxes_show_their_text_whole_or_elided(qtbot, make_window, tiny_models):
    win = make_window(tiny_models["vqa"])
    bar = win.model_bar
    qtbot.waitUntil(lambda: bar.device_combo.findData("AUTO") >= 0, timeout=LOAD_TIMEOUT_MS)
    bar.device_combo.setCurrentIndex(bar.device_combo.findData("AUTO"))
    for combo in (bar.device_combo, bar.model_combo):
        full = combo.currentText()
        assert full and full in combo.toolTip()
        shown = combo.shown_text()
        assert shown == full or (shown.endswith("…") and full.startswith(shown[:-1]))
        assert combo.fontMetrics().horizontalAdvance(shown) <= combo.width()
    auto = bar.device_combo.currentText()
    assert auto.startswith("AUTO (Automatic")
    # As wide as the text, up to a sensible maximum (then "…" rather than cut letters).
    wanted = bar.device_combo.fontMetrics().horizontalAdvance(auto)
    assert bar.device_combo.width() >= min(wanted, bar.device_combo.maximumWidth() - 60)


def test_picture_view_shows_a_focus_ring(qtbot, make_window, tiny_models, picture_files):
    win = make_window(tiny_models["vqa"])
    open_pictures(qtbot, win, [picture_files[3]])
    view = win.image_panel.view
    win.activateWindow()
    win.ask_bar.edit.setFocus()
    qtbot.waitUntil(lambda: win.ask_bar.edit.hasFocus())
    plain = view.grab().toImage()
    view.setFocus(Qt.FocusReason.TabFocusReason)
    qtbot.waitUntil(view.hasFocus)
    focused = view.grab().toImage()
    highlight = view.palette().color(QPalette.ColorRole.Highlight)
    x, y = 0, focused.height() // 2
    assert focused.pixelColor(x, y) == highlight
    assert plain.pixelColor(x, y) != highlight


def test_precision_switch_is_one_tab_stop_with_arrow_keys_and_spoken_state(qtbot):
    bar = ModelBar()
    qtbot.addWidget(bar)
    chosen: list[str] = []
    bar.precision_chosen.connect(chosen.append)
    bar.show_model(ConvertedModel.open(library.DEMO_VQA), "fp16")  # has FP16 and INT8
    bar.show()
    fp16, int8 = bar.precision_buttons["fp16"], bar.precision_buttons["int8"]
    assert (fp16.accessibleName(), int8.accessibleName()) == ("FP16, selected", "INT8, not selected")
    # Tab reaches the checked one only.
    assert fp16.focusPolicy() & Qt.FocusPolicy.TabFocus
    assert not int8.focusPolicy() & Qt.FocusPolicy.TabFocus
    chain, widget = [], bar.model_combo
    for _ in range(12):
        widget = widget.nextInFocusChain()
        if widget.focusPolicy() & Qt.FocusPolicy.TabFocus and widget.isVisible() and widget.isEnabled():
            chain.append(widget)
    assert fp16 in chain and int8 not in chain
    # Arrow keys move between them, and choose.
    bar.activateWindow()
    fp16.setFocus()
    qtbot.waitUntil(fp16.hasFocus)
    qtbot.keyClick(fp16, Qt.Key.Key_Right)
    assert int8.isChecked() and int8.hasFocus() and chosen == ["int8"]
    assert (fp16.accessibleName(), int8.accessibleName()) == ("FP16, not selected", "INT8, selected")
    qtbot.keyClick(int8, Qt.Key.Key_Left)
    assert fp16.isChecked() and chosen == ["int8", "fp16"]
    # A model without INT8: the screen reader hears that it is not available.
    bar.show_model(None, "fp16")
    assert int8.accessibleName() == "INT8, not available"


def test_pasting_the_path_of_a_missing_file_says_so(qtbot, make_window, tiny_models, picture_files, tmp_path):
    win = make_window(tiny_models["vqa"])
    clipboard = QGuiApplication.clipboard()
    gone = tmp_path / "holiday" / "beach.jpg"
    clipboard.setText(str(gone))
    win.paste_action.trigger()
    assert win.notification.message().startswith(f"No such file: {gone}")
    assert win.ask_bar.edit.toPlainText() == ""
    win.notification.dismiss()
    # The same with Ctrl+V in the question box: reported, not typed in.
    win.ask_bar.edit.setPlainText("what")
    clipboard.setText(f"file://{gone}")
    win.ask_bar.edit.paste()
    assert win.ask_bar.edit.toPlainText() == "what"
    assert "No such file" in win.notification.message()
    # A question is still a question, and an existing file is still a picture.
    clipboard.setText(" is in the picture?")
    win.ask_bar.edit.moveCursor(win.ask_bar.edit.textCursor().MoveOperation.End)
    win.ask_bar.edit.paste()
    assert win.ask_bar.edit.toPlainText() == "what is in the picture?"
    clipboard.setText(str(picture_files[0]))
    with qtbot.waitSignal(win.images_added, timeout=ANSWER_TIMEOUT_MS):
        win.paste_action.trigger()


def test_damaged_picture_shows_message_and_fix_with_the_traceback_behind_technical_details(
    qtbot, make_window, tiny_models, bad_file
):
    win = make_window(tiny_models["vqa"])
    with qtbot.waitSignal(win.images_failed, timeout=ANSWER_TIMEOUT_MS):
        win.open_files([bad_file])
    dialog = error_dialog(win)
    assert dialog is not None and "notes.png" in dialog.summary.text() and dialog.fix.text()
    assert dialog.toggle.text().replace("&", "") == "Show technical details"
    assert not dialog.details.isVisible()
    text = dialog.details.toPlainText()
    assert text.splitlines()[:2] == [dialog.summary.text(), dialog.fix.text()]
    assert text.index("Technical details") < text.index("Traceback")
    dialog.toggle.click()
    assert dialog.details.isVisible() and dialog.toggle.accessibleName() == "Hide technical details"
    dialog.toggle.click()

    # A bug is not the user's mistake: its details are the traceback itself.
    try:
        raise RuntimeError("boom")
    except RuntimeError as exc:
        show_error(win, exc)
    assert dialog.toggle.text().replace("&", "") == "Show details"
    assert dialog.details.toPlainText().startswith("Traceback")


def test_big_picture_keeps_a_screen_sized_preview(qtbot, make_window, tiny_models, tmp_path):
    big = tmp_path / "big.jpg"
    Image.new("RGB", (6000, 4000), (200, 30, 30)).save(big, quality=80)
    win = make_window(tiny_models["vqa"])
    (image,) = open_pictures(qtbot, win, [big])
    screen = win.screen().size() * win.screen().devicePixelRatio()
    assert (image.width, image.height) == (6000, 4000)  # what the model reads, from the file
    assert max(image.image.width(), image.image.height()) <= max(screen.width(), screen.height())
    assert "6000 × 4000" in win.image_panel.caption.text()


def test_a_cache_folder_that_cannot_be_made_is_said_once_and_answers_still_come(
    qtbot, make_window, tiny_models, picture_files, tmp_path, monkeypatch
):
    """Item 12: a home whose cache folder cannot be created: run without a compile cache, and say so."""
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder would be")
    monkeypatch.setenv("GLIMPSE_CACHE_DIR", str(blocker / "cache"))
    win = make_window(tiny_models["vqa"])
    assert "without a compile cache" in win.notification.message()
    assert str(blocker) in win.notification.message()
    open_pictures(qtbot, win, [picture_files[0]])
    turn = win.ask(QUESTION)
    wait_answer(qtbot, win, turn)
    assert turn.answer and not turn.error
