"""The error presenter: `explain`'s words, the details a window adds through its explicit `ErrorContext`."""

from __future__ import annotations

from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from desktop_app.widgets.error_dialog import (
    NO_FIX,
    ErrorContext,
    ErrorDialog,
    error_context_of,
    set_error_context,
    show_error,
)
from model_tools.runtime import ImageError
from model_tools.runtime.errors import attach_traceback, explain


class Device:
    label = "CPU: Test processor"


def window_with_a_page(qtbot) -> tuple[QWidget, QWidget]:
    window = QWidget()
    page = QLabel("a page")
    QVBoxLayout(window).addWidget(page)
    qtbot.addWidget(window)
    return window, page


def test_the_window_context_reaches_errors_shown_from_its_pages(qtbot):
    window, page = window_with_a_page(qtbot)
    logs: list[str] = []
    set_error_context(
        window,
        ErrorContext(
            facts=lambda: {"Model in use": "/m (fp16) on CPU"},
            devices=lambda: [Device()],
            show_log=lambda: logs.append("shown"),
        ),
    )
    assert error_context_of(page) is error_context_of(window)
    dialog = show_error(page, ImageError("notes.png is not a picture.", "Choose a PNG or JPEG file."))
    assert window.findChild(ErrorDialog, "errorDialog") is dialog and dialog.isVisible()
    assert dialog.summary.text() == "notes.png is not a picture."
    assert dialog.fix.text() == "Choose a PNG or JPEG file."
    text = dialog.details.toPlainText()
    assert "Model in use: /m (fp16) on CPU" in text and "Devices: CPU: Test processor" in text
    dialog.log_button.click()
    assert logs == ["shown"]  # the window's own Show Log, not a second way to open it

    # An explicit context wins over the window's; a second error updates the same dialog.
    again = show_error(page, RuntimeError("boom"), context=ErrorContext(facts=lambda: {"Job": "quantize"}))
    assert again is dialog and dialog.count == 2
    assert "Job: quantize" in dialog.details.toPlainText()
    assert "Model in use" not in dialog.details.toPlainText()
    dialog.close()


def test_the_words_are_explains_and_a_missing_fix_points_at_the_details(qtbot):
    window, _ = window_with_a_page(qtbot)
    exc = MemoryError()
    dialog = show_error(window, exc)
    assert (dialog.summary.text(), dialog.fix.text()) == explain(exc)
    dialog = show_error(window, ImageError("Unreadable."))
    assert dialog.fix.text() == NO_FIX
    assert dialog.details.toPlainText().splitlines()[:2] == ["Unreadable.", NO_FIX]
    dialog.close()


def test_the_attached_traceback_is_the_one_shown(qtbot):
    window, _ = window_with_a_page(qtbot)
    exc = attach_traceback(KeyError("x"), "Traceback (in the job process)\n  ...\nKeyError: 'x'")
    dialog = show_error(window, exc)
    assert dialog.details.toPlainText().startswith("Traceback (in the job process)")
    dialog = show_error(window, exc, "Traceback (given)")  # an explicit one comes first
    assert dialog.details.toPlainText().startswith("Traceback (given)")
    dialog.close()


def test_a_failing_context_does_not_stop_the_report(qtbot):
    window, _ = window_with_a_page(qtbot)

    def broken() -> dict[str, str]:
        raise AttributeError("the window is half built")

    set_error_context(window, ErrorContext(facts=broken))
    dialog = show_error(window, ValueError("bad"))
    assert dialog.summary.text() == "Something went wrong: ValueError: bad."
    assert "Glimpse:" in dialog.details.toPlainText()
    dialog.close()


def test_the_model_tools_window_adds_its_job_to_the_main_windows_facts(qtbot):
    from desktop_app.tools_panel import ModelToolsWindow

    main = QWidget()
    qtbot.addWidget(main)
    set_error_context(main, ErrorContext(facts=lambda: {"Model in use": "/m (int8) on CPU"}))
    tools = ModelToolsWindow(main)
    try:
        assert tools.window() is tools and error_context_of(tools) is not error_context_of(main)
        assert error_context_of(tools).facts() == {"Model in use": "/m (int8) on CPU"}
    finally:
        tools.shutdown(2000)
