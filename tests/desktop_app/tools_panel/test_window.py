"""The Model Tools window from the keyboard: Esc and Ctrl+W close it (it only hides; a job would go on)."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from desktop_app.tools_panel import ModelToolsWindow

pytestmark = pytest.mark.usefixtures("private_models")


@pytest.mark.parametrize(
    ("key", "modifiers"),
    [
        (Qt.Key.Key_Escape, Qt.KeyboardModifier.NoModifier),
        (Qt.Key.Key_W, Qt.KeyboardModifier.ControlModifier),
    ],
)
def test_a_key_closes_model_tools(qtbot, key, modifiers):
    window = ModelToolsWindow()
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    window.activateWindow()
    page = window.show_page("compare")
    page.runs.setFocus()  # from inside a page, as a user would be
    qtbot.waitUntil(lambda: page.runs.hasFocus())
    qtbot.keyClick(page.runs, key, modifiers)
    qtbot.waitUntil(lambda: not window.isVisible())
    window.show()  # and it comes back as it was
    assert window.current_page() is page
    window.shutdown(1000)
