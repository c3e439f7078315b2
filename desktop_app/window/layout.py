"""The main window's layout: which widget sits where, and where the user left it.

`build_widgets(window)` makes the widgets as attributes of the window (`window.model_bar`, `window.chat`,
...), as `build_actions` does for the actions; `restore_layout` and `save_layout` move the window's geometry,
its toolbar state and the pictures/chat splitter from and into the settings (base64 text).
"""

from __future__ import annotations

from PySide6.QtCore import QByteArray, Qt
from PySide6.QtWidgets import QMainWindow, QSplitter, QToolBar, QVBoxLayout, QWidget

from desktop_app.session.settings import Settings
from desktop_app.widgets.ask_bar import AskBar
from desktop_app.widgets.chat import ChatView
from desktop_app.widgets.error_dialog import NotificationBar
from desktop_app.widgets.image_panel import ImagePanel
from desktop_app.widgets.model_bar import ModelBar
from desktop_app.widgets.status import GlimpseStatusBar


def _column(widgets: list[QWidget], *, stretch: int | None = None, margins=(0, 0, 0, 0), name: str = "") -> QWidget:
    """A widget holding `widgets` one above the other; the one at index `stretch` takes the room left."""
    column = QWidget()
    column.setObjectName(name)
    layout = QVBoxLayout(column)
    layout.setContentsMargins(*margins)
    layout.setSpacing(0)
    for i, widget in enumerate(widgets):
        layout.addWidget(widget, 1 if i == stretch else 0)
    return column


def build_widgets(window: QMainWindow) -> None:
    """The model bar on top, pictures on the left, the conversation and the question box on the right, a
    notification bar above both and the status bar below."""
    w = window
    w.model_bar = ModelBar()
    toolbar = QToolBar("Model")
    toolbar.setObjectName("modelToolbar")
    toolbar.setMovable(False)
    toolbar.addWidget(w.model_bar)
    w.addToolBar(Qt.ToolBarArea.TopToolBarArea, toolbar)
    w.toolbar = toolbar

    w.notification = NotificationBar()
    w.image_panel = ImagePanel()
    w.chat = ChatView()
    w.ask_bar = AskBar()
    w.splitter = QSplitter(Qt.Orientation.Horizontal)
    w.splitter.setObjectName("mainSplitter")
    w.splitter.setChildrenCollapsible(False)
    w.splitter.addWidget(_column([w.image_panel], margins=(12, 12, 6, 12)))
    w.splitter.addWidget(_column([w.chat, w.ask_bar], stretch=0, name="chatPane"))
    w.splitter.setStretchFactor(0, 5)
    w.splitter.setStretchFactor(1, 4)
    w.setCentralWidget(_column([w.notification, w.splitter], stretch=1))
    w.status = GlimpseStatusBar()
    w.setStatusBar(w.status)


def restore_layout(window: QMainWindow, settings: Settings) -> None:
    """Where the window, its toolbar and the splitter were at the last close (first start: default sizes)."""
    s = settings
    if not (s.geometry and window.restoreGeometry(QByteArray.fromBase64(s.geometry.encode()))):
        window.resize(1180, 760)
    if s.window_state:
        window.restoreState(QByteArray.fromBase64(s.window_state.encode()))
    if not (s.splitter and window.splitter.restoreState(QByteArray.fromBase64(s.splitter.encode()))):
        window.splitter.setSizes([620, 520])


def save_layout(window: QMainWindow, settings: Settings) -> None:
    """Note where the window, its toolbar and the splitter are, for `restore_layout` at the next start."""
    settings.geometry = bytes(window.saveGeometry().toBase64().data()).decode()
    settings.window_state = bytes(window.saveState().toBase64().data()).decode()
    settings.splitter = bytes(window.splitter.saveState().toBase64().data()).decode()
