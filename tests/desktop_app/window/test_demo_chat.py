"""A first start: the window opens on the BLIP demo, the model chooser offers the demo chat model beside it,
and picking it holds a four-turn conversation about a sample picture, offline, with real answers."""

from __future__ import annotations

from PySide6.QtCore import Qt

from desktop_app.resources import SAMPLES
from desktop_app.session.settings import Settings
from model_tools.library.store import DEMO_CHAT, DEMO_CHAT_NOTE, DEMO_VQA
from model_tools.synthetic.conversations import ChatTurn, score_turn
from tests.desktop_app.conftest import ANSWER_TIMEOUT_MS, LOAD_TIMEOUT_MS, open_pictures

TURNS = [
    ChatTurn("Describe the picture.", "", "describe", {
        "count": 3, "shapes": sorted([("green", "circle"), ("red", "square"), ("blue", "triangle")])}),
    ChatTurn("What colour is the triangle?", "", "color", {"color": "blue", "kind": "triangle"}),
    ChatTurn("What shape is the red object?", "", "shape", {"kind": "square", "color": "red"}),
    ChatTurn("And what colour is it?", "", "followup_color", {"color": "red"}, followup=True),
]


def test_a_first_start_offers_the_demo_chat_model_and_it_converses(qtbot, make_window):
    win = make_window(None, settings=Settings())
    assert win.models.current.model.path.resolve() == DEMO_VQA.resolve()  # the first start opens on the BLIP demo
    bar = win.model_bar
    index = bar.model_combo.findData(str(DEMO_CHAT.resolve()))
    assert index >= 0, "the demo chat model is in the chooser from the first start"
    assert bar.model_combo.itemText(index) == "demo-shapes-chat (chat · demo)"
    with qtbot.waitSignal(win.models.loaded, timeout=LOAD_TIMEOUT_MS):
        bar.model_combo.setCurrentIndex(index)
        bar.model_combo.activated.emit(index)
    assert win.chat_mode and win.models.current.task == "chat"
    assert win.notification.message() == DEMO_CHAT_NOTE  # what this demo knows, not the BLIP demo's note
    assert all(bar.precision_buttons[p].isEnabled() for p in ("fp16", "int8", "int4"))

    open_pictures(qtbot, win, [SAMPLES / "three-shapes.png"])
    answers = []
    for turn in TURNS:
        win.ask_bar.edit.setPlainText(turn.question)
        with qtbot.waitSignal(win.controller.answer_finished, timeout=ANSWER_TIMEOUT_MS) as blocker:
            qtbot.keyClick(win.ask_bar.edit, Qt.Key.Key_Return)
        answers.append(blocker.args[0].answer)
    assert [score_turn(a, t) for a, t in zip(answers, TURNS, strict=True)] == [True] * len(TURNS), answers
    assert [t.text for t in win.models.current.history][::2] == [t.question for t in TURNS]
    views = win.chat.views
    qtbot.waitUntil(lambda: views[-1].answer.text.text() == answers[-1], timeout=2000)
