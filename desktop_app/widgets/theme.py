"""Look: a small style sheet built from the current palette, so light and dark follow the system.

Colours come from palette roles only; when the system switches between light and dark (or the palette
changes), the sheet is rebuilt.
"""

from __future__ import annotations

from typing import NamedTuple

from PySide6.QtCore import QObject, QTimer
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication


def mix(a: QColor, b: QColor, t: float) -> str:
    r = round(a.red() + (b.red() - a.red()) * t)
    g = round(a.green() + (b.green() - a.green()) * t)
    bl = round(a.blue() + (b.blue() - a.blue()) * t)
    return f"rgb({r}, {g}, {bl})"


def is_dark(palette: QPalette | None = None) -> bool:
    palette = palette or QGuiApplication.palette()
    return palette.color(QPalette.ColorRole.Window).lightness() < 128


class PaletteColors(NamedTuple):
    """The palette roles every style sheet of the app starts from (this one and the Model Tools window's)."""

    base: QColor
    window: QColor
    text: QColor  # WindowText
    mid: QColor
    highlight: QColor


def palette_colors(palette: QPalette) -> PaletteColors:
    role = QPalette.ColorRole
    roles = (role.Base, role.Window, role.WindowText, role.Mid, role.Highlight)
    return PaletteColors(*(palette.color(r) for r in roles))


def style_sheet(palette: QPalette) -> str:
    base, window, text, mid, highlight = palette_colors(palette)
    dark = is_dark(palette)
    question_bg = mix(base, highlight, 0.22 if dark else 0.12)
    answer_bg = mix(base, window, 0.5 if dark else 0.35)
    border = mix(window, mid, 0.6)
    muted = mix(text, window, 0.45)
    warn_bg = mix(base, QColor(230, 160, 0), 0.25 if dark else 0.18)
    info_bg = mix(base, highlight, 0.2 if dark else 0.1)
    focus = highlight.name()
    return f"""
QWidget#chatContainer {{ background: {base.name()}; }}
QScrollArea#chatView {{ background: {base.name()}; }}
QFrame#questionBubble {{ background: {question_bg}; border: 1px solid {border}; border-radius: 12px; }}
QFrame#answerBubble {{ background: {answer_bg}; border: 1px solid {border}; border-radius: 12px; }}
QFrame#answerBubble:focus {{ border: 2px solid {focus}; }}
QLabel#answerWho {{ font-weight: 600; }}
QLabel#answerStatus, QLabel#answerMetrics, QLabel#imageCaption, QLabel#imageEmptyHint {{ color: {muted}; }}
QLabel#answerMetrics {{ font-size: 8.5pt; }}
QLabel#answerText[failed="true"] {{ color: {mix(text, QColor(220, 40, 40), 0.7)}; }}
QLabel#chatEmpty {{ color: {muted}; font-size: 11pt; padding: 24px; }}
QFrame#imageEmpty {{ border: 2px dashed {border}; border-radius: 16px; background: {base.name()}; }}
QFrame#imageEmpty[dropping="true"] {{ border: 2px dashed {focus}; background: {info_bg}; }}
QWidget#imagePanel[dropping="true"] QGraphicsView {{ border: 2px solid {focus}; }}
QLabel#imageEmptyTitle {{ font-size: 12pt; }}
QFrame#notificationBar {{ background: {info_bg}; border-bottom: 1px solid {border}; }}
QFrame#notificationBar[level="warning"], QFrame#notificationBar[level="error"] {{ background: {warn_bg}; }}
QFrame#askBar {{ border-top: 1px solid {border}; }}
QPlainTextEdit#questionEdit {{ border: 1px solid {border}; border-radius: 8px; padding: 4px;
    background: {base.name()}; }}
QPlainTextEdit#questionEdit:focus {{ border: 2px solid {focus}; }}
QToolButton#turnThumbnail:focus, QToolButton#sampleButton:focus, QToolButton#copyAnswer:focus,
QToolButton#speakAnswer:focus {{ border: 2px solid {focus}; border-radius: 6px; }}
QListWidget#imageStrip:focus, QGraphicsView#imageView:focus {{ border: 2px solid {focus}; }}
"""


def ensure_theme(app: QApplication) -> ThemeWatcher:
    """One watcher per application."""
    watcher = app.findChild(ThemeWatcher)
    return watcher if watcher is not None else ThemeWatcher(app)


class ThemeWatcher(QObject):
    """Applies the sheet now and again whenever the system colour scheme changes."""

    def __init__(self, app: QApplication) -> None:
        super().__init__(app)
        self.app = app
        hints = QGuiApplication.styleHints()
        if hasattr(hints, "colorSchemeChanged"):
            # The palette follows the scheme a moment later: rebuild once it has.
            hints.colorSchemeChanged.connect(lambda *_: QTimer.singleShot(0, self, self.apply))
        self.apply()

    def apply(self, *_args: object) -> None:
        self.app.setStyleSheet(style_sheet(self.app.palette()))
