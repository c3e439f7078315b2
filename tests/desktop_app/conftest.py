"""GUI fixtures: windows on the tiny models, picture files, private settings, and a generation that holds.

Every test gets its own config folder (settings.json), so nothing leaks between tests or to the user.
"""

from __future__ import annotations

import gc
import json
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from PIL import Image
from PySide6.QtCore import Qt, QTimer

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


def _schedstat(path: str) -> tuple[float, float]:
    """(seconds on a CPU, seconds runnable but waiting for one) of a thread (Linux schedstat; zeros elsewhere)."""
    try:
        with open(path, encoding="ascii") as fh:
            on_cpu, waiting = fh.read().split()[:2]
        return int(on_cpu) / 1e9, int(waiting) / 1e9
    except (OSError, ValueError):
        return 0.0, 0.0


def run_queue_wait() -> float:
    """Seconds this thread has spent runnable but not running: time the kernel kept it waiting for a CPU."""
    return _schedstat("/proc/thread-self/schedstat")[1]


def _process_waits() -> dict[str, float]:
    """Each thread of this process: seconds it has waited for a CPU."""
    try:
        tasks = os.listdir("/proc/self/task")
    except OSError:
        return {}
    return {tid: _schedstat(f"/proc/self/task/{tid}/schedstat")[1] for tid in tasks}


class Heartbeat:
    """A 10 ms timer on the GUI thread; `worst()` is the longest gap Glimpse itself caused.

    A gap is the GUI thread's own work, or waiting for the GIL held by another of our threads, or for
    something it joins, or waiting for a CPU on a busy shared machine. The last is not ours: from each
    gap we take out the time any of this process's threads sat runnable but without a CPU (the GUI
    thread, or a thread holding the GIL or finishing what the GUI waits for). What the GUI thread spent
    on a CPU itself always counts. `start()`/`stop()` may be called several times (one segment each).
    """

    def __init__(self) -> None:
        self.segments: list[list[tuple[float, float, dict[str, float]]]] = []
        self.timer = QTimer()
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.setInterval(10)
        self.timer.timeout.connect(self._beat)

    def _beat(self) -> None:
        on_cpu = _schedstat("/proc/thread-self/schedstat")[0]
        self.segments[-1].append((time.perf_counter(), on_cpu, _process_waits()))

    def start(self) -> None:
        # What earlier tests left in this process (torch models, tokenizers: millions of objects) is no part
        # of the app; a full garbage collection walking it takes 100-400 ms. Set it aside while measuring.
        gc.collect()
        gc.freeze()
        self.segments.append([])
        self.timer.start()  # the first beat comes 10 ms on: what the caller does next (a click) is its own

    def stop(self) -> None:
        self.timer.stop()
        gc.unfreeze()

    def gaps(self) -> list[tuple[float, float, int, float, float]]:
        """(gap Glimpse caused, raw gap) in seconds, its segment, and when it began and the segment ended
        (seconds from the segment's start), for consecutive beats."""
        out = []
        for segment, beats in enumerate(self.segments):
            if not beats:
                continue
            start, end = beats[0][0], beats[-1][0]
            for (t0, cpu0, w0), (t1, cpu1, w1) in zip(beats, beats[1:], strict=False):
                raw = t1 - t0
                waited = sum(w1[tid] - w0[tid] for tid in w1.keys() & w0.keys())
                out.append((max(cpu1 - cpu0, raw - waited), raw, segment, t0 - start, end - start))
        return out

    def worst(self) -> tuple[float, float, int]:
        """(worst gap Glimpse caused, worst raw gap, number of gaps)."""
        gaps = self.gaps()
        return max(g[0] for g in gaps), max(g[1] for g in gaps), len(gaps)

    def describe(self) -> str:
        """The three worst gaps, for a failure message."""
        worst = sorted(self.gaps(), reverse=True)[:3]
        return ", ".join(
            f"{g * 1000:.0f} ms (raw {r * 1000:.0f}) in segment {s} at {at:.2f} s of {end:.2f} s"
            for g, r, s, at, end in worst
        )


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
        qtbot.wait(30)  # what the window does in the next turns of the event loop (e.g. refresh the lists)
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
