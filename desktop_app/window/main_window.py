"""Glimpse's main window: pictures on the left, the conversation on the right, switches on top.

The window watches: `ChatController` (and its `ModelManager`) do the work on worker threads and report
through signals; slots here only update widgets.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QByteArray, QEvent, QObject, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import (
    QAction,
    QCloseEvent,
    QDesktopServices,
    QDragEnterEvent,
    QDragLeaveEvent,
    QDragMoveEvent,
    QDropEvent,
    QGuiApplication,
    QIcon,
    QKeySequence,
)
from PySide6.QtWidgets import (
    QApplication,
    QFileDialog,
    QMainWindow,
    QSplitter,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from desktop_app.diagnostics.about import AboutDialog
from desktop_app.diagnostics.logs import log_file
from desktop_app.resources import Sample, app_icon, samples
from desktop_app.session import autosave
from desktop_app.session.aio import install_event_loop
from desktop_app.session.chat_controller import ChatController
from desktop_app.session.conversation import Conversation, Turn
from desktop_app.session.model_session import ModelSpec, resolve_model
from desktop_app.session.settings import Settings, load_settings, save_settings
from desktop_app.session.workers import ImageRead
from desktop_app.widgets.ask_bar import AskBar
from desktop_app.widgets.chat import ChatView, TurnView
from desktop_app.widgets.error_dialog import NotificationBar, describe, show_error
from desktop_app.widgets.image_panel import ImagePanel, SessionImage
from desktop_app.widgets.model_bar import ModelBar
from desktop_app.widgets.speech import Speaker
from desktop_app.widgets.status import GlimpseStatusBar
from desktop_app.widgets.theme import ensure_theme
from desktop_app.window import pictures_in as intake
from model_tools.library import store as library
from model_tools.runtime import (
    ConvertedModel,
    DeviceUnavailableError,
    GlimpseError,
    ImageError,
    paths,
)

if TYPE_CHECKING:
    from model_tools.runtime import BlipPipeline

log = logging.getLogger("glimpse.app.window")

SHUTDOWN_TIMEOUT_MS = 1000
CONVERSATION_FILTER = "Glimpse conversation (*.json);;All files (*)"
MARKDOWN_FILTER = "Markdown (*.md);;All files (*)"


class MainWindow(QMainWindow):
    """Signals for whoever watches (tests, a future self-test): `images_added(list[SessionImage])` and
    `images_failed(list[ImageRead])` after each batch of pictures comes in."""

    images_added = Signal(object)
    images_failed = Signal(object)

    def __init__(
        self,
        model: Path | str | None = None,
        settings: Settings | None = None,
        *,
        images: list[Path] | None = None,
        persist: bool = True,
    ) -> None:
        super().__init__()
        app = QApplication.instance()
        install_event_loop(app)  # type: ignore[arg-type]
        ensure_theme(app)  # type: ignore[arg-type]
        notice = None
        if settings is None:
            settings, notice = load_settings()
        self.settings = settings
        self.persist = persist
        self.conversation = Conversation()
        self._views: dict[int, TurnView] = {}
        self._cleared: Conversation | None = None  # what Undo (Ctrl+Z) brings back
        self._startup_errors: list[BaseException] = []
        self.shutdown_timeout_ms = SHUTDOWN_TIMEOUT_MS
        self.threads_stopped: bool | None = None
        self._extra_models: list[ConvertedModel] = []
        self._can_describe = True  # until a loaded model says otherwise
        self._describe_blocker = ""
        self.tools_window = None  # Model Tools (desktop_app.tools_panel), made on first use

        self.setWindowTitle("Glimpse")
        self.setWindowIcon(app_icon())
        self.setObjectName("mainWindow")
        self.setAcceptDrops(True)

        self.controller = ChatController(self)
        self.controller.max_new_tokens = settings.max_new_tokens
        self.controller.num_beams = settings.num_beams
        self.models = self.controller.models
        self.speaker = Speaker(self)

        self._build_widgets()
        self._build_actions()
        self._connect()
        self._restore_geometry()

        self.model_bar.set_generation(settings.max_new_tokens, settings.num_beams)
        self.model_bar.show_device(settings.device)
        self.model_bar.show_exact(settings.exact_precision)
        self.controller.find_devices()
        self._start_model(Path(model) if model is not None else None)
        self._update_empty_chat()
        if notice:
            self.notify(notice, "warning")
        pictures = self._restore_conversation() if persist else []
        pictures += [Path(p) for p in images or []]  # last: the picture shown is one asked for
        self.open_files(pictures)
        QTimer.singleShot(0, self, self._after_start)  # the window as context: skipped if it is gone

    # -- building ----------------------------------------------------------------------------------------------

    def _build_widgets(self) -> None:
        self.model_bar = ModelBar()
        toolbar = QToolBar("Model")
        toolbar.setObjectName("modelToolbar")
        toolbar.setMovable(False)
        toolbar.addWidget(self.model_bar)
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea, toolbar)
        self.toolbar = toolbar

        self.notification = NotificationBar()
        self.image_panel = ImagePanel()
        self.chat = ChatView()
        self.ask_bar = AskBar()
        right = QWidget()
        right.setObjectName("chatPane")
        rl = QVBoxLayout(right)
        rl.setContentsMargins(0, 0, 0, 0)
        rl.setSpacing(0)
        rl.addWidget(self.chat, 1)
        rl.addWidget(self.ask_bar)
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.setObjectName("mainSplitter")
        self.splitter.setChildrenCollapsible(False)
        left = QWidget()
        ll = QVBoxLayout(left)
        ll.setContentsMargins(12, 12, 6, 12)
        ll.addWidget(self.image_panel)
        self.splitter.addWidget(left)
        self.splitter.addWidget(right)
        self.splitter.setStretchFactor(0, 5)
        self.splitter.setStretchFactor(1, 4)
        central = QWidget()
        cl = QVBoxLayout(central)
        cl.setContentsMargins(0, 0, 0, 0)
        cl.setSpacing(0)
        cl.addWidget(self.notification)
        cl.addWidget(self.splitter, 1)
        self.setCentralWidget(central)
        self.status = GlimpseStatusBar()
        self.setStatusBar(self.status)

    def _action(self, text: str, slot, shortcut=None, *, tip: str = "", icon: str = "") -> QAction:
        action = QAction(text, self)
        if icon:
            action.setIcon(QIcon.fromTheme(icon))
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        if tip:
            action.setStatusTip(tip)
            action.setToolTip(tip)
        action.triggered.connect(lambda _checked=False: slot())
        self.addAction(action)  # shortcuts work wherever the focus is in the window
        return action

    def _build_actions(self) -> None:
        a = self._action
        self.open_action = a(
            "&Open Image…",
            self.choose_files,
            QKeySequence.StandardKey.Open,
            tip="Open one or more pictures",
            icon="document-open",
        )
        self.paste_action = a(
            "&Paste Image",
            self.paste,
            QKeySequence.StandardKey.Paste,
            tip="Paste a picture or file paths from the clipboard",
            icon="edit-paste",
        )
        self.open_model_action = a(
            "Open &Model Folder…", self.choose_model_folder, tip="Use a converted model from a folder"
        )
        self.quit_action = a("&Quit", self.close, QKeySequence.StandardKey.Quit, icon="application-exit")
        self.describe_action = a(
            "&Describe Picture", self.describe, "Ctrl+D", tip="Write a caption for the picture"
        )
        self.stop_action = a(
            "&Stop", self.stop, Qt.Key.Key_Escape, tip="Stop the answer (Esc)", icon="process-stop"
        )
        self.copy_answer_action = a(
            "&Copy Last Answer", self.copy_last_answer, "Ctrl+Shift+C", icon="edit-copy"
        )
        self.clear_action = a(
            "C&lear Conversation", self.clear_conversation, "Ctrl+Shift+Delete", icon="edit-clear"
        )
        self.undo_clear_action = a(
            "&Undo Clear", self.undo_clear, QKeySequence.StandardKey.Undo, icon="edit-undo"
        )
        self.undo_clear_action.setEnabled(False)
        self.open_conversation_action = a(
            "&Open Conversation…", self.choose_conversation_to_open, "Ctrl+Shift+O"
        )
        self.save_action = a(
            "&Save Conversation…",
            self.choose_save_conversation,
            QKeySequence.StandardKey.Save,
            icon="document-save",
        )
        self.export_action = a("&Export as Markdown…", self.choose_export_markdown, "Ctrl+E")
        self.zoom_in_action = a(
            "Zoom &In", lambda: self.image_panel.view.zoom_by(1.25), QKeySequence.StandardKey.ZoomIn
        )
        self.zoom_out_action = a(
            "Zoom &Out", lambda: self.image_panel.view.zoom_by(0.8), QKeySequence.StandardKey.ZoomOut
        )
        self.fit_action = a("&Fit to Window", self.image_panel.view.fit, "Ctrl+0")
        self.actual_size_action = a("&Actual Size", self.image_panel.view.actual_size, "Ctrl+1")
        self.next_image_action = a("&Next Picture", lambda: self.image_panel.step(1), "Ctrl+PgDown")
        self.previous_image_action = a("&Previous Picture", lambda: self.image_panel.step(-1), "Ctrl+PgUp")
        self.focus_question_action = a("Go to &Question", self.focus_question, "Ctrl+L")
        self.read_aloud_action = a("&Read Answers Aloud", lambda: None)
        self.read_aloud_action.setCheckable(True)
        self.read_aloud_action.setChecked(self.settings.read_aloud)
        self.read_aloud_action.setVisible(False)
        self.model_tools_action = a(
            "&Model Tools…",
            self.show_model_tools,
            "Ctrl+Shift+M",
            tip="Download, convert, quantize and compare models",
        )
        self.show_log_action = a("Show &Log", self.show_log, tip="Open Glimpse's log file")
        self.about_action = a("&About Glimpse", self.show_about, icon="help-about")

        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        file_menu.addAction(self.open_action)
        self.recent_menu = file_menu.addMenu("Open &Recent")
        self.recent_menu.setObjectName("recentMenu")
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        self._fill_recent_menu()
        file_menu.addAction(self.paste_action)
        file_menu.addSeparator()
        file_menu.addAction(self.open_model_action)
        file_menu.addSeparator()
        file_menu.addAction(self.quit_action)
        chat_menu = bar.addMenu("&Conversation")
        for action in (
            self.describe_action,
            self.stop_action,
            None,
            self.copy_answer_action,
            self.clear_action,
            self.undo_clear_action,
            None,
            self.open_conversation_action,
            self.save_action,
            self.export_action,
        ):
            chat_menu.addSeparator() if action is None else chat_menu.addAction(action)
        view_menu = bar.addMenu("&View")
        for action in (
            self.zoom_in_action,
            self.zoom_out_action,
            self.fit_action,
            self.actual_size_action,
            None,
            self.previous_image_action,
            self.next_image_action,
            None,
            self.focus_question_action,
            self.read_aloud_action,
        ):
            view_menu.addSeparator() if action is None else view_menu.addAction(action)
        tools_menu = bar.addMenu("&Tools")
        tools_menu.addAction(self.model_tools_action)
        help_menu = bar.addMenu("&Help")
        help_menu.addAction(self.show_log_action)
        help_menu.addAction(self.about_action)
        self.stop_action.setEnabled(False)

    def _connect(self) -> None:
        c = self.controller
        c.turn_updated.connect(self._on_turn_updated)
        c.text_received.connect(self._on_text_received)
        c.answer_finished.connect(self._on_answer_finished)
        c.answer_failed.connect(self._on_answer_failed)
        c.generating_changed.connect(self._on_generating_changed)
        c.devices_found.connect(self._on_devices_found)
        c.images_read.connect(self._on_images_read)
        m = self.models
        m.loading_started.connect(self._on_loading_started)
        m.progressed.connect(self._on_load_progressed)
        m.loaded.connect(self._on_loaded)
        m.load_failed.connect(self._on_load_failed)
        m.busy_changed.connect(self._on_busy_changed)
        b = self.model_bar
        b.model_chosen.connect(self._on_model_chosen)
        b.other_model_requested.connect(self.choose_model_folder)
        b.precision_chosen.connect(self._on_precision_chosen)
        b.device_chosen.connect(self._on_device_chosen)
        b.generation_changed.connect(self._on_generation_changed)
        b.exact_chosen.connect(self._on_exact_chosen)
        self.ask_bar.asked.connect(self.ask)
        self.ask_bar.describe_requested.connect(self.describe)
        self.ask_bar.stop_requested.connect(self.stop)
        self.ask_bar.edit.pictures_pasted.connect(self._on_pictures_pasted)
        self.ask_bar.edit.installEventFilter(self)  # Ctrl+Z there may undo Clear (eventFilter)
        self.image_panel.open_requested.connect(self.choose_files)
        self.image_panel.paste_requested.connect(self.paste)
        self.image_panel.sample_chosen.connect(self._on_sample_chosen)
        self.image_panel.current_changed.connect(self._on_current_image_changed)
        self.chat.image_clicked.connect(self.image_panel.select)
        self.chat.answer_copied.connect(lambda _t: self.status.showMessage("Answer copied.", 3000))
        self.chat.speak_requested.connect(self.speaker.say)
        self.speaker.availability_changed.connect(self._on_speech_availability_changed)

    def _restore_geometry(self) -> None:
        s = self.settings
        if not (s.geometry and self.restoreGeometry(QByteArray.fromBase64(s.geometry.encode()))):
            self.resize(1180, 760)
        if s.window_state:
            self.restoreState(QByteArray.fromBase64(s.window_state.encode()))
        if not (s.splitter and self.splitter.restoreState(QByteArray.fromBase64(s.splitter.encode()))):
            self.splitter.setSizes([620, 520])

    def _after_start(self) -> None:
        for exc in self._startup_errors:
            show_error(self, exc)
        self._startup_errors.clear()
        self.speaker.probe()

    # -- models ----------------------------------------------------------------------------------------------

    def _start_model(self, explicit: Path | None) -> None:
        path, problem = resolve_model(explicit, self.settings.model)
        self._refresh_model_list(path)
        if path is None:
            self.model_bar.show_model(None, self.settings.precision)
            log.info("No model to start with: %s", problem)
            return
        try:
            model = ConvertedModel.open(path)
        except GlimpseError as exc:
            self._startup_errors.append(exc)
            self.model_bar.show_model(None, self.settings.precision)
            return
        self._remember_model(model)
        precision = (
            self.settings.precision
            if model.has(self.settings.precision)
            else (model.precisions or ["fp16"])[0]
        )
        self.model_bar.show_model(model, precision)
        self.switch_model(
            ModelSpec(model.path, precision, self.settings.device, self.settings.exact_precision)
        )

    def _refresh_model_list(self, current: Path | None) -> None:
        models = list(library.installed())
        known = {m.path.resolve() for m in models}
        models += [m for m in self._extra_models if m.path.resolve() not in known]
        self.model_bar.set_models(models, current)
        self._has_models = bool(models)

    def refresh_models(self) -> None:
        """Re-read the installed models (a Model Tools job added, changed or removed one); the model in use
        stays, and its precision switch learns about a new INT8 version."""
        self._extra_models = [m for m in self._extra_models if (m.path / "manifest.json").is_file()]
        spec = self._wanted_spec()
        self._refresh_model_list(spec.path if spec else None)
        self.status.showMessage("Model list updated (Model Tools)", 4000)
        if spec is not None:
            self._show_loaded_spec()
        elif self._has_models and self.models.current is None and not self.models.busy:
            self._start_model(None)  # the first model arrived: use it
        self._update_empty_chat()

    def show_model_tools(self, page: str | None = None):  # -> ModelToolsWindow
        """Tools ▸ Model Tools… (Ctrl+Shift+M): open (or raise) the Model Tools window, on `page` if given."""
        if self.tools_window is None:
            from desktop_app.tools_panel import ModelToolsWindow

            self.tools_window = ModelToolsWindow(self)
            self.tools_window.models_changed.connect(self.refresh_models)
        if page:
            self.tools_window.show_page(page)
        self.tools_window.show()
        self.tools_window.raise_()
        self.tools_window.activateWindow()
        return self.tools_window

    def _remember_model(self, model: ConvertedModel) -> None:
        if all(m.path.resolve() != model.path.resolve() for m in self._extra_models):
            self._extra_models.append(model)
        self._refresh_model_list(model.path)

    def switch_model(self, spec: ModelSpec) -> None:
        """Load `spec` in the background; the answer in progress stops first, questions waiting run after."""
        self.controller.stop_current()
        self.models.switch(spec)

    def _wanted_spec(self) -> ModelSpec | None:
        return self.models.wanted or self.models.spec

    def _on_model_chosen(self, path: Path) -> None:
        try:
            model = ConvertedModel.open(path)
        except GlimpseError as exc:
            show_error(self, exc)
            self._show_loaded_spec()
            return
        current = self._wanted_spec()
        precision = (
            current.precision
            if current and model.has(current.precision)
            else (model.precisions or ["fp16"])[0]
        )
        device = current.device if current else self.settings.device
        self._remember_model(model)
        self.model_bar.show_model(model, precision)
        self.switch_model(ModelSpec(model.path, precision, device, self.settings.exact_precision))

    def _on_precision_chosen(self, precision: str) -> None:
        spec = self._wanted_spec()
        if spec is not None and spec.precision != precision:
            self.switch_model(ModelSpec(spec.path, precision, spec.device, spec.exact))

    def _on_device_chosen(self, device: str) -> None:
        spec = self._wanted_spec()
        if spec is None:
            self.settings.device = device
        elif spec.device != device:
            self.switch_model(ModelSpec(spec.path, spec.precision, device, spec.exact))

    def _on_exact_chosen(self, exact: bool) -> None:
        """Settings: exact precision on or off; the model in use is loaded again that way."""
        self.settings.exact_precision = exact
        spec = self._wanted_spec()
        if spec is not None and spec.exact != exact:
            self.switch_model(ModelSpec(spec.path, spec.precision, spec.device, exact))

    def _on_generation_changed(self, max_new_tokens: int, num_beams: int) -> None:
        self.controller.max_new_tokens = self.settings.max_new_tokens = max_new_tokens
        self.controller.num_beams = self.settings.num_beams = num_beams

    def choose_model_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(
            self, "Open a converted model folder", str(paths.models_dir())
        )
        if not folder:
            self._show_loaded_spec()
            return
        self._on_model_chosen(Path(folder))

    def _on_loading_started(self, spec: ModelSpec) -> None:
        self.status.set_loading(f"Loading {spec.describe()}…")

    def _on_load_progressed(self, text: str) -> None:
        if self.models.busy:
            self.status.set_loading(text)

    def _on_busy_changed(self, busy: bool) -> None:
        wanted = self.models.wanted
        self.status.set_loading((f"Loading {wanted.describe()}…" if wanted else "Loading…") if busy else None)

    def _on_loaded(self, pipe: BlipPipeline) -> None:
        self.status.show_pipeline(pipe)
        self.model_bar.show_model(pipe.model, pipe.precision)
        self.model_bar.show_device(pipe.device)
        self.model_bar.show_setup(pipe.setup_label)
        self.model_bar.show_exact(pipe.exact)
        self.ask_bar.set_task(pipe.task)
        self._can_describe = pipe.task == "caption" or library.caption_partner(pipe.model) is not None
        self._describe_blocker = (
            ""
            if self._can_describe
            else f"{pipe.model.name} answers questions only and has no captioning partner: type a question, "
            "or choose a captioning model to describe pictures."
        )
        self.ask_bar.set_can_describe(self._can_describe, self._describe_blocker)
        self.describe_action.setEnabled(self._can_describe)
        self.settings.model = str(pipe.model.path)
        self.settings.precision = pipe.precision
        self.settings.device = pipe.device
        self._save_settings()
        if pipe.model.manifest.get("demo"):
            self.notify(library.DEMO_NOTE, "info")
        for note in pipe.notes:  # e.g. running without a compile cache: said once per process
            self.notify(note, "warning")
        self._update_empty_chat()

    def _on_load_failed(self, spec: ModelSpec, exc: BaseException) -> None:
        if self.models.current is None and isinstance(exc, DeviceUnavailableError) and spec.device != "CPU":
            # Nothing loaded yet (e.g. the remembered GPU is gone): carry on with the CPU, and say so.
            self.notify(f"{describe(exc)[0]} Glimpse uses the CPU instead.", "warning")
            self.switch_model(ModelSpec(spec.path, spec.precision, "CPU", spec.exact))
            return
        show_error(self, exc)
        self._show_loaded_spec()
        self._update_empty_chat()

    def _show_loaded_spec(self) -> None:
        """Put the switches back to what is actually loaded (or being loaded)."""
        spec = self._wanted_spec()
        if spec is None:
            return
        try:
            model = ConvertedModel.open(spec.path)
        except GlimpseError:
            return
        self.model_bar.show_model(model, spec.precision)
        self.model_bar.show_device(spec.device)
        self.model_bar.show_exact(spec.exact)

    def _on_devices_found(self, devices: list) -> None:
        spec = self._wanted_spec()
        self.model_bar.set_devices(devices, spec.device if spec else self.settings.device)

    # -- pictures in -----------------------------------------------------------------------------------------

    def choose_files(self) -> None:
        start = str(Path(self.settings.recent_files[0]).parent) if self.settings.recent_files else ""
        files, _ = QFileDialog.getOpenFileNames(self, "Open pictures", start, intake.OPEN_FILTER)
        if files:
            self.open_files([Path(f) for f in files])

    def open_files(self, files: list[Path]) -> None:
        """Read pictures on a worker; good ones join the strip, bad ones are reported, all in one go."""
        self._read([Path(f) for f in files])

    def _read(self, sources: list[Path | bytes]) -> None:
        if sources:
            self.status.showMessage(f"Opening {len(sources)} picture{'s' if len(sources) > 1 else ''}…", 2000)
            self.controller.read_images(sources, paths.scratch_dir("pasted"), self._preview_size())

    def _preview_size(self) -> int:
        """Pixels a picture's preview needs: the screen's longer side (the model reads the file itself)."""
        screen = self.screen() or QGuiApplication.primaryScreen()
        if screen is None:
            return 0
        size = screen.size() * screen.devicePixelRatio()
        return max(size.width(), size.height())

    def take_mime(self, mime) -> bool:
        """Pictures from a drop or the clipboard (files, image data, or text naming files). True if any, or if
        the text named files that do not exist (said in a notice)."""
        incoming = intake.from_mime(mime)
        if incoming.skipped:
            self.notify(" ".join(incoming.skipped), "warning")
        if incoming.missing:
            self.notify(
                f"No such file: {', '.join(incoming.missing)}. Check the path, or open the picture (Ctrl+O).",
                "warning",
            )
        self._read(incoming.sources)
        return bool(incoming.sources or incoming.missing)

    def paste(self) -> None:
        mime = QGuiApplication.clipboard().mimeData()
        if self.take_mime(mime):
            return
        if mime is not None and mime.hasText() and mime.text().strip():
            self.ask_bar.edit.insertPlainText(mime.text())
            self.ask_bar.edit.setFocus()
        else:
            self.notify(
                "The clipboard holds no picture. Copy an image or a picture file, then paste.", "info", 6000
            )

    def _on_pictures_pasted(self, mime) -> None:
        self.take_mime(mime)

    def _on_images_read(self, results: list[ImageRead]) -> None:
        added: list[SessionImage] = []
        failed: list[ImageRead] = []
        for r in results:
            if r.error is None and r.path is not None:
                added.append(SessionImage(r.path, r.image, r.thumbnail, r.width, r.height))
                if isinstance(r.source, Path):
                    self.settings.add_recent(r.path)
            else:
                failed.append(r)
        self.image_panel.add_images(added)
        for image in added:
            self.chat.set_thumbnail(str(image.path), image.thumbnail)
        if failed:
            show_error(self, self._image_failure(failed, len(results)))
        if added:
            self.status.showMessage(
                f"Opened {', '.join(i.name for i in added[:3])}{' …' if len(added) > 3 else ''}", 4000
            )
        self.images_added.emit(added)
        if failed:
            self.images_failed.emit(failed)

    @staticmethod
    def _image_failure(failed: list[ImageRead], total: int) -> BaseException:
        if len(failed) == 1:
            return failed[0].error  # type: ignore[return-value]
        reasons = "; ".join(describe(r.error)[0] for r in failed if r.error is not None)
        fix = (
            "The other pictures were opened."
            if total > len(failed)
            else "Try PNG, JPEG, WebP, BMP, GIF or TIFF."
        )
        return ImageError(f"{len(failed)} of {total} files could not be opened: {reasons}", fix)

    def _on_sample_chosen(self, sample: Sample) -> None:
        self.open_files([sample.path])
        if not self.ask_bar.edit.toPlainText().strip():
            # A suggestion, selected: Enter asks it, typing replaces it.
            self.ask_bar.edit.setPlainText(sample.question)
            self.ask_bar.edit.selectAll()
        self.ask_bar.edit.setFocus()

    def _on_current_image_changed(self, image: SessionImage | None) -> None:
        self._update_empty_chat()

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 - Qt override
        if intake.has_pictures(event.mimeData()):
            event.acceptProposedAction()
            self.image_panel.set_drop_highlight(True)
        else:
            event.ignore()

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:  # noqa: N802 - Qt override
        if intake.has_pictures(event.mimeData()):
            event.acceptProposedAction()

    def dragLeaveEvent(self, event: QDragLeaveEvent) -> None:  # noqa: N802 - Qt override
        self.image_panel.set_drop_highlight(False)

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 - Qt override
        self.image_panel.set_drop_highlight(False)
        if self.take_mime(event.mimeData()):
            event.acceptProposedAction()
        else:
            event.ignore()

    # -- asking ----------------------------------------------------------------------------------------------

    def ask(self, question: str | None = None) -> Turn | None:
        """Ask about the current picture (the question box's text by default; empty: Describe)."""
        from_box = question is None
        text = self.ask_bar.edit.toPlainText() if question is None else question
        if not text.strip():
            return self.describe()
        return self._submit(
            text, describe=False, from_box=from_box or text == self.ask_bar.edit.toPlainText()
        )

    def describe(self) -> Turn | None:
        """Ask for a caption of the current picture (with a VQA model: its captioning partner)."""
        if not self._can_describe:
            self.notify(self._describe_blocker, "info", 8000)
            return None
        return self._submit("", describe=True, from_box=False)

    def _submit(self, question: str, *, describe: bool, from_box: bool) -> Turn | None:
        image = self.image_panel.current()
        if image is None:
            self.notify(
                "Open a picture first: Ctrl+O, drop one here, or paste one (Ctrl+V).", "warning", 8000
            )
            return None
        if self.models.current is None and not self.models.busy:
            if self.models.last_error is not None:
                show_error(self, self.models.last_error)
            else:
                self.notify(
                    "No model is loaded. Choose one in the toolbar, or File ▸ Open Model Folder…", "warning"
                )
            return None
        if from_box and not describe:
            self.ask_bar.take_text()
        turn = Turn(question.strip(), str(image.path), describe=describe)
        self._forget_cleared()  # Undo Clear brings back a conversation only until the next question
        self.conversation.turns.append(turn)
        view = self._views[id(turn)] = self.chat.add_turn(turn, image.thumbnail)
        self.controller.ask(turn)
        view.answer.refresh()  # "Waiting for the model…" when one is loading
        return turn

    def stop(self) -> None:
        """Esc / Stop: stop the answer in progress and drop those waiting; otherwise dismiss a notice."""
        if not self.controller.stop():
            self.notification.dismiss()

    def _view(self, turn: Turn) -> TurnView | None:
        return self._views.get(id(turn))

    def _on_turn_updated(self, turn: Turn) -> None:
        view = self._view(turn)
        if view is not None:
            view.answer.refresh()

    def _on_text_received(self, turn: Turn, _chunk: str) -> None:
        view = self._view(turn)
        if view is not None:
            view.answer.text_grew()

    def _on_answer_finished(self, turn: Turn, answer) -> None:
        view = self._view(turn)
        if view is not None:
            view.question.refresh()  # says so if the question was too long for the model
            view.answer.refresh()
        self.status.update_memory()
        self._autosave()
        if self.read_aloud_action.isChecked() and self.speaker.available and not answer.cancelled:
            self.speaker.say(turn.answer)

    def _on_answer_failed(self, turn: Turn, exc: BaseException) -> None:
        view = self._view(turn)
        if view is not None:
            view.answer.refresh()
        if turn.question and not turn.describe:
            self.ask_bar.restore_text(turn.question)  # nothing typed is lost
        self._autosave()
        show_error(self, exc)

    def _on_generating_changed(self, generating: bool) -> None:
        self.ask_bar.set_generating(generating)
        self.stop_action.setEnabled(generating)

    # -- conversation ----------------------------------------------------------------------------------------

    def copy_last_answer(self) -> None:
        for turn in reversed(self.conversation.turns):
            if turn.answer:
                QGuiApplication.clipboard().setText(turn.answer)
                self.status.showMessage("Answer copied.", 3000)
                return
        self.status.showMessage("No answer to copy yet.", 3000)

    def clear_conversation(self) -> None:
        """Ctrl+Shift+Delete: an empty chat; Undo (Ctrl+Z, or the notice's button) brings the turns back."""
        cleared = self.conversation
        self._show_conversation(Conversation())
        if cleared.turns:
            self._cleared = cleared
            self.undo_clear_action.setEnabled(True)
            n = len(cleared.turns)
            self.notify(
                f"Conversation cleared ({n} turn{'s' if n > 1 else ''}) · Undo: Ctrl+Z",
                action=("&Undo", self.undo_clear),
            )

    def undo_clear(self) -> None:
        """Bring back the conversation cleared last (until a new question is asked)."""
        cleared = self._cleared
        if cleared is None:
            return
        self._forget_cleared()
        self.notification.dismiss()
        self.open_files(self._show_conversation(cleared))
        self.status.showMessage(f"Conversation back: {len(cleared.turns)} turns", 4000)

    def _forget_cleared(self) -> None:
        self._cleared = None
        self.undo_clear_action.setEnabled(False)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt override
        """Ctrl+Z in the question box undoes Clear while the box has no typing of its own to undo."""
        if (
            event.type() == QEvent.Type.ShortcutOverride
            and watched is self.ask_bar.edit
            and self._cleared is not None
            and event.matches(QKeySequence.StandardKey.Undo)
            and not self.ask_bar.edit.document().isUndoAvailable()
        ):
            event.ignore()  # not the box's: the window's Undo Clear shortcut takes it
            return True
        return super().eventFilter(watched, event)

    def _show_conversation(self, conversation: Conversation) -> list[Path]:
        """Show `conversation` in place of the current one (and keep it for the next start); returns its
        pictures that still exist and are not open yet, for the caller to open."""
        self.controller.stop()
        self.chat.clear()
        self._views.clear()
        self.conversation = conversation
        images: list[Path] = []
        for turn in conversation.turns:
            shown = self.image_panel.image_for(turn.image) if turn.image else None
            view = self.chat.add_turn(turn, shown.thumbnail if shown else None)
            view.answer.refresh()
            self._views[id(turn)] = view
            if turn.image and not shown and Path(turn.image).is_file() and Path(turn.image) not in images:
                images.append(Path(turn.image))
        self._update_empty_chat()
        self._autosave()
        return images

    def _restore_conversation(self) -> list[Path]:
        """At start: the conversation of the last run, with a note; returns its pictures to open."""
        conversation = autosave.load()
        if conversation is None:
            return []
        n = len(conversation.turns)
        self.notify(
            f"Restored your last conversation ({n} turn{'s' if n > 1 else ''}).",
            action=("&Clear", self.clear_conversation),
        )
        return self._show_conversation(conversation)

    def _autosave(self) -> None:
        if not self.persist:
            return
        try:
            autosave.save(self.conversation)
        except OSError as exc:
            log.warning("Could not keep the conversation for the next start: %s", exc)

    def choose_save_conversation(self) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self, "Save conversation", "conversation.json", CONVERSATION_FILTER
        )
        if path:
            self.save_conversation(Path(path))

    def choose_export_markdown(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export as Markdown", "conversation.md", MARKDOWN_FILTER)
        if path:
            self.export_markdown(Path(path))

    def choose_conversation_to_open(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open conversation", "", CONVERSATION_FILTER)
        if path:
            self.open_conversation(Path(path))

    def save_conversation(self, path: Path) -> bool:
        return self._write(path, self.conversation.save_json, "Saved")

    def export_markdown(self, path: Path) -> bool:
        return self._write(path, self.conversation.save_markdown, "Exported")

    def _write(self, path: Path, write, done: str) -> bool:
        path = Path(path)
        try:
            write(path)
        except OSError as exc:
            error = GlimpseError(
                f"Could not write {path.name}: {exc.strerror or exc}.",
                f"Choose a folder that exists and that you may write to (not {path.parent}).",
            )
            error.__cause__ = exc
            show_error(self, error)
            return False
        self.status.showMessage(f"{done} {path.name}", 4000)
        return True

    def open_conversation(self, path: Path) -> bool:
        """Replace the conversation with a saved one; its pictures that still exist join the strip."""
        try:
            conversation = Conversation.load_json(path)
        except (OSError, ValueError) as exc:
            show_error(
                self,
                GlimpseError(
                    f"Could not open the conversation: {exc}.",
                    "Choose a .json file saved by Glimpse (Conversation ▸ Save).",
                ),
            )
            return False
        self.clear_conversation()  # the one replaced can come back with Undo
        self.open_files(self._show_conversation(conversation))
        self.status.showMessage(f"Opened {path.name}: {len(conversation.turns)} turns", 4000)
        return True

    # -- settings --------------------------------------------------------------------------------------------

    def _fill_recent_menu(self) -> None:
        menu = self.recent_menu
        menu.clear()
        for i, path in enumerate(self.settings.recent_files, 1):
            action = menu.addAction(f"&{i % 10} {Path(path).name}")
            action.setToolTip(path)
            action.setStatusTip(path)
            action.triggered.connect(lambda _=False, p=path: self.open_files([Path(p)]))
        if self.settings.recent_files:
            menu.addSeparator()
            menu.addAction("&Clear List", self._clear_recent)
        else:
            menu.addAction("No recent pictures").setEnabled(False)

    def _clear_recent(self) -> None:
        self.settings.recent_files = []
        self._save_settings()

    def _collect_settings(self) -> None:
        s = self.settings
        s.geometry = bytes(self.saveGeometry().toBase64().data()).decode()
        s.window_state = bytes(self.saveState().toBase64().data()).decode()
        s.splitter = bytes(self.splitter.saveState().toBase64().data()).decode()
        spec = self.models.spec
        if spec is not None:
            s.model, s.precision, s.device = str(spec.path), spec.precision, spec.device
            s.exact_precision = spec.exact
        s.max_new_tokens, s.num_beams = self.controller.max_new_tokens, self.controller.num_beams
        s.read_aloud = self.read_aloud_action.isChecked()

    def _save_settings(self) -> None:
        if not self.persist:
            return
        try:
            save_settings(self.settings)
        except OSError as exc:
            log.warning("Could not save settings: %s", exc)

    # -- help, notices, errors -------------------------------------------------------------------------------

    def notify(self, message: str, level: str = "info", timeout_ms: int = 0, action=None) -> None:
        """A non-fatal notice at the top of the window (and in the log); `action`: (button text, callback)."""
        log.info("Notice: %s", message)
        self.notification.show_message(message, level, timeout_ms=timeout_ms, action=action)

    def show_log(self) -> None:
        path = log_file()
        if not path.exists():
            path.touch()
        if not QDesktopServices.openUrl(QUrl.fromLocalFile(str(path))):
            self.notify(f"The log is at {path}", "info")

    def show_about(self) -> None:
        dialog = AboutDialog(self, self.controller.devices, self.error_context())
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.show()

    @property
    def devices(self) -> list:
        return self.controller.devices

    def error_context(self) -> dict[str, str]:
        spec = self.models.spec
        wanted = self.models.wanted
        out = {}
        if spec is not None:
            out["Model in use"] = f"{spec.path} ({spec.precision}) on {spec.device}"
        if wanted is not None and wanted != spec:
            out["Model requested"] = f"{wanted.path} ({wanted.precision}) on {wanted.device}"
        return out

    def focus_question(self) -> None:
        self.ask_bar.edit.setFocus(Qt.FocusReason.ShortcutFocusReason)

    def _on_speech_availability_changed(self, available: bool) -> None:
        self.read_aloud_action.setVisible(available)
        self.chat.set_speech(available)

    def _update_empty_chat(self) -> None:
        if self.models.current is None and not self.models.busy and self.models.wanted is None:
            self.chat.set_empty_message(
                "<p><b>No model yet.</b></p><p>Open a converted model folder with File ▸ Open Model Folder…, "
                "or make one in Model Tools (convert Salesforce/blip-vqa-base).</p>"
            )
        elif self.image_panel.current() is None:
            self.chat.set_empty_message(
                "<p><b>Start with a picture.</b></p><p>Open an image (Ctrl+O), drop one here, or paste (Ctrl+V).</p>"
            )
        else:
            example = samples()[0].question if samples() else "what is in the picture?"
            self.chat.set_empty_message(
                f"<p><b>Ask anything about the picture</b>, e.g. “{example}”</p>"
                "<p>Enter sends · Shift+Enter adds a line · Describe (Ctrl+D) writes a caption</p>"
            )

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt override
        """Stop generation and loading, wait at most a second for the threads, remember the settings and
        the conversation (restored at the next start)."""
        self._collect_settings()
        self._save_settings()
        self.speaker.stop()
        tools_stopped = self.tools_window.shutdown(self.shutdown_timeout_ms) if self.tools_window else True
        self.threads_stopped = self.controller.shutdown(self.shutdown_timeout_ms) and tools_stopped
        self._autosave()  # every turn, an answer cut short by closing too, is there at the next start
        for dialog in self.findChildren(QWidget):
            if dialog.isWindow() and dialog is not self:
                dialog.close()
        event.accept()
