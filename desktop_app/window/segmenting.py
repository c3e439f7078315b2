"""The Segment tool in the main window: its actions and model menu, the overlay and the segmenter wired
together, exports, and questions about the region a mask covers.

The segment model is a second model beside the one asked (the toolbar's): chosen in Tools ▸ Segment Model
(or the arrow of the Segment button under the picture), remembered in the settings, loaded on first use.

    S (Segment)          enter or leave the mode; entering encodes the picture once (kept per picture and model)
    click                a point on the object; Shift+click or right-click: a point off it; drag: a box
    Tab / Shift+Tab      the next / previous of the three candidate masks (their IoU in the status bar)
    Ctrl+Z, Backspace    take back the last point or box
    Esc                  clear the prompt; Esc again (nothing to clear) leaves the mode
    File ▸ Export Mask… / Export Cut-out…    the mask as a black and white PNG, or the picture cut out (RGBA)
    a question or Describe with a mask shown goes with the region: the picture cropped to the mask's box,
    the rest dimmed (a PNG in the cache folder), shown in its chat bubble

Every method runs in: the GUI thread.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QFileDialog, QHBoxLayout, QLabel, QMenu, QProgressBar, QToolButton, QWidget

from desktop_app.session.aio import spawn
from desktop_app.session.model_session import precision_for
from desktop_app.session.segmenter import Segmenter, SegmentResult, region_file, write_png
from desktop_app.session.workers import FunctionWorker, run_worker
from desktop_app.widgets.error_dialog import show_error
from desktop_app.widgets.segment_overlay import SegmentOverlay
from desktop_app.window.asking import OPEN_FIRST
from model_tools.library import store as library
from model_tools.runtime import ConvertedModel, GlimpseError, paths

NO_SEGMENT_MODEL = (
    "No segment model installed: convert a Segment Anything model in Model Tools, e.g. "
    "nielsr/slimsam-50-uniform (Tools ▸ Model Tools… ▸ Convert)."
)
SEGMENT_TIP = "Segment (S): click an object in the picture to cut it out"
HINT = "Tab: next mask · Ctrl+Z: undo · Esc: clear"
PNG_FILTER = "PNG image (*.png)"
EXPORTS = {"mask": ("Export mask", "mask"), "cutout": ("Export cut-out", "cutout")}


class Segmenting(QObject):
    def __init__(self, window: Any) -> None:  # the MainWindow (its panel, status bar, settings, session)
        super().__init__(window)
        self.window = window
        self.segmenter = Segmenter(window.controller.pool, self)
        self.overlay = SegmentOverlay(window.image_panel.view)
        self.models: list[ConvertedModel] = []
        self._build()
        s, o = self.segmenter, self.overlay
        s.mask_ready.connect(self._on_mask_ready)
        s.activity_changed.connect(self._show_status)
        s.failed.connect(self._on_failed)
        o.point_clicked.connect(lambda x, y, positive: self._prompt(s.add_point, x, y, positive))
        o.box_drawn.connect(lambda *box: self._prompt(s.set_box, *box))
        o.undo_requested.connect(lambda: self._prompt(s.undo))
        o.clear_requested.connect(self._on_escape)
        o.cycle_requested.connect(s.cycle)
        window.session.listed.connect(lambda *_: self.refresh_models())
        window.image_panel.current_changed.connect(self._on_picture_changed)
        self.refresh_models()

    @property
    def active(self) -> bool:
        return self.window.segment_action.isChecked()

    # -- building ------------------------------------------------------------------------------------------

    def _build(self) -> None:
        w = self.window
        action = w.segment_action = QAction("&Segment", w)
        action.setCheckable(True)
        action.setShortcut(QKeySequence("S"))
        action.setObjectName("segmentAction")
        action.toggled.connect(self.set_active)
        w.addAction(action)
        w.segment_model_menu = QMenu("Segment &Model", w)
        w.segment_model_menu.setObjectName("segmentModelMenu")
        w.segment_model_menu.setToolTipsVisible(True)
        self._group = QActionGroup(w.segment_model_menu)
        w.export_mask_action = self._export_action("Export &Mask…", "mask", "The mask as a black and white PNG")
        w.export_cutout_action = self._export_action(
            "Export &Cut-out…", "cutout", "The object as a PNG with a transparent background"
        )
        button = self.button = QToolButton()
        button.setObjectName("segmentButton")
        button.setDefaultAction(action)
        button.setMenu(w.segment_model_menu)
        button.setPopupMode(QToolButton.ToolButtonPopupMode.MenuButtonPopup)
        button.setAccessibleName("Segment tool")
        button.setAccessibleDescription("Cut out an object by clicking it; the arrow chooses the segment model")
        w.image_panel.add_tool(button)
        # In the status bar: what runs, then which mask is shown and how good the model thinks it is.
        box = self.status_box = QWidget()
        box.setObjectName("segmentStatus")
        row = QHBoxLayout(box)
        row.setContentsMargins(0, 0, 0, 0)
        self.busy = QProgressBar()
        self.busy.setRange(0, 0)
        self.busy.setMaximumSize(80, 14)
        self.busy.setTextVisible(False)
        self.busy.setAccessibleName("Segmenting")
        self.busy.hide()
        self.label = QLabel()
        self.label.setObjectName("segmentLabel")
        self.label.setAccessibleName("Segment")
        row.addWidget(self.busy)
        row.addWidget(self.label)
        box.hide()
        w.status.insertPermanentWidget(0, box)

    def _export_action(self, text: str, kind: str, tip: str) -> QAction:
        action = QAction(text, self.window)
        action.setStatusTip(tip)
        action.setEnabled(False)
        action.triggered.connect(lambda _checked=False: self.choose_export(kind))
        self.window.addAction(action)
        return action

    # -- the segment model ---------------------------------------------------------------------------------

    def refresh_models(self) -> None:
        """The installed segment models: the menu lists them; with none the tool is off and says how to get one."""
        w = self.window
        self.models = [m for m in library.installed() if m.spec.family == "segment"]
        menu = w.segment_model_menu
        menu.clear()
        for item in self._group.actions():
            self._group.removeAction(item)
        chosen = self.chosen_model()
        for model in self.models:
            item = menu.addAction(model.name)
            item.setCheckable(True)
            item.setChecked(chosen is not None and model.path == chosen.path)
            item.setToolTip(str(model.path))
            item.triggered.connect(lambda _=False, m=model: self.choose_model(m))
            self._group.addAction(item)
        if not self.models:
            menu.addAction("No segment model installed").setEnabled(False)
        menu.addSeparator()
        menu.addAction("Convert One in Model Tools…", lambda: w.show_model_tools("convert"))
        tip = SEGMENT_TIP if self.models else NO_SEGMENT_MODEL
        w.segment_action.setEnabled(bool(self.models))
        w.segment_action.setToolTip(tip)
        w.segment_action.setStatusTip(tip)
        self.button.setToolTip(tip)
        if chosen is None:
            w.segment_action.setChecked(False)
        elif self.active:
            self._use(chosen)

    def chosen_model(self) -> ConvertedModel | None:
        """The model remembered in the settings, else the first installed one."""
        remembered = self.window.settings.segment_model
        for model in self.models:
            if remembered and model.path.resolve() == Path(remembered).resolve():
                return model
        return self.models[0] if self.models else None

    def choose_model(self, model: ConvertedModel) -> None:
        self.window.settings.segment_model = str(model.path)
        self.window.store_settings()
        if self.active:
            self._use(model)

    def _use(self, model: ConvertedModel) -> None:
        w = self.window
        self.segmenter.set_model(model.path, precision_for(model, w.settings.precision), w.session.device)

    # -- the mode ------------------------------------------------------------------------------------------

    def set_active(self, on: bool) -> None:
        """Enter (encode the picture shown) or leave the Segment mode."""
        w, s = self.window, self.segmenter
        current, model = w.image_panel.current(), self.chosen_model()
        if on and (current is None or model is None):
            w.notify(OPEN_FIRST if model is not None else NO_SEGMENT_MODEL, "info", 8000)
            w.segment_action.setChecked(False)
            return
        if on:
            self._use(model)
            self.overlay.activate((current.width, current.height))
            s.set_picture(current.path)
            w.image_panel.view.setFocus(Qt.FocusReason.ShortcutFocusReason)
        else:
            self.overlay.deactivate()
            s.set_picture(None)
        self.status_box.setVisible(on)
        self._show_status()

    def _on_picture_changed(self, image) -> None:
        if not self.active:
            return
        if image is None:
            self.window.segment_action.setChecked(False)
            return
        self.overlay.activate((image.width, image.height))
        self.segmenter.set_picture(image.path)  # another picture starts over; the same one (read again) keeps
        self._redraw()

    def _prompt(self, change, *args) -> None:
        change(*args)
        self._redraw()

    def _redraw(self) -> None:
        """The overlay shows the segmenter's prompt and mask."""
        s = self.segmenter
        self.overlay.show_prompt(s.points, s.labels, s.box)
        self.overlay.show_mask(s.result.levels[s.index] if s.result is not None else None)

    def _on_escape(self) -> None:
        if not self.segmenter.clear():
            self.window.segment_action.setChecked(False)
        self._redraw()

    def _on_mask_ready(self, result: SegmentResult | None) -> None:
        self._redraw()
        self.window.export_mask_action.setEnabled(result is not None)
        self.window.export_cutout_action.setEnabled(result is not None)
        self._show_status()

    def _show_status(self, *_args) -> None:
        s = self.segmenter
        self.busy.setVisible(s.busy)
        if s.busy:
            text = s.activity
        elif s.result is not None:
            text = f"Mask {s.index + 1} of 3 · IoU {s.iou:.2f} · {HINT}"
        else:
            text = "Segment: click the object · Shift+click: not part of it · drag: a box"
        self.label.setText(text)

    def _on_failed(self, exc: BaseException) -> None:
        self.window.segment_action.setChecked(False)
        show_error(self.window, exc)

    # -- exports -------------------------------------------------------------------------------------------

    def choose_export(self, kind: str) -> Path | None:
        """File ▸ Export Mask… / Export Cut-out…: where, in the save dialog (which asks before replacing a
        file); written on a worker. Returns the path chosen (None: cancelled or nothing to export)."""
        w, s = self.window, self.segmenter
        if s.result is None:
            w.notify("Nothing to export yet: press S and click an object in the picture.", "info", 6000)
            return None
        title, suffix = EXPORTS[kind]
        picture, mask = s.result.picture, s.mask
        suggested = picture.with_name(f"{picture.stem}-{suffix}.png")
        chosen, _ = QFileDialog.getSaveFileName(w, title, str(suggested), PNG_FILTER)
        if not chosen:
            return None
        path = Path(chosen)
        if path.suffix.lower() != ".png":
            path = path.with_name(path.name + ".png")
            if path.exists():  # the dialog asked about the name typed, not this one
                show_error(w, GlimpseError(f"{path.name} already exists.",
                                           "Choose it in the dialog to replace it, or give another name."))
                return None
        spawn(self._write(kind, path, picture, mask))
        return path

    async def _write(self, kind: str, path: Path, picture: Path, mask: Any) -> None:
        try:
            await run_worker(self.window.controller.pool,
                             FunctionWorker(write_png, kind, path, picture, mask, name="segment-export"))
        except OSError as exc:
            error = GlimpseError(f"Could not write {path.name}: {exc.strerror or exc}.",
                                 f"Choose a folder that exists and that you may write to (not {path.parent}).")
            error.__cause__ = exc
            show_error(self.window, error)
        except Exception as exc:  # noqa: BLE001 - the presenter says what happened
            show_error(self.window, exc)
        else:
            self.window.status.showMessage(f"Exported {path.name}", 4000)

    # -- asking about the region ---------------------------------------------------------------------------

    def asks_region(self, question: str, *, describe: bool, from_box: bool) -> bool:
        """With a mask shown, a question or Describe goes with the region (cropped on a worker, then asked);
        True when it was taken here."""
        w, s = self.window, self.segmenter
        if not self.active or s.result is None or (w.models.current is None and not w.models.busy):
            return False  # no mask: the whole picture; no model: the usual path says so
        if from_box:
            w.ask_bar.take_text()
        spawn(self._ask_region(question, describe, from_box, s.result.picture, s.mask))
        return True

    async def _ask_region(self, question: str, describe: bool, from_box: bool, picture: Path, mask: Any) -> None:
        w = self.window
        try:
            worker = FunctionWorker(region_file, picture, mask, paths.scratch_dir("regions"), name="segment-region")
            path, thumbnail = await run_worker(w.controller.pool, worker)
        except Exception as exc:  # noqa: BLE001 - the presenter says what happened
            if from_box:
                w.ask_bar.restore_text(question)
            show_error(w, exc)
            return
        w.asking.submit_region(question, describe=describe, picture=path, thumbnail=thumbnail)
