"""The Segment tool's state without widgets: a `Segmenter` on a thread pool with the tiny SAM, real workers
and signals; its masks are the segment runtime's own for the same prompt."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QThreadPool
from PySide6.QtWidgets import QApplication

from desktop_app.session.aio import install_event_loop
from desktop_app.session.segmenter import Segmenter
from model_tools.runtime import ImageError
from model_tools.runtime.segment.pipeline import SegmentPipeline, load
from model_tools.runtime.segment.regions import INSIDE, OUTLINE, OUTSIDE, overlay_levels
from tests.desktop_app.conftest import LOAD_TIMEOUT_MS

TIMEOUT_MS = 30_000


@pytest.fixture
def pictures(tmp_path):
    rng = np.random.default_rng(3)
    out = []
    for i, (w, h) in enumerate([(150, 90), (64, 112)]):
        pixels = (rng.random((h, w, 3)) * 80).astype("uint8")
        pixels[h // 4 : h // 2, w // 3 : w // 2] = (230, 40, 40)
        path = tmp_path / f"picture-{i}.png"
        Image.fromarray(pixels).save(path)
        out.append(path)
    return out


@pytest.fixture
def encodes(monkeypatch):
    """The names of the threads each `SegmentPipeline.encode` ran on."""
    threads: list[str] = []
    original = SegmentPipeline.encode

    def encode(self, picture):
        threads.append(threading.current_thread().name)
        return original(self, picture)

    monkeypatch.setattr(SegmentPipeline, "encode", encode)
    return threads


@pytest.fixture
def segmenter(qtbot, tiny_sam_model):
    install_event_loop(QApplication.instance())
    pool = QThreadPool()
    pool.setMaxThreadCount(2)
    segmenter = Segmenter(pool)
    segmenter.set_model(tiny_sam_model, "fp16", "CPU")
    yield segmenter
    pool.waitForDone(10_000)


def wait_encoded(qtbot, segmenter: Segmenter, picture) -> None:
    with qtbot.waitSignal(segmenter.encoded, timeout=LOAD_TIMEOUT_MS):
        segmenter.set_picture(picture)


def test_masks_are_the_runtimes_and_the_newest_prompt_wins(
    qtbot, segmenter, pictures, tiny_sam_model, encodes, monkeypatch
):
    shown: list[tuple] = []  # (the prompt a result answers, the prompt wanted when it arrived)
    segmenter.mask_ready.connect(
        lambda r: shown.append((None, None) if r is None else ((r.points, r.labels, r.box),
                                                               (tuple(segmenter.points), tuple(segmenter.labels),
                                                                segmenter.box)))
    )
    busy: list[bool] = []
    segmenter.busy_changed.connect(busy.append)
    wait_encoded(qtbot, segmenter, pictures[0])
    assert encodes and all(name != threading.main_thread().name for name in encodes)
    qtbot.waitUntil(lambda: not segmenter.busy, timeout=TIMEOUT_MS)
    assert busy == [True, False]

    # Clicks while the decoder runs: one job at a time, only the newest prompt's masks are shown.
    started, release = threading.Event(), threading.Event()
    original = SegmentPipeline.segment

    def slow(self, *args, **kwargs):
        started.set()
        release.wait(10)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(SegmentPipeline, "segment", slow)
    segmenter.add_point(60.5, 30.25, True)
    qtbot.waitUntil(started.is_set, timeout=TIMEOUT_MS)  # the first click's job is running
    assert segmenter.busy and segmenter.activity == "Segmenting…"
    segmenter.add_point(20.0, 70.0, False)
    segmenter.add_point(100.0, 40.0, True)
    release.set()
    qtbot.waitUntil(lambda: segmenter.result is not None and len(segmenter.result.points) == 3, timeout=TIMEOUT_MS)
    qtbot.waitUntil(lambda: not segmenter.busy, timeout=TIMEOUT_MS)
    assert shown and all(answered == wanted for answered, wanted in shown)
    assert [len(answered[0]) for answered, _ in shown] == [3]  # the first click's masks were dropped
    monkeypatch.undo()

    assert len(encodes) == 1  # the clicks run the decoder only
    direct = load(tiny_sam_model, "fp16", "CPU")
    embedding = direct.encode(pictures[0])
    expected = direct.segment(embedding, [(60.5, 30.25), (20.0, 70.0), (100.0, 40.0)], [1, 0, 1])
    result = segmenter.result
    assert result.size == (150, 90) and result.labels == (1, 0, 1)
    assert np.array_equal(result.masks.masks, expected.masks)
    assert segmenter.index == expected.best and np.array_equal(segmenter.mask, expected.best_mask)
    for levels, mask in zip(result.levels, expected.masks, strict=True):
        assert (levels.width(), levels.height()) == (150, 90)
        drawn = np.frombuffer(levels.constBits(), np.uint8).reshape(90, levels.bytesPerLine())[:, :150]
        assert np.array_equal(drawn, overlay_levels(mask))

    segmenter.cycle()
    assert segmenter.index == (expected.best + 1) % 3
    segmenter.cycle(-1)
    assert segmenter.index == expected.best

    # A box, then undo back through it and the points; the last undo leaves nothing shown.
    with qtbot.waitSignal(segmenter.mask_ready, timeout=TIMEOUT_MS):
        segmenter.set_box(120, 80, 30, 10)
    assert segmenter.box == (30, 10, 120, 80) and segmenter.result.box == (30, 10, 120, 80)
    assert np.array_equal(segmenter.result.masks.masks, direct.segment(
        embedding, [(60.5, 30.25), (20.0, 70.0), (100.0, 40.0)], [1, 0, 1], (30, 10, 120, 80)).masks)
    with qtbot.waitSignal(segmenter.mask_ready, timeout=TIMEOUT_MS):
        assert segmenter.undo()
    assert segmenter.box is None and segmenter.result.box is None
    for _ in range(2):
        assert segmenter.undo()
    assert segmenter.undo()  # the last point: nothing left to show, at once
    assert segmenter.result is None and segmenter.mask is None and not segmenter.undo()
    assert shown[-1] == (None, None)


def test_embeddings_are_kept_per_picture_and_model(qtbot, segmenter, pictures, encodes):
    wait_encoded(qtbot, segmenter, pictures[0])
    segmenter.add_point(10, 10)
    wait_encoded(qtbot, segmenter, pictures[1])
    assert segmenter.points == [] and segmenter.result is None  # a new picture starts a new prompt
    wait_encoded(qtbot, segmenter, pictures[0])  # from the cache
    segmenter.set_picture(None)
    wait_encoded(qtbot, segmenter, pictures[0])
    assert len(encodes) == 2
    with qtbot.waitSignal(segmenter.mask_ready, timeout=TIMEOUT_MS):
        segmenter.add_point(75, 45)
    assert segmenter.result.masks.masks.shape == (3, 90, 150)
    assert segmenter.clear() and segmenter.result is None and not segmenter.clear()


def test_a_bad_picture_is_reported_not_raised(qtbot, segmenter, tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_text("not a picture", encoding="utf-8")
    with qtbot.waitSignal(segmenter.failed, timeout=LOAD_TIMEOUT_MS) as blocker:
        segmenter.set_picture(bad)
    assert isinstance(blocker.args[0], ImageError)
    qtbot.waitUntil(lambda: not segmenter.busy, timeout=TIMEOUT_MS)
    assert segmenter.embedding is None


def test_outline_levels():
    mask = np.zeros((9, 12), bool)
    mask[2:7, 3:10] = True
    levels = overlay_levels(mask, 1)
    assert (levels[~mask] == OUTSIDE).all()
    assert (levels[3:6, 4:9] == INSIDE).all()
    ring = mask.copy()
    ring[3:6, 4:9] = False
    assert (levels[ring] == OUTLINE).all()
    big = np.zeros((900, 1500), bool)
    big[300:600, 300:900] = True
    small = overlay_levels(big, max_side=150)  # an overlay for the screen: scaled down first
    assert small.shape == (90, 150) and (small[35:55, 35:85] == INSIDE).all() and (small[:25] == OUTSIDE).all()
