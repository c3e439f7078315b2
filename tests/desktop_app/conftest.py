"""GUI fixtures: windows on the tiny models, picture files, private settings, and a generation that holds.

Every test gets its own config folder (settings.json), so nothing leaks between tests or to the user.
"""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from PIL import Image

import desktop_app  # noqa: F401 - first: its PySide6 6.12 / Python < 3.12 workaround must run early
from desktop_app.session.workers import GenerationWorker
from desktop_app.widgets.error_dialog import ErrorDialog
from desktop_app.window.main_window import MainWindow
from model_tools.runtime.blip.pipeline import DecoderSession

LOAD_TIMEOUT_MS = 60_000
ANSWER_TIMEOUT_MS = 30_000
JOB_TIMEOUT_MS = 150_000  # a Model Tools job on a tiny model, in its own process


@pytest.fixture(autouse=True)
def private_config(tmp_path, monkeypatch) -> Path:
    """settings.json of this test only."""
    folder = tmp_path / "config"
    monkeypatch.setenv("GLIMPSE_CONFIG_DIR", str(folder))
    return folder


def run_queue_wait() -> float:
    """Seconds this thread has spent runnable but not running (Linux; 0 elsewhere): time the kernel kept it
    waiting for a CPU, which heartbeat checks take out of each gap on a busy shared machine."""
    try:
        with open("/proc/thread-self/schedstat", encoding="ascii") as fh:
            return int(fh.read().split()[1]) / 1e9
    except (OSError, ValueError, IndexError):
        return 0.0


@pytest.fixture
def private_models(tmp_path, monkeypatch) -> Path:
    """Models install into a folder of this test's own (job processes inherit it)."""
    folder = tmp_path / "models"
    monkeypatch.setenv("GLIMPSE_MODELS_DIR", str(folder))
    return folder


class JobEvents:
    """What the runner said, in order."""

    def __init__(self, runner) -> None:
        self.items: list[tuple] = []
        runner.job_started.connect(lambda job: self.items.append(("started", job)))
        runner.job_progressed.connect(lambda job, p: self.items.append(("progress", job, p)))
        runner.job_finished.connect(lambda job, r: self.items.append(("finished", job, r)))
        runner.job_failed.connect(lambda job, e, d: self.items.append(("failed", job, e, d)))
        runner.job_cancelled.connect(lambda job: self.items.append(("cancelled", job)))

    def ended(self) -> tuple | None:
        return next((e for e in reversed(self.items) if e[0] in ("finished", "failed", "cancelled")), None)

    def progress(self, stage: str | None = None) -> list:
        return [e[2] for e in self.items if e[0] == "progress" and (stage is None or e[2].stage == stage)]

    def wait(self, qtbot, timeout: int = JOB_TIMEOUT_MS) -> tuple:
        qtbot.waitUntil(lambda: self.ended() is not None, timeout=timeout)
        end = self.ended()
        self.items.clear()
        return end

    def clear(self) -> None:
        self.items.clear()


@pytest.fixture(scope="session")
def picture_files(tmp_path_factory, images) -> list[Path]:
    """The shared test pictures as PNG files, plus a JPEG."""
    root = tmp_path_factory.mktemp("pictures")
    out = []
    for i, image in enumerate(images):
        path = root / f"picture-{i}.png"
        image.save(path)
        out.append(path)
    jpeg = root / "photo.jpg"
    images[0].save(jpeg, quality=90)
    out.append(jpeg)
    return out


@pytest.fixture(scope="session")
def bad_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("bad") / "notes.png"
    path.write_text("this is not a picture", encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def vqa_with_partner(tiny_models, tmp_path_factory) -> Path:
    """The tiny VQA model with the tiny captioning model named as its Describe partner (like the demo pair)."""
    root = tmp_path_factory.mktemp("paired")
    vqa = root / "tiny-vqa"
    shutil.copytree(tiny_models["vqa"], vqa)
    caption = root / "tiny-caption"
    shutil.copytree(tiny_models["caption"], caption)
    manifest = json.loads((vqa / "manifest.json").read_text(encoding="utf-8"))
    manifest["caption_model"] = "../tiny-caption"
    (vqa / "manifest.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    return vqa


@pytest.fixture
def make_window(qtbot) -> Callable[..., MainWindow]:
    """A shown window; waits until its model is loaded unless wait=False."""

    def make(model: Path | None = None, *, wait: bool = True, **kwargs) -> MainWindow:
        win = MainWindow(model, **kwargs)
        qtbot.addWidget(win)
        win.show()
        if wait:
            qtbot.waitUntil(
                lambda: win.models.current is not None and not win.models.busy, timeout=LOAD_TIMEOUT_MS
            )
        return win

    return make


def open_pictures(qtbot, win: MainWindow, paths: list[Path]) -> list:
    with qtbot.waitSignal(win.images_added, timeout=ANSWER_TIMEOUT_MS) as blocker:
        win.open_files(paths)
    return blocker.args[0]


def wait_answer(qtbot, win: MainWindow, turn) -> None:
    assert turn is not None, "the question was not accepted"
    qtbot.waitUntil(lambda: turn.finished, timeout=ANSWER_TIMEOUT_MS)


def error_dialog(win: MainWindow) -> ErrorDialog | None:
    dialog = win.findChild(ErrorDialog, "errorDialog")
    return dialog if dialog is not None and dialog.isVisible() else None


class HeldGeneration:
    """Makes every answer block after its first decode step until it is cancelled.

    So a test can stop (or close) mid-answer deterministically: the first chunk is out, the rest cannot
    come until Stop. Loading and warm-up are not affected (only GenerationWorker calls hold).
    """

    def __init__(self) -> None:
        self.local = threading.local()
        self.held = threading.Event()  # a generation is waiting in its second step
        self.steps: list[int] = []

    def work(self, original):
        hold = self

        def work(worker: GenerationWorker):
            hold.local.cancel, hold.local.steps, hold.local.active = worker.cancel, 0, True
            try:
                return original(worker)
            finally:
                hold.local.active = False
                hold.steps.append(hold.local.steps)

        return work

    def step(self, original):
        hold = self

        def step(session, tokens):
            local = hold.local
            if getattr(local, "active", False):
                local.steps += 1
                if local.steps >= 2:
                    hold.held.set()
                    if not local.cancel.wait(30):
                        raise AssertionError("the test never stopped the held generation")
            return original(session, tokens)

        return step


@pytest.fixture
def held_generation(monkeypatch) -> Iterator[HeldGeneration]:
    hold = HeldGeneration()
    monkeypatch.setattr(GenerationWorker, "work", hold.work(GenerationWorker.work))
    monkeypatch.setattr(DecoderSession, "step", hold.step(DecoderSession.step))
    yield hold


@pytest.fixture
def qimage_of():
    """A QImage of a PIL picture."""
    from desktop_app.session.workers import pil_to_qimage

    def convert(image: Image.Image):
        return pil_to_qimage(image)

    return convert


@pytest.fixture
def tools(qtbot):
    """A shown Model Tools window, shut down (its job process stopped) after the test."""
    from desktop_app.tools_panel import ModelToolsWindow

    window = ModelToolsWindow()
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    yield window
    window.shutdown(2000)
