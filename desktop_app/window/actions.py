"""The main window's actions and menus: what each menu holds, its shortcuts, and the small Help actions.

`build_actions(window)` makes the actions as attributes of the window (`window.open_action`, ...), the way
Qt Designer's `setupUi` does, so tests and the window's slots reach them by name; the menu bar lists them.
Each action is added to the window too, so its shortcut works wherever the focus is.

`window` here (and in clear_undo, conversation_files, pictures_in) is the `MainWindow`, typed as its Qt base:
importing main_window from these modules would close an import circle.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QAction, QDesktopServices, QGuiApplication, QIcon, QKeySequence
from PySide6.QtWidgets import QMainWindow, QMenu

from desktop_app.diagnostics.about import AboutDialog
from desktop_app.diagnostics.logs import log_file

Keys = QKeySequence.StandardKey


def _action(window: QMainWindow, text: str, slot: Callable[[], object], shortcut=None, *, tip: str = "",
            icon: str = "") -> QAction:
    action = QAction(text, window)
    if icon:
        action.setIcon(QIcon.fromTheme(icon))
    if shortcut is not None:
        action.setShortcut(QKeySequence(shortcut))
    if tip:
        action.setStatusTip(tip)
        action.setToolTip(tip)
    action.triggered.connect(lambda _checked=False: slot())
    window.addAction(action)  # shortcuts work wherever the focus is in the window
    return action


def build_actions(window: QMainWindow) -> None:
    """Make the window's actions and its menu bar: File, Conversation, View, Tools, Help. (The Segment tool's
    actions are made by segmenting.py, before this runs.)"""
    w, view = window, window.image_panel.view

    def a(*args, **kwargs) -> QAction:
        return _action(w, *args, **kwargs)

    w.open_action = a("&Open Image…", w.pictures.choose_files, Keys.Open, tip="Open one or more pictures",
                      icon="document-open")
    w.paste_action = a("&Paste Image", w.pictures.paste, Keys.Paste,
                       tip="Paste a picture or file paths from the clipboard", icon="edit-paste")
    w.open_model_action = a("Open &Model Folder…", w.choose_model_folder, tip="Use a converted model from a folder")
    w.quit_action = a("&Quit", w.close, Keys.Quit, icon="application-exit")
    w.describe_action = a("&Describe Picture", w.describe, "Ctrl+D", tip="Write a caption for the picture")
    w.stop_action = a("&Stop", w.stop, Qt.Key.Key_Escape, tip="Stop the answer (Esc)", icon="process-stop")
    w.copy_answer_action = a("&Copy Last Answer", lambda: copy_last_answer(w), "Ctrl+Shift+C", icon="edit-copy")
    w.clear_action = a("C&lear Conversation", w.clear_undo.clear, "Ctrl+Shift+Delete", icon="edit-clear")
    w.new_conversation_action = a("&New Conversation", w.clear_undo.new_conversation, Keys.New,
                                  tip="Start over: the model forgets the turns (asks first if unsaved)",
                                  icon="document-new")
    w.undo_clear_action = a("&Undo Clear", w.clear_undo.undo, Keys.Undo, icon="edit-undo")
    w.open_conversation_action = a("&Open Conversation…", w.files.choose_to_open, "Ctrl+Shift+O")
    w.save_action = a("&Save Conversation…", w.files.choose_save, Keys.Save, icon="document-save")
    w.export_action = a("&Export as Markdown…", w.files.choose_export, "Ctrl+E")
    w.zoom_in_action = a("Zoom &In", lambda: view.zoom_by(1.25), Keys.ZoomIn)
    w.zoom_out_action = a("Zoom &Out", lambda: view.zoom_by(0.8), Keys.ZoomOut)
    w.fit_action = a("&Fit to Window", view.fit, "Ctrl+0")
    w.actual_size_action = a("&Actual Size", view.actual_size, "Ctrl+1")
    w.next_image_action = a("&Next Picture", lambda: w.image_panel.step(1), "Ctrl+PgDown")
    w.previous_image_action = a("&Previous Picture", lambda: w.image_panel.step(-1), "Ctrl+PgUp")
    w.focus_question_action = a(
        "Go to &Question", lambda: w.ask_bar.edit.setFocus(Qt.FocusReason.ShortcutFocusReason), "Ctrl+L"
    )
    w.read_aloud_action = a("&Read Answers Aloud", lambda: None)
    w.model_tools_action = a("&Model Tools…", w.show_model_tools, "Ctrl+Shift+M",
                             tip="Download, convert, quantize and compare models")
    w.show_log_action = a("Show &Log", lambda: show_log(w), tip="Open Glimpse's log file")
    w.about_action = a("&About Glimpse", lambda: show_about(w), icon="help-about")
    w.read_aloud_action.setCheckable(True)
    w.read_aloud_action.setChecked(w.settings.read_aloud)
    w.read_aloud_action.setVisible(False)  # until the speaker finds a voice
    w.undo_clear_action.setEnabled(False)
    w.stop_action.setEnabled(False)

    bar = w.menuBar()
    w.recent_menu = QMenu("Open &Recent", bar)
    w.recent_menu.setObjectName("recentMenu")
    w.recent_menu.aboutToShow.connect(lambda: fill_recent_menu(w))
    fill_recent_menu(w)
    menus: dict[str, list[QAction | QMenu | None]] = {  # None: a separator
        "&File": [w.open_action, w.recent_menu, w.paste_action, None, w.export_mask_action, w.export_cutout_action,
                  None, w.open_model_action, None, w.quit_action],
        "&Conversation": [w.describe_action, w.stop_action, None, w.copy_answer_action, w.new_conversation_action,
                          w.clear_action, w.undo_clear_action, None, w.open_conversation_action, w.save_action,
                          w.export_action],
        "&View": [w.zoom_in_action, w.zoom_out_action, w.fit_action, w.actual_size_action, None,
                  w.previous_image_action, w.next_image_action, None, w.focus_question_action,
                  w.read_aloud_action],
        "&Tools": [w.segment_action, w.segment_model_menu, None, w.model_tools_action],
        "&Help": [w.show_log_action, w.about_action],
    }
    for title, items in menus.items():
        menu = bar.addMenu(title)
        for item in items:
            if item is None:
                menu.addSeparator()
            elif isinstance(item, QMenu):
                menu.addMenu(item)
            else:
                menu.addAction(item)


def fill_recent_menu(window: QMainWindow) -> None:
    """File ▸ Open Recent: the pictures opened last, newest first, and Clear List."""
    menu, settings = window.recent_menu, window.settings
    menu.clear()
    for i, path in enumerate(settings.recent_files, 1):
        action = menu.addAction(f"&{i % 10} {Path(path).name}")
        action.setToolTip(path)
        action.setStatusTip(path)
        action.triggered.connect(lambda _=False, p=path: window.open_files([Path(p)]))
    if settings.recent_files:
        menu.addSeparator()
        menu.addAction("&Clear List", lambda: _clear_recent(window))
    else:
        menu.addAction("No recent pictures").setEnabled(False)


def _clear_recent(window: QMainWindow) -> None:
    window.settings.recent_files = []
    window.store_settings()


def copy_last_answer(window: QMainWindow) -> None:
    """Conversation ▸ Copy Last Answer, to the clipboard."""
    for turn in reversed(window.conversation.turns):
        if turn.answer:
            QGuiApplication.clipboard().setText(turn.answer)
            window.status.showMessage("Answer copied.", 3000)
            return
    window.status.showMessage("No answer to copy yet.", 3000)


def show_log(window: QMainWindow) -> None:
    """Help ▸ Show Log: the log file in the system's viewer, or a notice saying where it is."""
    path = log_file()
    if not path.exists():
        path.touch()
    if not QDesktopServices.openUrl(QUrl.fromLocalFile(str(path))):
        window.notify(f"The log is at {path}", "info")


def show_about(window: QMainWindow) -> None:
    dialog = AboutDialog(window, window.devices, window.session.error_context())
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    dialog.show()
