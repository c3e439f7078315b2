"""The model-choice policy, driven headless: a `ModelSession` on a `ChatController`, no window.

Real models (the bundled demo pair, the tiny ones), real loads on the thread pool, real signals.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from PySide6.QtWidgets import QApplication

from desktop_app.session.aio import install_event_loop, spawn
from desktop_app.session.chat_controller import ChatController
from desktop_app.session.model_session import ModelSession, ModelSpec
from desktop_app.session.settings import Settings
from model_tools.library import store as library
from model_tools.runtime import DeviceUnavailableError, GlimpseError, ModelNotFoundError
from tests.desktop_app.conftest import LOAD_TIMEOUT_MS


class Heard:
    """What a session said, in order: ("shown", model name, precision, device, exact), ("ready", pipe), ..."""

    def __init__(self, session: ModelSession) -> None:
        self.items: list[tuple] = []
        session.shown.connect(
            lambda model, *choice: self.items.append(("shown", model.name if model else None, *choice))
        )
        session.ready.connect(lambda pipe: self.items.append(("ready", pipe)))
        session.noticed.connect(lambda message, level: self.items.append(("noticed", level, message)))
        session.failed.connect(lambda exc: self.items.append(("failed", exc)))

    def of(self, kind: str) -> list[tuple]:
        return [item[1:] for item in self.items if item[0] == kind]


@pytest.fixture
def make_session(qtbot):
    """A session on its own controller (its workers stopped after the test)."""
    controllers: list[ChatController] = []

    def make(settings: Settings | None = None) -> tuple[ModelSession, Heard]:
        install_event_loop(QApplication.instance())
        controller = ChatController()
        controllers.append(controller)
        session = ModelSession(controller, settings or Settings())
        return session, Heard(session)

    yield make
    for controller in controllers:
        assert controller.shutdown(5000)


def ready(qtbot, session: ModelSession, act) -> object:
    """Run `act()` and wait for the model it loads; returns the pipeline."""
    with qtbot.waitSignal(session.ready, timeout=LOAD_TIMEOUT_MS) as blocker:
        act()
    return blocker.args[0]


def test_start_takes_the_remembered_precision_and_says_the_demo_note(qtbot, make_session):
    settings = Settings(precision="int8")
    session, heard = make_session(settings)
    pipe = ready(qtbot, session, lambda: session.start(library.DEMO_VQA))
    assert heard.of("shown")[0] == ("demo-shapes-vqa", "int8", "CPU", False)  # before the load starts
    assert (pipe.model.name, pipe.precision, pipe.device) == ("demo-shapes-vqa", "int8", "CPU")
    assert session.loader.spec == ModelSpec(library.DEMO_VQA, "int8", "CPU")
    assert (settings.model, settings.precision, settings.device) == (str(library.DEMO_VQA), "int8", "CPU")
    assert ("info", library.DEMO_NOTE) in heard.of("noticed")
    assert session.can_describe and session.describe_blocker == ""  # the demo VQA has a captioning partner


def test_a_model_without_the_precision_in_use_falls_back_to_one_it_has(qtbot, make_session, tiny_models):
    session, heard = make_session(Settings(precision="int8"))
    ready(qtbot, session, lambda: session.start(library.DEMO_VQA))
    pipe = ready(qtbot, session, lambda: session.choose_model(tiny_models["vqa"]))  # it has FP16 only
    assert pipe.precision == "fp16" and session.loader.spec.precision == "fp16"
    assert heard.of("shown")[-1][:2] == (pipe.model.name, "fp16")  # the switches showed it before it loaded
    # Without a captioning partner, Describe cannot work, and the session says why.
    assert not session.can_describe
    assert "no captioning partner" in session.describe_blocker and pipe.model.name in session.describe_blocker
    # The precision carries over where the next model has it.
    ready(qtbot, session, lambda: session.choose_model(library.DEMO_CAPTION))
    assert session.loader.spec.precision == "fp16" and session.can_describe
    ready(qtbot, session, lambda: session.choose_precision("int8"))
    pipe = ready(qtbot, session, lambda: session.choose_model(library.DEMO_VQA))
    assert (pipe.model.name, pipe.precision) == ("demo-shapes-vqa", "int8")


def test_describe_loads_the_captioning_partner_in_the_precision_it_has(qtbot, make_session, tmp_path):
    vqa, caption = tmp_path / "demo-shapes-vqa", tmp_path / "demo-shapes-caption"
    shutil.copytree(library.DEMO_VQA, vqa)
    shutil.copytree(library.DEMO_CAPTION, caption)
    manifest = json.loads((caption / "manifest.json").read_text(encoding="utf-8"))
    del manifest["precisions"]["int8"]  # the partner has no INT8 version
    (caption / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    shutil.rmtree(caption / "int8")
    session, _heard = make_session(Settings(precision="int8"))
    ready(qtbot, session, lambda: session.start(vqa))
    assert session.can_describe
    task = spawn(session.loader.pipeline("caption"))
    qtbot.waitUntil(task.done, timeout=LOAD_TIMEOUT_MS)
    partner = task.result()
    assert (partner.task, partner.model.path, partner.precision) == ("caption", caption, "fp16")
    assert session.loader.spec.precision == "int8"  # the model in use stays as it was


def test_a_remembered_device_that_is_gone_falls_back_to_the_cpu_with_a_notice(qtbot, make_session, tiny_models):
    session, heard = make_session(Settings(device="GPU.3"))
    pipe = ready(qtbot, session, lambda: session.start(tiny_models["vqa"]))
    assert pipe.device == "CPU" and session.loader.spec.device == "CPU"
    (level, message), *_ = [n for n in heard.of("noticed") if "CPU instead" in n[1]]
    assert level == "warning" and message.startswith("The device 'GPU.3' is not available.")
    assert heard.of("failed") == []  # not an error: Glimpse carried on


def test_a_failed_switch_keeps_the_model_in_use_and_reports(qtbot, make_session, tiny_models, tmp_path):
    session, heard = make_session()
    ready(qtbot, session, lambda: session.start(tiny_models["vqa"]))
    with qtbot.waitSignal(session.failed, timeout=LOAD_TIMEOUT_MS) as blocker:
        session.choose_device("NPU.7")
    assert isinstance(blocker.args[0], DeviceUnavailableError)  # a model is loaded: no CPU fallback
    assert session.loader.spec.device == "CPU" and session.device == "CPU"
    assert heard.of("shown")[-1][2] == "CPU"  # the switches are put back

    with qtbot.waitSignal(session.failed, timeout=5000) as blocker:
        session.choose_model(tmp_path / "no-such-model")
    assert isinstance(blocker.args[0], ModelNotFoundError)
    assert session.loader.spec.path == tiny_models["vqa"] and session.loader.wanted.path == tiny_models["vqa"]


def test_with_nothing_installed_the_first_model_to_arrive_is_used(qtbot, make_session, tiny_models, monkeypatch):
    def missing(task="vqa"):
        raise ModelNotFoundError("The bundled demo model is missing.", "Pass --model <folder>.")

    installed: list = []
    monkeypatch.setattr(library, "default_model", missing)
    monkeypatch.setattr(library, "installed", lambda: list(installed))
    settings = Settings(device="AUTO")
    session, heard = make_session(settings)
    assert session.start(None) is None  # nothing to load is not an error
    assert not session.has_models and session.wanted is None
    assert heard.of("shown") == [(None, "fp16", "AUTO", False)]
    session.choose_device("CPU")  # with no model, only remembered
    assert settings.device == "CPU" and session.device == "CPU"

    from model_tools.runtime import ConvertedModel

    installed.append(ConvertedModel.open(tiny_models["caption"]))
    pipe = ready(qtbot, session, session.refresh)
    assert session.has_models and pipe.task == "caption" and pipe.device == "CPU"


def test_a_start_folder_that_is_not_a_model_is_returned_to_show(make_session, tmp_path, qtbot):
    session, heard = make_session()
    error = session.start(tmp_path / "nothing-here")
    assert isinstance(error, GlimpseError) and "No model folder at" in str(error)
    assert heard.of("shown") == [(None, "fp16", "CPU", False)] and session.wanted is None


def test_settings_and_error_context_name_the_model_in_use(qtbot, make_session, tiny_models):
    settings = Settings(exact_precision=False)
    session, _heard = make_session(settings)
    ready(qtbot, session, lambda: session.start(tiny_models["vqa"]))
    ready(qtbot, session, lambda: session.choose_exact(True))
    assert settings.exact_precision and session.loader.spec.exact
    settings.model = None
    session.collect_settings()
    assert (settings.model, settings.precision, settings.exact_precision) == (str(tiny_models["vqa"]), "fp16", True)
    assert session.error_context() == {"Model in use": f"{tiny_models['vqa']} (fp16) on CPU"}
    session.switch(ModelSpec(Path(tiny_models["vqa"]), "fp16", "NPU.7"))
    assert "Model requested" in session.error_context()
    qtbot.waitSignal(session.failed, timeout=LOAD_TIMEOUT_MS).wait()
