"""The window's Segment tool with real widgets, signals and workers, on the tiny SAM installed as the user's
segment model beside the window's question-answering model (the bundled demo)."""

from __future__ import annotations

import shutil
import threading
import time

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QImage, QMouseEvent
from PySide6.QtWidgets import QApplication, QMenu

from desktop_app.session.settings import Settings, load_settings, save_settings
from desktop_app.session.workers import ImageReadWorker
from desktop_app.window import segmenting
from model_tools.runtime import paths
from model_tools.runtime.segment.pipeline import SegmentPipeline, load
from model_tools.runtime.segment.regions import region_picture
from tests.desktop_app.conftest import (
    ANSWER_TIMEOUT_MS,
    LOAD_TIMEOUT_MS,
    Heartbeat,
    error_dialog,
    open_pictures,
)

WIDTH, HEIGHT = 300, 180  # the picture; shown at most DISPLAY (a large picture is shown scaled down)
DISPLAY = 200
TIMEOUT_MS = 30_000


@pytest.fixture
def picture(tmp_path):
    rng = np.random.default_rng(5)
    pixels = (rng.random((HEIGHT, WIDTH, 3)) * 60).astype("uint8")
    pixels[40:120, 180:260] = (240, 200, 30)
    pixels[100:160, 30:90] = (40, 90, 230)
    path = tmp_path / "shapes.png"
    Image.fromarray(pixels).save(path)
    return path


@pytest.fixture
def segment_model(private_models, tiny_sam_model):
    installed = private_models / "tiny-sam"
    shutil.copytree(tiny_sam_model, installed)
    return installed


@pytest.fixture
def encodes(monkeypatch):
    """The threads `SegmentPipeline.encode` ran on; `delay` seconds added to each (the GIL released)."""

    class Encodes(list):
        delay = 0.0

    threads = Encodes()
    original = SegmentPipeline.encode

    def encode(self, picture):
        threads.append(threading.current_thread().name)
        time.sleep(threads.delay)
        return original(self, picture)

    monkeypatch.setattr(SegmentPipeline, "encode", encode)
    return threads


@pytest.fixture
def window(qtbot, make_window, segment_model, picture, monkeypatch):
    """A wide window on the demo model with the picture shown scaled down, in Segment mode, encoded."""
    monkeypatch.setattr(ImageReadWorker, "DISPLAY_MAX", DISPLAY)
    win = make_window(None, settings=Settings(), persist=False)
    win.resize(1100, 900)  # the view is taller than the picture: bands above and below it
    (shown,) = open_pictures(qtbot, win, [picture])
    assert (shown.width, shown.height) == (WIDTH, HEIGHT) and shown.image.width() == DISPLAY
    enter(qtbot, win)
    return win


def enter(qtbot, win) -> None:
    with qtbot.waitSignal(win.segmenting.segmenter.encoded, timeout=LOAD_TIMEOUT_MS):
        win.segment_action.trigger()
    assert win.segment_action.isChecked() and win.segmenting.overlay.active
    qtbot.wait(20)  # the view's fit settles


def direct(segment_model, picture):
    pipe = load(segment_model, "fp16", "CPU")
    return pipe, pipe.encode(picture)


def view_of(win):
    return win.image_panel.view


def click(qtbot, win, pos: QPoint, button=Qt.MouseButton.LeftButton, modifiers=Qt.KeyboardModifier.NoModifier):
    """Click the picture and wait for the masks of the new prompt."""
    with qtbot.waitSignal(win.segmenting.segmenter.mask_ready, timeout=TIMEOUT_MS):
        qtbot.mouseClick(view_of(win).viewport(), button, modifiers, pos)


def mouse(widget, kind: QEvent.Type, pos: QPointF, buttons=Qt.MouseButton.LeftButton) -> None:
    button = Qt.MouseButton.NoButton if kind == QEvent.Type.MouseMove else Qt.MouseButton.LeftButton
    event = QMouseEvent(kind, pos, widget.mapToGlobal(pos), button, buttons, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, event)


def key(qtbot, win, k, modifiers=Qt.KeyboardModifier.NoModifier) -> None:
    view_of(win).setFocus()
    qtbot.keyClick(view_of(win), k, modifiers)


def test_the_tool_needs_a_segment_model_and_says_how_to_get_one(qtbot, make_window, private_models, tiny_sam_model,
                                                                   picture):
    win = make_window(None, settings=Settings(), persist=False)
    action, button = win.segment_action, win.segmenting.button
    assert not action.isEnabled() and not button.isEnabled()
    assert "nielsr/slimsam-50-uniform" in action.toolTip() and "Model Tools" in button.toolTip()
    assert button.accessibleName() == "Segment tool" and action.shortcut().toString() == "S"
    assert any(action in menu.actions() for menu in win.menuBar().findChildren(QMenu))
    shutil.copytree(tiny_sam_model, private_models / "tiny-sam")
    win.refresh_models()
    assert action.isEnabled() and button.isEnabled() and "Segment (S)" in action.toolTip()
    assert [a.text() for a in win.segment_model_menu.actions() if a.isCheckable()] == ["tiny-sam"]
    assert win.models.current.task != "segment"  # the model asked stays the demo

    action.trigger()  # no picture yet: says so, stays off
    assert not action.isChecked() and "Open a picture first" in win.notification.message()


def test_entering_encodes_once_per_picture_and_keeps_the_gui_responsive(qtbot, make_window, segment_model, picture,
                                                                        encodes):
    win = make_window(None, settings=Settings(), persist=False)
    open_pictures(qtbot, win, [picture])
    encodes.delay = 0.6
    beats = Heartbeat()
    beats.start()
    try:
        win.activateWindow()
        view_of(win).setFocus()
        with qtbot.waitSignal(win.segmenting.segmenter.encoded, timeout=LOAD_TIMEOUT_MS):
            qtbot.keyClick(view_of(win), Qt.Key.Key_S)  # the shortcut
            assert win.segmenting.segmenter.busy and win.segmenting.busy.isVisibleTo(win)
    finally:
        beats.stop()
    worst, _raw, count = beats.worst()
    assert count >= 30, "the heartbeat stopped while the picture was encoded"
    assert worst < 0.060, f"GUI stalled: {beats.describe()}"
    assert len(encodes) == 1 and encodes[0] == "glimpse-segment-encode"
    qtbot.waitUntil(lambda: not win.segmenting.segmenter.busy, timeout=TIMEOUT_MS)
    assert not win.segmenting.busy.isVisibleTo(win) and "click the object" in win.segmenting.label.text()

    key(qtbot, win, Qt.Key.Key_S)  # S leaves
    assert not win.segment_action.isChecked() and not win.segmenting.overlay.active
    win.ask_bar.edit.setFocus()
    qtbot.keyClicks(win.ask_bar.edit, "s")  # typing in the question box is typing
    assert win.ask_bar.edit.toPlainText() == "s" and not win.segment_action.isChecked()
    enter(qtbot, win)  # the same picture again: from the cache
    assert len(encodes) == 1
    assert load_settings()[0].segment_model is None  # nothing chosen yet: the first installed is used
    win.segmenting.choose_model(win.segmenting.models[0])
    assert win.settings.segment_model == str(segment_model)


def test_the_segment_model_is_remembered(qtbot, make_window, segment_model, private_config):
    save_settings(Settings(segment_model=str(segment_model)))
    assert load_settings()[0].segment_model == str(segment_model)
    (private_config / "settings.json").write_text('{"segment_model": 3}', encoding="utf-8")
    assert load_settings()[0].segment_model is None  # a wrong type falls back to the default
    win = make_window(None, settings=Settings(segment_model=str(segment_model)), persist=False)
    assert win.segmenting.chosen_model().path == segment_model


def test_a_click_is_the_runtimes_mask_at_that_picture_point(qtbot, window, segment_model, picture):
    win, view = window, view_of(window)
    segmenter, overlay = win.segmenting.segmenter, win.segmenting.overlay
    assert view.viewport().width() / view.viewport().height() < 0.8 * WIDTH / HEIGHT
    # Where the view draws the yellow square (picture pixels 180-260 x 40-120) is where it is in the picture.
    shot = view.viewport().grab().toImage().convertToFormat(QImage.Format.Format_RGB888)
    rows = np.frombuffer(shot.constBits(), np.uint8).reshape(shot.height(), shot.bytesPerLine())
    pixels = rows[:, : shot.width() * 3].reshape(shot.height(), shot.width(), 3).astype(int)
    ys, xs = np.nonzero(np.abs(pixels - (240, 200, 30)).sum(axis=2) < 40)
    per_view_pixel = WIDTH / (DISPLAY * view.zoom())
    x0, y0 = overlay.to_picture(QPointF(xs.min(), ys.min()))
    x1, y1 = overlay.to_picture(QPointF(xs.max() + 1, ys.max() + 1))
    assert np.allclose([x0, y0, x1, y1], [180, 40, 260, 120], atol=2 * per_view_pixel), (x0, y0, x1, y1)

    target = (220.0, 80.0)  # in the yellow square, in picture pixels
    scene = QPointF(target[0] * DISPLAY / WIDTH, target[1] * DISPLAY / WIDTH)
    pos = view.mapFromScene(scene)  # Qt's own mapping, to a whole view pixel
    click(qtbot, win, pos)
    (point,) = segmenter.points
    back = view.mapToScene(pos)
    assert point == pytest.approx((back.x() * WIDTH / DISPLAY, back.y() * WIDTH / DISPLAY))
    assert abs(point[0] - target[0]) <= per_view_pixel and abs(point[1] - target[1]) <= per_view_pixel
    assert segmenter.labels == [1] and len(overlay.markers) == 1

    pipe, embedding = direct(segment_model, picture)
    expected = pipe.segment(embedding, [point], [1])
    assert segmenter.result.masks.masks.shape == (3, HEIGHT, WIDTH)
    assert np.array_equal(segmenter.result.masks.masks, expected.masks)
    assert np.array_equal(segmenter.mask, expected.best_mask) and overlay.shown is not None
    assert "IoU" in win.segmenting.label.text() and win.export_mask_action.isEnabled()

    # A point at a fraction of a view pixel lands at its fraction of a picture pixel.
    exact = overlay.to_view(101.25, 40.5)
    with qtbot.waitSignal(segmenter.mask_ready, timeout=TIMEOUT_MS):
        mouse(view.viewport(), QEvent.Type.MouseButtonPress, exact)
        mouse(view.viewport(), QEvent.Type.MouseButtonRelease, exact, Qt.MouseButton.NoButton)
    assert segmenter.points[-1] == pytest.approx((101.25, 40.5), abs=1e-6)
    assert np.array_equal(segmenter.result.masks.masks, pipe.segment(embedding, segmenter.points, [1, 1]).masks)


def test_negative_points_undo_escape_and_candidates(qtbot, window):
    win, view = window, view_of(window)
    segmenter, overlay = win.segmenting.segmenter, win.segmenting.overlay
    inside = view.mapFromScene(QPointF(150, 50))
    click(qtbot, win, inside)
    click(qtbot, win, view.mapFromScene(QPointF(30, 100)), modifiers=Qt.KeyboardModifier.ShiftModifier)
    click(qtbot, win, view.mapFromScene(QPointF(60, 20)), button=Qt.MouseButton.RightButton)
    assert segmenter.labels == [1, 0, 0] and len(overlay.markers) == 3
    assert segmenter.result.labels == (1, 0, 0)

    best = segmenter.index
    key(qtbot, win, Qt.Key.Key_Tab)
    assert segmenter.index == (best + 1) % 3 and overlay.shown is segmenter.result.levels[segmenter.index]
    assert f"Mask {segmenter.index + 1} of 3" in win.segmenting.label.text()
    key(qtbot, win, Qt.Key.Key_Backtab, Qt.KeyboardModifier.ShiftModifier)
    assert segmenter.index == best

    with qtbot.waitSignal(segmenter.mask_ready, timeout=TIMEOUT_MS):
        key(qtbot, win, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert segmenter.labels == [1, 0] and segmenter.result.labels == (1, 0) and len(overlay.markers) == 2
    with qtbot.waitSignal(segmenter.mask_ready, timeout=TIMEOUT_MS):
        key(qtbot, win, Qt.Key.Key_Backspace)
    assert segmenter.labels == [1]

    # A drag draws a box (clamped to the picture).
    start, end = view.mapFromScene(QPointF(110, 15)), view.mapFromScene(QPointF(190, 90))
    with qtbot.waitSignal(segmenter.mask_ready, timeout=TIMEOUT_MS):
        mouse(view.viewport(), QEvent.Type.MouseButtonPress, QPointF(start))
        mouse(view.viewport(), QEvent.Type.MouseMove, QPointF(start + QPoint(20, 20)))
        mouse(view.viewport(), QEvent.Type.MouseMove, QPointF(end) + QPointF(400, 0))
        mouse(view.viewport(), QEvent.Type.MouseButtonRelease, QPointF(end) + QPointF(400, 0), Qt.MouseButton.NoButton)
    x0, y0, x1, y1 = segmenter.box
    assert x1 == WIDTH and x0 == pytest.approx(165, abs=2) and y0 == pytest.approx(22.5, abs=2)
    assert segmenter.points == [segmenter.points[0]]  # a drag adds no point

    key(qtbot, win, Qt.Key.Key_Escape)  # clears
    assert segmenter.result is None and segmenter.points == [] and overlay.shown is None and not overlay.markers
    assert win.segment_action.isChecked() and not win.export_mask_action.isEnabled()
    key(qtbot, win, Qt.Key.Key_Escape)  # nothing to clear: leaves
    assert not win.segment_action.isChecked() and not overlay.active


def test_export_mask_and_cutout(qtbot, window, monkeypatch, tmp_path, picture):
    win, segmenter = window, window.segmenting.segmenter
    click(qtbot, win, view_of(win).mapFromScene(QPointF(150, 50)))
    chosen: list[str] = []

    def save_as(name):
        def dialog(parent, title, suggested, filter_):
            chosen.append(suggested)
            return str(tmp_path / name), filter_

        monkeypatch.setattr(segmenting.QFileDialog, "getSaveFileName", staticmethod(dialog))

    save_as("mask.png")
    win.export_mask_action.trigger()
    qtbot.waitUntil(lambda: (tmp_path / "mask.png").exists(), timeout=TIMEOUT_MS)
    assert chosen[-1].endswith("shapes-mask.png")
    with Image.open(tmp_path / "mask.png") as png:
        assert png.size == (WIDTH, HEIGHT) and png.mode == "L"
        assert np.array_equal(np.asarray(png) == 255, segmenter.mask)
        assert set(np.unique(np.asarray(png))) <= {0, 255}

    save_as("cut-out")  # no suffix: .png is added
    win.export_cutout_action.trigger()
    qtbot.waitUntil(lambda: (tmp_path / "cut-out.png").exists(), timeout=TIMEOUT_MS)
    with Image.open(tmp_path / "cut-out.png") as png:
        rgba = np.asarray(png)
        assert png.mode == "RGBA" and png.size == (WIDTH, HEIGHT)
    assert np.array_equal(rgba[..., 3] == 255, segmenter.mask) and (rgba[..., 3][~segmenter.mask] == 0).all()
    with Image.open(picture) as original:
        assert np.array_equal(rgba[..., :3][segmenter.mask], np.asarray(original.convert("RGB"))[segmenter.mask])
    win.export_cutout_action.trigger()  # again without a suffix: that file exists and the dialog did not ask
    assert error_dialog(win) is not None and "already exists" in error_dialog(win).summary.text()


def test_asking_about_the_region(qtbot, window, picture):
    win, segmenter = window, window.segmenting.segmenter
    click(qtbot, win, view_of(win).mapFromScene(QPointF(150, 50)))
    mask = segmenter.mask
    win.ask_bar.edit.setPlainText("what color is the circle?")
    assert win.ask() is None  # asked once the region is cropped
    assert win.ask_bar.edit.toPlainText() == ""
    qtbot.waitUntil(lambda: len(win.conversation.turns) == 1, timeout=TIMEOUT_MS)
    turn = win.conversation.turns[0]
    region = paths.cache_dir() / "regions"
    assert turn.question == "what color is the circle?" and turn.image.startswith(str(region))
    with Image.open(picture) as original, Image.open(turn.image) as asked:
        assert np.array_equal(np.asarray(asked), np.asarray(region_picture(original.convert("RGB"), mask)))
    view = win.chat.view_for(turn)
    assert not view.question.thumb.icon().isNull()
    qtbot.waitUntil(lambda: turn.finished, timeout=ANSWER_TIMEOUT_MS)
    assert turn.answer

    key(qtbot, win, Qt.Key.Key_Escape)  # no mask: the whole picture again
    turn = win.ask("what color is the circle?")
    assert turn is not None and turn.image == str(picture.resolve())
