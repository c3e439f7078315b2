"""Glimpse's main window: pictures on the left, the conversation on the right, switches on top.

The window holds the widgets and watches: `ChatController` answers and `ModelSession` chooses and loads
models, on worker threads, reporting through signals; slots here only update widgets. The widgets and their
saved layout are in layout.py, the menus in actions.py, conversation files in conversation_files.py, questions and
chat messages in asking.py, pictures
coming in in pictures_in.py, the Segment tool (a second, optional model) in segmenting.py.

With a chat model the chat pane is a conversation the model remembers: a message goes with the pictures
selected in the strip that it has not been sent yet (Ctrl+click for several), follow-ups see the turns before
them, and the model's own conversation (its pipeline's history) is kept equal to the one shown: cleared with
Clear or New Conversation, restored when a saved one is opened, an Undo brings one back, or a model is loaded.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QTimer, Signal
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import QApplication, QFileDialog, QMainWindow, QWidget

from desktop_app.resources import app_icon
from desktop_app.session.aio import install_event_loop
from desktop_app.session.chat_controller import ChatController
from desktop_app.session.conversation import Conversation, Turn, chat_history
from desktop_app.session.model_session import ModelSession, ModelSpec
from desktop_app.session.settings import Settings, load_settings, save_settings
from desktop_app.widgets.error_dialog import ErrorContext, set_error_context, show_error
from desktop_app.widgets.speech import Speaker
from desktop_app.widgets.theme import ensure_theme
from desktop_app.window.actions import build_actions, show_log
from desktop_app.window.asking import Asking
from desktop_app.window.clear_undo import ClearUndo
from desktop_app.window.conversation_files import ConversationFiles
from desktop_app.window.layout import build_widgets, restore_layout, save_layout
from desktop_app.window.pictures_in import PictureIntake
from desktop_app.window.segmenting import Segmenting
from model_tools.runtime import paths

if TYPE_CHECKING:
    from model_tools.runtime import BlipPipeline, ChatPipeline
    from model_tools.runtime.model_folder import ConvertedModel

log = logging.getLogger("glimpse.app.window")

SHUTDOWN_TIMEOUT_MS = 1000


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
        self.shutdown_timeout_ms = SHUTDOWN_TIMEOUT_MS
        self.threads_stopped: bool | None = None
        self.tools_window = None  # Model Tools (desktop_app.tools_panel), made on first use
        self.chat_mode = False  # the model chosen (loaded or loading) is a chat model

        self.setWindowTitle("Glimpse")
        self.setWindowIcon(app_icon())
        self.setObjectName("mainWindow")
        self.setAcceptDrops(True)
        set_error_context(
            self, ErrorContext(lambda: self.session.error_context(), lambda: self.devices, lambda: show_log(self))
        )

        self.controller = ChatController(self)
        self.controller.max_new_tokens = settings.max_new_tokens
        self.controller.num_beams = settings.num_beams
        self.models = self.controller.models  # what is loaded, and loading
        self.session = ModelSession(self.controller, settings, self)  # which model to load
        self.speaker = Speaker(self)

        build_widgets(self)  # the model bar, image panel, chat, question box, notices, status bar
        self.pictures = PictureIntake(self)  # Open, paste, drops
        self.asking = Asking(self)  # questions, Describe, chat messages
        self.files = ConversationFiles(self)  # Open, Save, Export, autosave
        self.clear_undo = ClearUndo(self)
        self.segmenting = Segmenting(self)  # the Segment tool: its actions join the menus below
        build_actions(self)
        self._connect()
        restore_layout(self, settings)

        self.model_bar.set_generation(settings.max_new_tokens, settings.num_beams)
        self.image_panel.image_size.set_side(settings.chat_image_side)
        self.controller.image_side = settings.chat_image_side or None
        self.model_bar.show_device(settings.device)
        self.model_bar.show_exact(settings.exact_precision)
        self.controller.find_devices()
        error = self.session.start(Path(model) if model is not None else None)  # shown once the window is up
        self.asking.update_empty_chat()
        if notice:
            self.notify(notice, "warning")
        pictures = self.files.restore() if persist else []
        pictures += [Path(p) for p in images or []]  # last: the picture shown is one asked for
        self.open_files(pictures)
        QTimer.singleShot(0, self, lambda: self._after_start(error))  # the window as context: skipped if gone

    # -- building ----------------------------------------------------------------------------------------------

    def _connect(self) -> None:
        c, s, bar = self.controller, self.session, self.model_bar
        self.chat.watch(c)  # first: the bubbles are up to date when the slots below run
        c.answer_finished.connect(self._on_answer_finished)
        c.answer_failed.connect(self._on_answer_failed)
        c.generating_changed.connect(self._on_generating_changed)
        c.devices_found.connect(lambda devices: bar.set_devices(devices, s.device))
        c.images_read.connect(self.pictures.on_images_read)
        self.status.watch(self.models)
        s.listed.connect(bar.set_models)
        s.shown.connect(self._show_spec)
        s.shown.connect(lambda model, *_: self._set_chat_mode(model))
        s.ready.connect(self._on_model_ready)
        s.noticed.connect(self.notify)
        s.failed.connect(self._on_model_failed)
        bar.model_chosen.connect(s.choose_model)
        bar.other_model_requested.connect(self.choose_model_folder)
        bar.precision_chosen.connect(s.choose_precision)
        bar.device_chosen.connect(s.choose_device)
        bar.exact_chosen.connect(s.choose_exact)
        bar.generation_changed.connect(self._on_generation_changed)
        self.image_panel.image_size.side_chosen.connect(self._on_image_side_chosen)
        self.ask_bar.asked.connect(self.ask)
        self.ask_bar.describe_requested.connect(self.describe)
        self.ask_bar.stop_requested.connect(self.stop)
        self.ask_bar.edit.pictures_pasted.connect(self.pictures.take_mime)
        self.image_panel.open_requested.connect(self.pictures.choose_files)
        self.image_panel.paste_requested.connect(self.pictures.paste)
        self.image_panel.sample_chosen.connect(self.pictures.on_sample_chosen)
        self.image_panel.current_changed.connect(lambda _image: self.asking.update_empty_chat())
        self.chat.image_clicked.connect(self.image_panel.select)
        self.chat.answer_copied.connect(lambda _t: self.status.showMessage("Answer copied.", 3000))
        self.chat.speak_requested.connect(self.speaker.say)
        self.speaker.availability_changed.connect(self._on_speech_availability_changed)

    def _after_start(self, error: BaseException | None) -> None:
        if error is not None:
            show_error(self, error)
        self.speaker.probe()

    # -- models ----------------------------------------------------------------------------------------------

    def switch_model(self, spec: ModelSpec) -> None:
        """Load `spec` in the background; the answer in progress stops first, questions waiting run after."""
        self.session.switch(spec)

    def refresh_models(self) -> None:
        """Re-read the installed models (a Model Tools job added, changed or removed one)."""
        self.session.refresh()
        self.status.showMessage("Model list updated (Model Tools)", 4000)
        self.asking.update_empty_chat()

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

    def choose_model_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(
            self, "Open a converted model folder", str(paths.models_dir())
        )
        if folder:
            self.session.choose_model(Path(folder))
        else:
            self.session.show_wanted()

    def _set_chat_mode(self, model: ConvertedModel | None) -> None:
        """A chat model chosen, or another kind: the strip's selection, the question box and the max tokens
        follow (a chat model's answers have their own limit)."""
        chat = model is not None and model.task == "chat"
        if chat == self.chat_mode:
            return
        self.chat_mode = chat
        self.image_panel.set_multi_select(chat)
        s = self.settings
        self.controller.max_new_tokens = s.chat_max_new_tokens if chat else s.max_new_tokens
        self.model_bar.set_generation(self.controller.max_new_tokens, self.controller.num_beams)
        self.asking.update_empty_chat()

    def _on_model_ready(self, pipe: BlipPipeline | ChatPipeline) -> None:
        self.status.show_pipeline(pipe)
        self._show_spec(pipe.model, pipe.precision, pipe.device, pipe.exact)
        self._set_chat_mode(pipe.model)
        if pipe.task == "chat" and any(t.in_history for t in self.conversation.turns):
            # A new model continues the conversation shown (replayed before its next answer). Nothing asks it
            # yet: a question waiting for it starts once this slot has run.
            pipe.restore(chat_history(self.conversation))
        self.model_bar.show_setup(pipe.setup_label)
        self.ask_bar.set_task(pipe.task)
        self.ask_bar.set_can_describe(self.session.can_describe, self.session.describe_blocker)
        self.describe_action.setEnabled(self.session.can_describe)
        self.store_settings()  # the session wrote the model in use into them
        self.asking.update_empty_chat()

    def _on_model_failed(self, exc: BaseException) -> None:
        show_error(self, exc)
        self.asking.update_empty_chat()

    def _show_spec(self, model: ConvertedModel | None, precision: str, device: str, exact: bool) -> None:
        self.model_bar.show_spec(model, precision, device, exact)
        self.image_panel.image_size.show_input(model, precision)

    def _on_image_side_chosen(self, side: int) -> None:
        self.controller.image_side = side or None
        self.settings.chat_image_side = side

    def _on_generation_changed(self, max_new_tokens: int, num_beams: int) -> None:
        self.controller.max_new_tokens = max_new_tokens
        if self.chat_mode:
            self.settings.chat_max_new_tokens = max_new_tokens
            return
        self.settings.max_new_tokens = max_new_tokens
        self.controller.num_beams = self.settings.num_beams = num_beams

    # -- pictures in -----------------------------------------------------------------------------------------

    def open_files(self, files: list[Path]) -> None:
        """Read pictures on a worker; good ones join the strip, bad ones are reported, all in one go."""
        self.pictures.read([Path(f) for f in files])

    # -- asking ----------------------------------------------------------------------------------------------

    def ask(self, question: str | None = None) -> Turn | None:
        """Ask about the current picture (the question box's text by default; empty: Describe). With a chat
        model: the message, with the selected pictures not sent yet in this conversation (`attachments`)."""
        return self.asking.ask(question)

    def describe(self) -> Turn | None:
        """Ask for a caption of the current picture (with a VQA model: its captioning partner)."""
        return self.asking.describe()

    def attachments(self) -> list[Path]:
        return self.asking.attachments()

    def stop(self) -> None:
        """Esc / Stop: stop the answer in progress and drop those waiting; otherwise dismiss a notice."""
        if not self.controller.stop():
            self.notification.dismiss()

    def _on_answer_finished(self, turn: Turn, answer) -> None:
        self.status.update_memory()
        self.files.autosave()
        if self.read_aloud_action.isChecked() and self.speaker.available and not answer.cancelled:
            self.speaker.say(turn.answer)

    def _on_answer_failed(self, turn: Turn, exc: BaseException) -> None:
        if turn.question and not turn.describe:
            self.ask_bar.restore_text(turn.question)  # nothing typed is lost
        self.files.autosave()
        show_error(self, exc)

    def _on_generating_changed(self, generating: bool) -> None:
        self.ask_bar.set_generating(generating)
        self.stop_action.setEnabled(generating)

    # -- conversation ----------------------------------------------------------------------------------------

    def show_conversation(self, conversation: Conversation) -> list[Path]:
        """Show `conversation` in place of the current one (and keep it for the next start); returns its
        pictures that still exist and are not open yet, for the caller to open."""
        self.controller.stop()
        self.chat.clear()
        self.conversation = conversation
        images: list[Path] = []
        for turn in conversation.turns:
            self.chat.add_turn(turn, *self.asking.thumbnails(turn)).answer.refresh()
            for picture in turn.pictures:
                if not self.image_panel.image_for(picture) and Path(picture).is_file() and Path(picture) not in images:
                    images.append(Path(picture))
        # A chat model's own conversation becomes this one (after the answer being stopped has ended).
        self.controller.set_history(lambda: chat_history(self.conversation))
        self.asking.update_empty_chat()
        self.files.autosave()
        return images

    # -- settings, notices, closing --------------------------------------------------------------------------

    def _collect_settings(self) -> None:
        s = self.settings
        save_layout(self, s)
        self.session.collect_settings()
        if self.chat_mode:
            s.chat_max_new_tokens = self.controller.max_new_tokens
        else:
            s.max_new_tokens, s.num_beams = self.controller.max_new_tokens, self.controller.num_beams
        s.read_aloud = self.read_aloud_action.isChecked()

    def store_settings(self) -> None:
        """Save the settings now (not for a window made with persist=False); a failure is only logged."""
        if not self.persist:
            return
        try:
            save_settings(self.settings)
        except OSError as exc:
            log.warning("Could not save settings: %s", exc)

    def notify(self, message: str, level: str = "info", timeout_ms: int = 0, action=None) -> None:
        """A non-fatal notice at the top of the window (and in the log); `action`: (button text, callback)."""
        log.info("Notice: %s", message)
        self.notification.show_message(message, level, timeout_ms=timeout_ms, action=action)

    @property
    def devices(self) -> list:
        return self.controller.devices

    def _on_speech_availability_changed(self, available: bool) -> None:
        self.read_aloud_action.setVisible(available)
        self.chat.set_speech(available)

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt override
        """Stop generation and loading, wait at most a second for the threads, remember the settings and
        the conversation (restored at the next start)."""
        self._collect_settings()
        self.store_settings()
        self.speaker.stop()
        tools_stopped = self.tools_window.shutdown(self.shutdown_timeout_ms) if self.tools_window else True
        self.threads_stopped = self.controller.shutdown(self.shutdown_timeout_ms) and tools_stopped
        self.files.autosave()  # every turn, an answer cut short by closing too, is there at the next start
        for dialog in self.findChildren(QWidget):
            if dialog.isWindow() and dialog is not self:
                dialog.close()
        event.accept()
