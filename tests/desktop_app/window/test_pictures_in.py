"""Pictures come in by File ▸ Open, drag and drop (files and image data), and paste; bad ones are reported."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QGuiApplication
from PySide6.QtWidgets import QApplication, QFileDialog

from tests.desktop_app.conftest import ANSWER_TIMEOUT_MS, error_dialog, open_pictures, wait_answer


def drop(win, mime: QMimeData) -> None:
    """What Qt delivers when something is dropped on the window: drag-enter, then drop."""
    pos = QPointF(win.width() / 3, win.height() / 2)
    actions = Qt.DropAction.CopyAction
    # QDragEnterEvent takes a QPoint in PySide6 6.11 (QDropEvent a QPointF).
    enter = QDragEnterEvent(pos.toPoint(), actions, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(win, enter)
    assert enter.isAccepted(), "the window refused the drag"
    event = QDropEvent(pos, actions, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(win, event)


def test_open_action_loads_several_files(qtbot, make_window, tiny_models, picture_files, monkeypatch):
    win = make_window(tiny_models["vqa"])
    assert win.image_panel.current() is None
    assert "Open an image (Ctrl+O)" in win.image_panel.empty_title.text()
    chosen = [str(p) for p in picture_files[:3]]
    monkeypatch.setattr(QFileDialog, "getOpenFileNames", staticmethod(lambda *a, **k: (chosen, "")))
    assert win.open_action.shortcut().toString() == "Ctrl+O"
    with qtbot.waitSignal(win.images_added, timeout=ANSWER_TIMEOUT_MS) as blocker:
        win.open_action.trigger()
    added = blocker.args[0]
    assert [str(i.path) for i in added] == [str(Path(p).resolve()) for p in chosen]
    assert win.image_panel.strip.count() == 3
    assert win.image_panel.current().path == Path(chosen[-1]).resolve()  # the last one is shown
    assert win.image_panel.stack.currentIndex() == 1
    # Recent files remember them, newest first.
    assert win.settings.recent_files[0] == str(Path(chosen[-1]).resolve())
    # The strip switches pictures.
    win.image_panel.strip.setCurrentRow(0)
    assert win.image_panel.current().path == Path(chosen[0]).resolve()


def test_drop_files_and_image_data(qtbot, make_window, tiny_models, picture_files, qimage_of, images):
    win = make_window(tiny_models["vqa"])
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(picture_files[0])), QUrl.fromLocalFile(str(picture_files[1]))])
    with qtbot.waitSignal(win.images_added, timeout=ANSWER_TIMEOUT_MS) as blocker:
        drop(win, mime)
    assert len(blocker.args[0]) == 2

    # Image data dragged from another application (no file): saved, then shown like any picture.
    mime = QMimeData()
    mime.setImageData(qimage_of(images[3]))
    with qtbot.waitSignal(win.images_added, timeout=ANSWER_TIMEOUT_MS) as blocker:
        drop(win, mime)
    (pasted,) = blocker.args[0]
    assert pasted.path.is_file() and pasted.path.suffix == ".png"
    assert (pasted.width, pasted.height) == images[3].size
    assert win.image_panel.current().path == pasted.path

    # A web link alone is refused with a notice, not an error.
    mime = QMimeData()
    mime.setUrls([QUrl("https://example.com/cat.jpg")])
    drop(win, mime)
    assert "on this computer only" in win.notification.message()


def test_drop_with_a_bad_file_loads_the_rest_and_reports(
    qtbot, make_window, tiny_models, picture_files, bad_file
):
    win = make_window(tiny_models["vqa"])
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in (picture_files[0], bad_file, picture_files[2])])
    with qtbot.waitSignals([win.images_added, win.images_failed], timeout=ANSWER_TIMEOUT_MS):
        drop(win, mime)
    assert win.image_panel.strip.count() == 2
    dialog = error_dialog(win)
    assert dialog is not None
    assert "1 of 3" not in dialog.summary.text()  # one failure: its own sentence
    assert "notes.png is not an image Glimpse can read" in dialog.summary.text()
    assert "Try PNG, JPEG" in dialog.fix.text()
    assert "Traceback" in dialog.details.toPlainText() and "OpenVINO" in dialog.details.toPlainText()


def test_paste_image_data_and_file_paths(qtbot, make_window, tiny_models, picture_files, qimage_of, images):
    win = make_window(tiny_models["vqa"])
    clipboard = QGuiApplication.clipboard()
    clipboard.setImage(qimage_of(images[1]))
    with qtbot.waitSignal(win.images_added, timeout=ANSWER_TIMEOUT_MS) as blocker:
        win.paste_action.trigger()
    assert blocker.args[0][0].width == images[1].width

    # File paths as text (as copied from a terminal), one per line.
    clipboard.setText(f"{picture_files[2]}\n'{picture_files[3]}'")
    with qtbot.waitSignal(win.images_added, timeout=ANSWER_TIMEOUT_MS) as blocker:
        win.paste_action.trigger()
    assert [i.path for i in blocker.args[0]] == [picture_files[2].resolve(), picture_files[3].resolve()]

    # Ctrl+V while typing a question: a picture on the clipboard goes to the pictures, not into the text.
    clipboard.setImage(qimage_of(images[0]))
    win.ask_bar.edit.setPlainText("what")
    with qtbot.waitSignal(win.images_added, timeout=ANSWER_TIMEOUT_MS):
        win.ask_bar.edit.paste()
    assert win.ask_bar.edit.toPlainText() == "what"
    # Plain text still pastes as text.
    clipboard.setText(" color is it?")
    win.ask_bar.edit.moveCursor(win.ask_bar.edit.textCursor().MoveOperation.End)
    win.ask_bar.edit.paste()
    assert win.ask_bar.edit.toPlainText() == "what color is it?"


def test_bad_image_shows_the_presenter_and_the_app_keeps_working(
    qtbot, make_window, tiny_models, picture_files, bad_file, tmp_path
):
    win = make_window(tiny_models["vqa"])
    with qtbot.waitSignal(win.images_failed, timeout=ANSWER_TIMEOUT_MS):
        win.open_files([bad_file])
    dialog = error_dialog(win)
    assert dialog is not None and not dialog.isModal()
    dialog.copy_details()
    assert "notes.png" in QGuiApplication.clipboard().text()
    dialog.close()

    # A truncated PNG and a missing file: clear messages, no crash.
    truncated = tmp_path / "cut.png"
    truncated.write_bytes(picture_files[0].read_bytes()[:200])
    with qtbot.waitSignal(win.images_failed, timeout=ANSWER_TIMEOUT_MS) as blocker:
        win.open_files([truncated, tmp_path / "gone.jpg"])
    assert len(blocker.args[0]) == 2
    summary = error_dialog(win).summary.text()
    assert summary.startswith("2 of 2 files could not be opened")
    assert "cut.png" in summary and "gone.jpg: file not found" in summary

    # Still works: open a good picture and ask.
    open_pictures(qtbot, win, [picture_files[0]])
    turn = win.ask("what color is the circle?")
    wait_answer(qtbot, win, turn)
    assert turn.status == "done" and turn.answer


def test_exotic_pictures_read_like_the_cli(qtbot, make_window, tiny_models, tmp_path):
    """CMYK, 16-bit, palette with transparency, animated GIF and EXIF-rotated JPEG all open, upright RGB."""
    import numpy as np
    from PIL import Image

    base = Image.fromarray((np.random.default_rng(3).random((30, 50, 3)) * 255).astype("uint8"))
    files = []
    cmyk = tmp_path / "cmyk.jpg"
    base.convert("CMYK").save(cmyk)
    files.append(cmyk)
    grey16 = tmp_path / "grey16.png"
    Image.fromarray((np.arange(30 * 50).reshape(30, 50) * 40).astype("uint16")).save(grey16)
    files.append(grey16)
    palette = tmp_path / "palette.png"
    base.convert("P", palette=Image.Palette.ADAPTIVE).save(palette, transparency=0)
    files.append(palette)
    gif = tmp_path / "anim.gif"
    base.save(gif, save_all=True, append_images=[base.rotate(90)], duration=100, loop=0)
    files.append(gif)
    rotated = tmp_path / "rotated.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90° clockwise to display
    base.save(rotated, exif=exif)
    files.append(rotated)
    win = make_window(tiny_models["vqa"])
    added = open_pictures(qtbot, win, files)
    assert [i.path.name for i in added] == [f.name for f in files]
    sizes = {i.path.name: (i.width, i.height) for i in added}
    assert sizes["rotated.jpg"] == (30, 50)  # upright, as the model sees it
    assert sizes["cmyk.jpg"] == (50, 30)
    assert all(i.image.format().name == "Format_RGBX8888" for i in added)  # opaque RGB, as the model sees it


def test_zoom_recent_and_switching_pictures(qtbot, make_window, tiny_models, picture_files):
    win = make_window(tiny_models["vqa"])
    open_pictures(qtbot, win, [picture_files[0], picture_files[1]])
    view = win.image_panel.view
    fitted = view.zoom()
    win.zoom_in_action.trigger()
    assert view.zoom() > fitted
    win.zoom_out_action.trigger()
    win.zoom_out_action.trigger()
    assert view.zoom() < fitted
    win.actual_size_action.trigger()
    assert view.zoom() == 1.0
    win.fit_action.trigger()
    assert abs(view.zoom() - fitted) < 1e-6
    # Previous / next picture.
    assert win.image_panel.current().path == picture_files[1].resolve()
    win.previous_image_action.trigger()
    assert win.image_panel.current().path == picture_files[0].resolve()
    assert picture_files[0].name in view.accessibleName()
    # File ▸ Open Recent reopens a picture.
    win.recent_menu.aboutToShow.emit()
    first = win.recent_menu.actions()[0]
    assert picture_files[1].name in first.text()
    with qtbot.waitSignal(win.images_added, timeout=ANSWER_TIMEOUT_MS) as blocker:
        first.trigger()
    assert blocker.args[0][0].path == picture_files[1].resolve()
    assert win.image_panel.strip.count() == 2  # the same picture is not added twice


def test_a_sample_opens_with_its_question_suggested(qtbot, make_window, tiny_models):
    """Clicking a sample loads it and suggests its question, selected: typing replaces it, Enter would ask it."""
    from PySide6.QtWidgets import QToolButton

    from desktop_app.resources import samples

    win = make_window(tiny_models["vqa"])
    sample = samples()[0]
    buttons = [
        b for b in win.image_panel.findChildren(QToolButton) if b.accessibleName() == f"Sample picture: {sample.title}"
    ]
    assert buttons, "a button for the sample"
    with qtbot.waitSignal(win.images_added, timeout=ANSWER_TIMEOUT_MS) as blocker:
        qtbot.mouseClick(buttons[0], Qt.MouseButton.LeftButton)
    assert blocker.args[0][0].path == sample.path.resolve()
    edit = win.ask_bar.edit
    assert edit.toPlainText() == sample.question and edit.textCursor().selectedText() == sample.question
    assert edit.hasFocus() or not win.isActiveWindow()
    qtbot.keyClicks(edit, "is there a square?")
    assert edit.toPlainText() == "is there a square?"
