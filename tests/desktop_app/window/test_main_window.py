"""Empty states, failed loads, help, accessibility, theme, workers and the entry point."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtCore import QUrl
from PySide6.QtGui import QDesktopServices, QPalette
from PySide6.QtWidgets import QAbstractButton, QComboBox, QSpinBox

from desktop_app.diagnostics.about import AboutDialog
from desktop_app.session.model_session import ModelSpec
from desktop_app.session.workers import GenerationWorker
from desktop_app.widgets import theme
from model_tools.library import store as library
from model_tools.runtime import ModelNotFoundError, load
from tests.desktop_app.conftest import (
    ANSWER_TIMEOUT_MS,
    LOAD_TIMEOUT_MS,
    error_dialog,
    open_pictures,
    wait_answer,
)

REPO = Path(__file__).resolve().parents[3]


def test_missing_model_folder_shows_the_presenter_not_a_crash(qtbot, make_window, tmp_path, picture_files):
    win = make_window(tmp_path / "no-such-model", wait=False)
    qtbot.waitUntil(lambda: error_dialog(win) is not None, timeout=5000)
    assert "No model folder at" in error_dialog(win).summary.text()
    assert win.models.current is None
    open_pictures(qtbot, win, [picture_files[0]])
    win.ask_bar.edit.setPlainText("what?")
    assert win.ask() is None
    assert win.ask_bar.edit.toPlainText() == "what?"
    assert "No model is loaded" in win.notification.message()


def test_no_model_installed_shows_an_empty_state(qtbot, make_window, monkeypatch):
    def missing(task="vqa"):
        raise ModelNotFoundError("The bundled demo model is missing.", "Pass --model <folder>.")

    monkeypatch.setattr(library, "default_model", missing)
    monkeypatch.setattr(library, "installed", lambda: [])
    win = make_window(wait=False)
    assert "No model yet" in win.chat.empty.text()
    assert win.model_bar.model_combo.itemText(0) == "No model installed"
    assert not win.model_bar.precision_buttons["fp16"].isEnabled()
    assert error_dialog(win) is None  # nothing went wrong: there is just nothing yet


def test_failed_device_load_and_corrupt_model_keep_the_current_one(
    qtbot, make_window, tiny_models, picture_files, tmp_path
):
    win = make_window(tiny_models["vqa"])
    with qtbot.waitSignal(win.models.load_failed, timeout=LOAD_TIMEOUT_MS):
        win.switch_model(ModelSpec(tiny_models["vqa"], "fp16", "NPU.7"))
    dialog = error_dialog(win)
    assert "The device 'NPU.7' is not available." in dialog.summary.text()
    assert "Devices on this computer" in dialog.fix.text()
    assert win.models.spec.device == "CPU" and win.model_bar.current_device() == "CPU"

    broken = tmp_path / "broken"
    shutil.copytree(tiny_models["vqa"], broken)
    bin_file = broken / "fp16" / "text_decoder.bin"
    bin_file.write_bytes(bin_file.read_bytes()[:100])
    with qtbot.waitSignal(win.models.load_failed, timeout=LOAD_TIMEOUT_MS):
        win.model_bar.model_chosen.emit(broken)
    assert "truncated or altered" in error_dialog(win).summary.text()
    assert win.models.spec.path == tiny_models["vqa"]
    assert win.model_bar.model_combo.currentData() == str(Path(tiny_models["vqa"]).resolve())

    open_pictures(qtbot, win, [picture_files[0]])
    turn = win.ask("what?")
    wait_answer(qtbot, win, turn)
    assert turn.status == "done"


def test_demo_model_shows_its_note(qtbot, make_window, tiny_models, tmp_path):
    demo = tmp_path / "demo-shapes-vqa"
    shutil.copytree(tiny_models["vqa"], demo)
    manifest = json.loads((demo / "manifest.json").read_text(encoding="utf-8"))
    manifest["demo"] = True
    (demo / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    win = make_window(demo)
    assert win.notification.message() == library.DEMO_NOTE
    assert "demo" in win.model_bar.model_combo.currentText()


def test_help_show_log_and_about(qtbot, make_window, tiny_models, monkeypatch):
    win = make_window(tiny_models["vqa"])
    opened: list[QUrl] = []
    monkeypatch.setattr(QDesktopServices, "openUrl", staticmethod(lambda url: opened.append(url) or True))
    win.show_log_action.trigger()
    assert opened and opened[0].toLocalFile().endswith("glimpse.log")
    assert Path(opened[0].toLocalFile()).parent == Path(os.environ["GLIMPSE_LOG_DIR"])
    qtbot.waitUntil(lambda: bool(win.controller.devices), timeout=LOAD_TIMEOUT_MS)
    win.about_action.trigger()
    about = win.findChild(AboutDialog)
    assert about is not None and about.isVisible()
    report = about.report.toPlainText()
    assert "OpenVINO:" in report and "Qt:" in report and "PySide6:" in report and "Glimpse:" in report
    assert "CPU (" in report and "AUTO" in report
    assert "Model in use" in report
    about.close()


def test_keyboard_and_accessibility(qtbot, make_window, tiny_models, picture_files):
    win = make_window(tiny_models["vqa"])
    open_pictures(qtbot, win, [picture_files[0]])
    turn = win.ask("what?")
    wait_answer(qtbot, win, turn)
    for root in (win.centralWidget(), win.model_bar):
        for widget in root.findChildren(QAbstractButton):
            if widget.isVisibleTo(win):
                assert widget.accessibleName() or widget.text().replace("&", ""), widget.objectName()
        for widget in [*root.findChildren(QComboBox), *root.findChildren(QSpinBox)]:
            assert widget.accessibleName(), widget.objectName()
    names = {w.accessibleName() for w in win.findChildren(object) if hasattr(w, "accessibleName")}
    assert {
        "Question",
        "Conversation",
        "Model",
        "Device",
        "Maximum new tokens",
        "Beam count",
        "Send question",
        "Describe the picture",
        "Stop generating",
        "Pictures in this session",
    } <= names
    view = win.chat.views[-1]
    assert view.answer.accessibleName().startswith("Glimpse answered:")
    assert view.question.accessibleName().startswith("You asked: what?")
    # Every menu action is reachable: a shortcut, or a menu with a mnemonic (&) on the way.
    for menu in win.menuBar().findChildren(type(win.recent_menu)):
        assert "&" in menu.title() or menu.title() == ""
    shortcuts = {a.text(): a.shortcut().toString() for a in win.actions() if not a.shortcut().isEmpty()}
    assert shortcuts["&Open Image…"] == "Ctrl+O"
    assert shortcuts["&Describe Picture"] == "Ctrl+D"
    assert shortcuts["&Stop"] == "Esc"
    # Read aloud: hidden where the platform has no voice (this test machine has none).
    assert win.read_aloud_action.isVisible() == win.speaker.available
    assert view.answer.speak_button.isVisibleTo(win) == win.speaker.available


def test_theme_follows_the_palette():
    light = QPalette()
    light.setColor(QPalette.ColorRole.Window, "#f4f4f4")
    light.setColor(QPalette.ColorRole.Base, "#ffffff")
    light.setColor(QPalette.ColorRole.WindowText, "#111111")
    dark = QPalette()
    dark.setColor(QPalette.ColorRole.Window, "#202124")
    dark.setColor(QPalette.ColorRole.Base, "#18191b")
    dark.setColor(QPalette.ColorRole.WindowText, "#eeeeee")
    assert not theme.is_dark(light) and theme.is_dark(dark)
    assert "#ffffff" in theme.style_sheet(light) and "#18191b" in theme.style_sheet(dark)
    assert ":focus" in theme.style_sheet(dark)


def test_generation_worker_signals_in_order(qtbot, tiny_models, picture_files):
    pipe = load(tiny_models["vqa"])
    worker = GenerationWorker(pipe, picture_files[0], "what color is the circle?", max_new_tokens=10)
    expected = pipe.ask(picture_files[0], "what color is the circle?", max_new_tokens=10)
    chunks: list[str] = []
    events: list[str] = []
    worker.signals.text_received.connect(chunks.append)
    worker.signals.started.connect(lambda: events.append("started"))
    worker.signals.text_received.connect(lambda chunk: events.append("text"))
    worker.signals.finished.connect(lambda answer: events.append("finished"))
    signals = [worker.signals.started, worker.signals.text_received, worker.signals.finished]
    from PySide6.QtCore import QThreadPool

    pool = QThreadPool()
    with qtbot.waitSignals(signals, order="simple", timeout=ANSWER_TIMEOUT_MS):
        worker.start(pool)
    pool.waitForDone(5000)
    assert events[0] == "started" and events[-1] == "finished"
    assert set(events[1:-1]) == {"text"} and len(events) >= 4
    assert "".join(chunks) == expected.text

    failing = GenerationWorker(pipe, Path("/no/such/picture.png"), "what?")
    with qtbot.waitSignal(failing.signals.errored, timeout=ANSWER_TIMEOUT_MS) as blocker:
        failing.start(pool)
    exc, tb = blocker.args
    assert "file not found" in str(exc) and "Traceback" in tb
    pool.waitForDone(5000)


def test_entry_point_starts_without_the_training_stack():
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    out = subprocess.run(
        [sys.executable, "-m", "desktop_app", "--version"],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=60,
    )
    assert out.returncode == 0 and out.stdout.strip() == "Glimpse 0.1.0"
    code = (
        "import sys, desktop_app.window.main_window, desktop_app.__main__;"
        "heavy = [m for m in ('torch', 'transformers', 'nncf', 'datasets') if m in sys.modules];"
        "print(heavy)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=REPO, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_self_test_answers_with_the_demo_model(capsys):
    import json

    from desktop_app.__main__ import main

    assert main(["--self-test"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] and report["model"] == "demo-shapes-vqa"
    for precision in ("fp16", "int8"):
        assert report[precision]["answer"] == "red"
        assert {"red", "circle"} <= set(report[precision]["caption"].split())
    chat = report["chat"]  # a two-turn chat with the demo chat model, the second turn a follow-up
    assert chat["model"] == "demo-shapes-chat"
    for precision in ("fp16", "int8", "int4"):
        first, second = chat[precision]["turns"]
        assert first["question"] == "What shape is the red object?" and "circle" in first["answer"]
        assert second["question"] == "And what colour is it?" and "red" in second["answer"]
        assert chat[precision]["setup"].startswith(precision.upper())
    with pytest.raises(SystemExit):
        main(["--help"])


def test_self_test_fails_with_a_reason_when_the_demo_model_is_damaged(capsys, monkeypatch, tmp_path):
    import json
    import shutil

    from desktop_app.__main__ import main
    from model_tools.library import store as library

    broken = tmp_path / "demo-shapes-vqa"
    shutil.copytree(library.DEMO_VQA, broken)
    (broken / "fp16" / "text_decoder.bin").write_bytes(b"")
    monkeypatch.setattr(library, "DEMO_VQA", broken)
    assert main(["--self-test"]) == 1
    captured = capsys.readouterr()
    assert json.loads(captured.out)["ok"] is False
    assert "text_decoder.bin" in captured.err


def test_remembered_device_that_is_gone_falls_back_to_cpu(qtbot, make_window, tiny_models):
    from desktop_app.session.settings import Settings

    win = make_window(tiny_models["vqa"], settings=Settings(device="GPU.3"), persist=False)
    assert win.models.spec.device == "CPU"
    assert "The device 'GPU.3' is not available." in win.notification.message()
    assert "uses the CPU instead" in win.notification.message()
    assert error_dialog(win) is None
