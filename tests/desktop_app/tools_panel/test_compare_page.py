"""The Compare page on the bundled demo model: what it asked and ran, every answer row with its picture, charts
whose value labels never run into each other, and an export that moves nothing under the cursor.

The report comes from the demo model for real: through the page (a job in its own process) in the first test,
from `model_tools.measure.compare.compare` in this process for the layout tests.
"""

from __future__ import annotations

import json

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QFontMetricsF
from PySide6.QtWidgets import QFileDialog

from desktop_app.tools_panel.charts import BarChartView
from model_tools.jobs.requests import CompareRequest
from model_tools.library import compare_report as compare_files
from model_tools.library import store as library
from model_tools.quantize import calibration
from tests.desktop_app.conftest import JobEvents as Events

pytestmark = pytest.mark.usefixtures("private_models")



@pytest.fixture(scope="module")
def demo_report() -> dict:
    from model_tools.measure.compare import compare

    return json.loads(json.dumps(compare(CompareRequest(library.DEMO_VQA, "CPU", 1, max_new_tokens=5)).to_dict()))


def own_questions() -> dict[str, str]:
    index = json.loads((calibration.SAMPLES_DIR / "samples.json").read_text(encoding="utf-8"))
    return {f"samples/{e['file']}": e["question"] for e in index}


def test_builtin_check_of_the_demo_says_what_it_asked_and_ran(qtbot, tools):
    page = tools.show_page("compare", library.DEMO_VQA)
    assert page.model_combo.model_path() == library.DEMO_VQA and page.builtin_radio.isChecked()
    page.runs.setValue(1)
    page.max_tokens.setValue(5)
    events = Events(tools.runner)
    page.compare_button.click()
    end = events.wait(qtbot)
    assert end[0] == "finished", end
    report = end[2]

    # The demo was asked questions it knows, and the page lists them.
    table = page.answers
    asked = {table.item(r, 0).text(): table.item(r, 1).text() for r in range(table.rowCount())}
    assert len(asked) == 8 and not table.isColumnHidden(1)
    assert {k: v for k, v in asked.items() if k.startswith("samples/")} == own_questions()
    assert not set(asked.values()) & set(calibration.GENERIC_QUESTIONS)
    for question in asked.values():
        assert f"“{question}”" in page.asked.text()
    assert "8 pictures from the built-in samples" in page.asked.text()
    red = next(r for r in range(table.rowCount()) if table.item(r, 0).text() == "samples/red-circle.png")
    assert (table.item(red, 2).text(), table.item(red, 3).text()) == ("red", "red")

    # Which files and precision each side ran.
    ran = page.ran.text()
    assert page.ran.isVisible()
    assert (
        f"FP16: {report.setup['fp16']}, fp16/ files" in ran
        and f"INT8: {report.setup['int8']}, int8/ files" in ran
    )
    assert "exact" in report.setup["fp16"] and "exact" in report.setup["int8"]
    assert "int8/vision_model.xml" in table.horizontalHeaderItem(3).toolTip()


def test_every_answer_row_is_visible_with_its_picture(qtbot, tools, demo_report):
    page = tools.show_page("compare")
    page.show_report(demo_report)
    qtbot.waitUntil(lambda: page.answers.isVisible())
    table = page.answers
    assert table.rowCount() == 8
    last = table.visualRect(table.model().index(7, 0))
    assert last.bottom() <= table.viewport().height(), "all eight rows fit without scrolling"
    for row in range(8):
        item = table.item(row, 0)
        assert not item.icon().isNull(), item.text()
        assert '<img src="data:image/jpeg;base64,' in item.toolTip()
    # A bigger view, from the keyboard.
    table.setFocus()
    table.setCurrentCell(4, 0)
    qtbot.keyClick(table, Qt.Key.Key_Return)
    dialog = page.picture_dialog
    assert dialog is not None and dialog.isVisible()
    assert dialog.windowTitle() == "shapes #0"
    pixmap = dialog.picture.pixmap()
    assert not pixmap.isNull() and max(pixmap.width(), pixmap.height()) == 320
    dialog.close()


def labels_fit(chart: BarChartView) -> bool:
    """Whether no two value labels can touch: each fits across its bar, or is turned to run up it."""
    if chart.series.labelsAngle() != 0:
        return True
    plot = chart.chart().plotArea()
    sets = chart.bar_sets()
    bar = plot.width() / len(chart.categories()) * chart.series.barWidth() / len(sets)
    metrics = QFontMetricsF(sets[0].labelFont())
    return all(metrics.horizontalAdvance(f"{s.at(i):.3g}") + 2 <= bar for s in sets for i in range(s.count()))


@pytest.mark.parametrize("width", [320, 900])
def test_chart_value_labels_never_overlap(qtbot, demo_report, width):
    report = dict(demo_report)  # values like the ones that ran together ("0.7330.764")
    report["latency_ms"] = {"vqa": {"fp16": dict.fromkeys(demo_report["latency_ms"]["vqa"]["fp16"], 0.733),
                                    "int8": dict.fromkeys(demo_report["latency_ms"]["vqa"]["int8"], 0.764)}}  # fmt: skip
    for key in ("sizes", "latency"):
        chart = BarChartView(key)
        qtbot.addWidget(chart)
        chart.resize(width, 260)
        chart.show()
        qtbot.waitExposed(chart)
        chart.set_data(compare_files.chart_data(report)[key])
        qtbot.wait(10)
        assert labels_fit(chart), (key, width)
        if key == "latency":  # wide: upright; narrow: turned up the bars
            assert chart.series.labelsAngle() == (0 if width == 900 else -90)


def test_saving_moves_nothing_under_the_cursor(qtbot, tools, demo_report, tmp_path, monkeypatch):
    page = tools.show_page("compare")
    page.show_report(demo_report)
    qtbot.waitUntil(lambda: page.answers.isVisible())
    watched = [page.folder_field, page.runs, page.json_button, page.compare_button, page.answers]
    before = [w.mapTo(tools, w.rect().topLeft()) for w in watched]
    out = tmp_path / "report.json"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(lambda *a, **k: (str(out), "")))
    page.json_button.click()
    qtbot.wait(50)
    assert json.loads(out.read_text())["model"] == "demo-shapes-vqa"
    assert page.saved.isVisible() and page.saved.text() == "Saved report.json"
    assert page.saved.toolTip() == str(out)
    assert [w.mapTo(tools, w.rect().topLeft()) for w in watched] == before
