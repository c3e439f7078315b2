"""Model Tools through the window: convert -> quantize -> compare on the tiny models, cancel on every page,
errors through the one presenter, the model chooser following finished jobs, a responsive window.

Jobs run for real, in their own processes (model_tools.jobs.child), on the tiny models.
"""

from __future__ import annotations

import csv
import hashlib
import json
import shutil
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox

from desktop_app.tools_panel import ModelToolsWindow
from desktop_app.widgets.error_dialog import ErrorDialog
from model_tools.jobs.requests import ImportRequest, QuantizeRequest
from model_tools.runtime import ConvertedModel
from tests.desktop_app.conftest import JOB_TIMEOUT_MS, LOAD_TIMEOUT_MS, Heartbeat
from tests.desktop_app.conftest import JobEvents as Events

SUBSET = 4


pytestmark = pytest.mark.usefixtures("private_models")  # each test installs into its own folder



@pytest.fixture(scope="module")
def quantized_tiny(tiny_models, tmp_path_factory) -> Path:
    """The tiny VQA model with an int8/ (quantized with the model_tools function, not through the panel)."""
    from model_tools.quantize.blip import quantize

    folder = shutil.copytree(tiny_models["vqa"], tmp_path_factory.mktemp("tools-q") / "tiny-q")
    quantize(QuantizeRequest(folder, subset_size=SUBSET))
    return folder


def snapshot(folder: Path) -> dict[str, str]:
    """Every file under `folder`, hidden ones too, with its sha256."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
        for p in sorted(folder.rglob("*"))
    }


def error_dialog(window) -> ErrorDialog | None:
    dialog = window.findChild(ErrorDialog, "errorDialog")
    return dialog if dialog is not None and dialog.isVisible() else None


def chooser_paths(win) -> set[str]:
    combo = win.model_bar.model_combo
    return {combo.itemData(i) for i in range(combo.count()) if combo.itemData(i)}


# -- the whole flow ------------------------------------------------------------------------------------------


@pytest.mark.gui_timing
def test_convert_quantize_compare_end_to_end(
    qtbot, make_window, tiny_models, tiny_hf, private_models, tmp_path
):
    win = make_window(tiny_models["vqa"])
    qtbot.keyClick(win, Qt.Key.Key_M, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    tools = win.tools_window
    assert isinstance(tools, ModelToolsWindow) and tools.isVisible()
    events = Events(tools.runner)
    beat = Heartbeat()

    # Convert a local Hugging Face folder.
    page = tools.show_page("convert")
    page.folder_radio.setChecked(True)
    page.folder_field.set_path(tiny_hf["vqa"])
    page.name_edit.setText("tiny-e2e")
    assert page.convert_button.isEnabled()
    beat.start()
    page.convert_button.click()
    qtbot.waitUntil(lambda: bool(events.progress("vision_model")), timeout=JOB_TIMEOUT_MS)
    # One job at a time: the other pages wait, and say why.
    quantize_page, compare_page = tools.quantize_page, tools.compare_page
    assert not quantize_page.quantize_button.isEnabled() and not compare_page.compare_button.isEnabled()
    assert "One job at a time" in quantize_page.quantize_button.toolTip()
    assert not quantize_page.quantize(tiny_models["vqa"])
    assert "One job at a time" in quantize_page.notice.text() and "Converting" in quantize_page.notice.text()
    qtbot.waitUntil(lambda: events.ended() is not None, timeout=JOB_TIMEOUT_MS)
    beat.stop()  # while the job ran; the window then draws its result
    end = events.wait(qtbot)
    assert end[0] == "finished", end
    model_dir = private_models / "tiny-e2e"
    assert ConvertedModel.open(model_dir).precisions == ["fp16"]
    log = page.job_view.log.toPlainText()
    for stage in (
        "Converting vision_model",
        "Converting text_encoder",
        "Converting text_decoder",
        "Finished",
    ):
        assert stage in log
    assert "✓" in page.job_view.outcome.text()
    assert str(model_dir.resolve()) in chooser_paths(win), "a finished job refreshes the model chooser"

    # Use it in the main window, then quantize it from the Convert page's result.
    combo = win.model_bar.model_combo
    index = combo.findData(str(model_dir.resolve()))
    with qtbot.waitSignal(win.models.loaded, timeout=LOAD_TIMEOUT_MS):
        combo.setCurrentIndex(index)
        combo.activated.emit(index)
    assert not win.model_bar.precision_buttons["int8"].isEnabled()
    page.quantize_button.click()
    assert tools.current_page() is quantize_page and quantize_page.model_combo.model_path() == model_dir
    quantize_page.subset.setValue(SUBSET)
    assert quantize_page.builtin_radio.isChecked()
    beat.start()
    quantize_page.quantize_button.click()
    qtbot.waitUntil(lambda: events.ended() is not None, timeout=JOB_TIMEOUT_MS)
    beat.stop()
    vision = events.progress("vision_model")
    end = events.wait(qtbot)
    assert end[0] == "finished", end
    # A real count: samples done of total, per stage.
    counted = [p for p in vision if p.unit == "samples"]
    assert counted and {p.total for p in counted} == {SUBSET}  # the samples there are, pass by pass
    order = [(p.message.endswith("pass 2 of 2)"), p.done) for p in counted]  # counts again in pass 2
    assert order == sorted(order) and counted[-1].done == SUBSET
    result = end[2]
    assert quantize_page.summary.isVisible()
    sizes_tree = quantize_page.sizes
    rows = {
        sizes_tree.topLevelItem(i).data(0, Qt.ItemDataRole.UserRole): sizes_tree.topLevelItem(i)
        for i in range(sizes_tree.topLevelItemCount())
    }
    assert list(rows) == ["vision_model", "text_encoder", "text_decoder_cross_kv", "text_decoder", "total"]
    for part, row in rows.items():  # sizes before and after, as the job measured them
        before, after = result.sizes_bytes["fp16"][part], result.sizes_bytes["int8"][part]
        assert row.text(3) == f"{before / after:.2f}x"
    assert result.sizes_bytes["fp16"]["total"] > 0 and result.calibration["samples"] == SUBSET
    assert "before" in quantize_page.summary_line.text() and "after" in quantize_page.summary_line.text()
    qtbot.waitUntil(lambda: win.model_bar.precision_buttons["int8"].isEnabled(), timeout=5000)

    # Compare, from the Quantize page's result.
    quantize_page.compare_button.click()
    assert tools.current_page() is compare_page and compare_page.model_combo.model_path() == model_dir
    compare_page.runs.setValue(2)
    compare_page.max_tokens.setValue(5)
    beat.start()
    compare_page.compare_button.click()
    qtbot.waitUntil(lambda: events.ended() is not None, timeout=JOB_TIMEOUT_MS)
    beat.stop()
    end = events.wait(qtbot)
    assert end[0] == "finished", end
    report = end[2].to_dict()  # the page shows the report as plain data, as it is saved
    qtbot.waitUntil(lambda: compare_page.answers.rowCount() == report["compared"], timeout=5000)
    assert compare_page.report == report and compare_page.results.isVisible()

    # The charts hold the report's numbers.
    parts = ["vision_model", "text_encoder", "text_decoder_cross_kv", "text_decoder"]
    sizes = compare_page.size_chart
    unit_scale = {"kB": 1e3, "MB": 1e6}[sizes.spec["unit"]]
    assert sizes.categories() == ["vision", "text enc.", "cross K/V", "decoder"]
    values = sizes.values()
    assert set(values) == {"FP16", "INT8"}
    for precision in ("fp16", "int8"):
        expected = [report["sizes_bytes"][precision][p] / unit_scale for p in parts]
        assert values[precision.upper()] == pytest.approx(expected, rel=1e-6)
    latency = compare_page.latency_chart
    stages = ["vision", "text_encoder", "first_token", "per_token", "end_to_end"]
    assert latency.categories() == ["vision", "text encoder", "first token", "per token", "end to end"]
    for precision in ("fp16", "int8"):
        expected = [report["latency_ms"]["vqa"][precision][s] for s in stages]
        assert latency.values()[precision.upper()] == pytest.approx(expected, rel=1e-6)
    assert all(v > 0 for v in latency.values()["FP16"])
    # Answers side by side, every input.
    table = compare_page.answers
    assert table.rowCount() == report["compared"] == 8
    shown = [(table.item(r, 2).text(), table.item(r, 3).text()) for r in range(table.rowCount())]
    assert shown == [(a["baseline"] or "(nothing)", a["candidate"] or "(nothing)") for a in report["answers"]]
    same = round(report["agreement"] * report["compared"])
    assert f"Same answer on {same} of 8" in compare_page.agreement.text()
    compare_page.only_differing.setChecked(True)
    assert table.rowCount() == len(report["differing"])
    assert "smaller" in compare_page.headline.text() or "larger" in compare_page.headline.text()

    # Export.
    png = compare_page.export_png(tmp_path / "charts.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    data = json.loads(compare_page.export_json(tmp_path / "report.json").read_text())
    assert data == json.loads(json.dumps(report))
    with open(compare_page.export_csv(tmp_path / "report.csv"), newline="") as fh:
        table_rows = list(csv.reader(fh))
    assert table_rows[0] == ["section", "item", "question", "fp16", "int8", "ratio", "same"]
    sizes_csv = {r[1]: r for r in table_rows if r[0] == "size_bytes"}
    assert int(sizes_csv["vision_model"][3]) == report["sizes_bytes"]["fp16"]["vision_model"]
    assert len([r for r in table_rows if r[0] == "answer"]) == 8

    # The window never waited for the jobs.
    worst, _, count = beat.worst()
    assert count > 100
    assert worst < 0.060, f"GUI stalled: {beat.describe()}"


# -- cancel ----------------------------------------------------------------------------------------------


def test_cancel_convert_leaves_no_half_folder(qtbot, tools, tiny_hf, private_models):
    page = tools.show_page("convert")
    events = Events(tools.runner)
    assert page.convert(tiny_hf["caption"], "tiny-cancel")
    # Stop once the model folder is being built (its temporary sibling exists).
    qtbot.waitUntil(lambda: bool(events.progress("vision_model")), timeout=JOB_TIMEOUT_MS)
    assert list(private_models.glob(".tiny-cancel.tmp-*"))
    page.job_view.cancel_button.click()
    assert page.job_view.cancel_button.text() == "Stopping…"
    assert events.wait(qtbot)[0] == "cancelled"
    assert list(private_models.iterdir()) == []
    assert "cancelled" in page.job_view.outcome.text() and error_dialog(tools) is None
    assert page.convert_button.isEnabled()


def test_cancel_quantize_leaves_the_model_untouched(qtbot, tools, tiny_models, private_models):
    model = shutil.copytree(tiny_models["vqa"], private_models / "tiny-q")
    before = snapshot(model)
    page = tools.show_page("quantize", model)
    page.subset.setValue(SUBSET)
    events = Events(tools.runner)
    assert page.quantize()
    qtbot.waitUntil(lambda: any(p.done for p in events.progress("vision_model")), timeout=JOB_TIMEOUT_MS)
    page.job_view.cancel_button.click()
    assert events.wait(qtbot)[0] == "cancelled"
    assert snapshot(model) == before, "no int8/, no temporary folder, the manifest as it was"
    assert [p.name for p in private_models.iterdir()] == ["tiny-q"]
    assert not page.summary.isVisible()


def test_cancel_compare_shows_nothing_half_measured(qtbot, tools, quantized_tiny, private_models):
    model = shutil.copytree(quantized_tiny, private_models / "tiny-c")
    before = snapshot(model)
    page = tools.show_page("compare", model)
    page.runs.setValue(100)
    events = Events(tools.runner)
    assert page.compare()
    qtbot.waitUntil(lambda: any(p.done for p in events.progress("latency")), timeout=JOB_TIMEOUT_MS)
    page.job_view.cancel_button.click()
    assert events.wait(qtbot)[0] == "cancelled"
    assert page.report is None and not page.results.isVisible() and not page.csv_button.isEnabled()
    assert snapshot(model) == before


# -- errors ----------------------------------------------------------------------------------------------


def test_errors_reach_the_presenter_and_the_panel_keeps_working(
    qtbot, tools, tiny_hf, tiny_models, private_models, tmp_path, monkeypatch
):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # no network: what the job process meets
    not_blip = tmp_path / "bert"
    not_blip.mkdir()
    (not_blip / "config.json").write_text(json.dumps({"model_type": "bert", "architectures": ["BertModel"]}))
    (not_blip / "model.safetensors").write_bytes(b"\0" * 64)
    corrupt = shutil.copytree(tiny_hf["vqa"], tmp_path / "corrupt")
    weights = corrupt / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    no_pictures = tmp_path / "no-pictures"
    no_pictures.mkdir()
    (no_pictures / "notes.txt").write_text("not a picture")
    model = shutil.copytree(tiny_models["vqa"], private_models / "tiny-err")

    convert_page = tools.convert_page
    cases = [
        (
            convert_page,
            lambda: convert_page.convert("Salesforce/blip-vqa-base", "offline"),
            "no connection to Hugging Face",
            "Check your network",
        ),
        (
            convert_page,
            lambda: convert_page.convert(not_blip, "bert"),
            "is not a BLIP question-answering or captioning model",
            "BlipForQuestionAnswering",
        ),
        (convert_page, lambda: convert_page.convert(corrupt, "corrupt"), "could not load corrupt", ""),
    ]
    quantize_page = tools.quantize_page

    def quantize_empty_folder() -> bool:
        tools.show_page("quantize", model)
        quantize_page.subset.setValue(SUBSET)
        quantize_page.set_calibration(no_pictures)
        return quantize_page.quantize()

    cases.append((quantize_page, quantize_empty_folder, "holds no pictures", "Add PNG or JPEG files"))
    events = Events(tools.runner)
    for page, start, summary, fix in cases:
        assert start()
        end = events.wait(qtbot)
        assert end[0] == "failed", end
        dialog = error_dialog(tools)
        assert dialog is not None, summary
        assert summary in dialog.summary.text()
        assert fix in dialog.fix.text()
        assert "Traceback" in dialog.details.toPlainText()
        assert page.job_view.outcome.text().startswith("✗ ")
        dialog.close()
        assert not tools.runner.busy
    assert [p.name for p in private_models.iterdir()] == ["tiny-err"], "no half-made model anywhere"
    assert snapshot(model) == snapshot(tiny_models["vqa"])
    # Still working: the next job runs.
    models_page = tools.show_page("models")
    assert models_page.import_converted(tiny_models["caption"], "tiny-caption")
    assert events.wait(qtbot)[0] == "finished"
    assert ConvertedModel.open(private_models / "tiny-caption").task == "caption"


# -- the model chooser follows ---------------------------------------------------------------------------


def test_import_and_delete_refresh_the_model_chooser(qtbot, make_window, tiny_models, private_models):
    win = make_window(tiny_models["vqa"])
    win.model_tools_action.trigger()
    tools = win.tools_window
    page = tools.show_page("models")
    events = Events(tools.runner)
    assert page.import_converted(tiny_models["caption"], "imported-caption")
    assert events.wait(qtbot)[0] == "finished"
    target = private_models / "imported-caption"
    assert str(target.resolve()) in chooser_paths(win)
    names = [page.installed.topLevelItem(i).text(0) for i in range(page.installed.topLevelItemCount())]
    assert "imported-caption" in names
    row = page.installed.topLevelItem(names.index("imported-caption"))
    assert row.text(1) == "Captions" and row.text(2) == "FP16" and row.text(3).endswith("kB")

    # The model the main window uses is not deleted from under it.
    def use(path: Path) -> None:
        combo = win.model_bar.model_combo
        index = combo.findData(str(path.resolve()))
        with qtbot.waitSignal(win.models.loaded, timeout=LOAD_TIMEOUT_MS):
            combo.setCurrentIndex(index)
            combo.activated.emit(index)

    use(target)
    page.select_model(target)
    assert page.request_delete() is None
    assert "in use in the main window" in page.notice.text() and target.is_dir()
    use(tiny_models["vqa"])

    page.select_model(target)
    assert page.delete_button.isEnabled()
    page.delete_button.click()
    box = page.findChild(QMessageBox, "confirmDelete")
    assert box is not None and box.isVisible() and not box.isModal()
    assert "imported-caption" in box.text()
    box.button(QMessageBox.StandardButton.Cancel).click()
    assert target.is_dir(), "Cancel keeps the model"
    page.select_model(target)
    page.delete_button.click()
    box = page.findChild(QMessageBox, "confirmDelete")
    delete = next(b for b in box.buttons() if b.text() == "Delete")
    delete.click()
    assert events.wait(qtbot)[0] == "finished"
    assert not target.exists()
    assert str(target.resolve()) not in chooser_paths(win)
    assert win.models.current is not None, "the model in use stays"


def test_panel_imports_no_training_stack():
    """The app process never loads torch, transformers, NNCF...: every job runs in a process of its own."""
    import subprocess
    import sys

    code = (
        "import json, sys, desktop_app.window.main_window, desktop_app.tools_panel; "
        "print(json.dumps(sorted(sys.modules)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[3],
        env={**__import__("os").environ, "QT_QPA_PLATFORM": "offscreen"},
    )
    loaded = set(json.loads(out.stdout.strip().splitlines()[-1]))
    heavy = [
        "torch",
        "transformers",
        "nncf",
        "datasets",
        "matplotlib",
        "model_tools.convert.blip",
        "model_tools.quantize.blip",
        "model_tools.measure.compare",
        "model_tools.quantize.calibration",
        "model_tools.jobs.child",
    ]
    assert "PySide6.QtCharts" in loaded
    assert not [m for m in heavy if m in loaded]


def test_quitting_mid_job_ends_it_and_tidies_up(qtbot, make_window, tiny_models, tiny_hf, private_models):
    """Glimpse closing while a conversion runs: the job process is ended and its half-made folder removed."""
    win = make_window(tiny_models["vqa"])
    tools = win.show_model_tools("convert")
    events = Events(tools.runner)
    assert tools.convert_page.convert(tiny_hf["caption"], "tiny-quit")
    qtbot.waitUntil(lambda: bool(events.progress("vision_model")), timeout=JOB_TIMEOUT_MS)
    assert list(private_models.glob(".tiny-quit.tmp-*"))
    win.shutdown_timeout_ms = 1  # no time to stop at the next step: the process is ended
    win.close()
    assert win.threads_stopped is True
    assert list(private_models.iterdir()) == []
    assert not tools.runner.pool.activeThreadCount()


def test_without_the_conversion_tools_those_buttons_say_why(
    qtbot, monkeypatch, quantized_tiny, private_models
):
    """The runtime bundle has no torch: Download, Convert and Quantize are off and say why; Compare works."""
    from desktop_app.tools_panel import page as widgets
    from model_tools.library import store as library

    library.import_converted(ImportRequest(quantized_tiny, "tiny-q"))
    monkeypatch.setattr(widgets, "missing_tools", lambda: ["torch", "transformers"])
    window = ModelToolsWindow()
    qtbot.addWidget(window)
    window.show()
    try:
        models, convert, quantize, compare = (
            window.pages[p] for p in ("models", "convert", "quantize", "compare")
        )
        for page, buttons in (
            (models, [models.download_button, models.import_hf_button]),
            (convert, [convert.convert_button]),
            (quantize, [quantize.quantize_button]),
        ):
            assert (
                page.tools_note.isVisibleTo(page) and "torch, transformers missing" in page.tools_note.text()
            )
            for button in buttons:
                assert not button.isEnabled() and "full Glimpse bundle" in button.toolTip()
        convert.set_source("Salesforce/blip-vqa-base", "blip")  # a valid form does not switch it back on
        assert convert.can_start(convert.convert_button)
        assert not convert.convert_button.isEnabled()
        assert models.import_converted_button.isEnabled()  # a converted folder needs no tools
        assert not compare.tools_note.isVisibleTo(compare)
        compare.refresh()
        compare.model_combo.select(private_models / "tiny-q")
        compare.refresh_buttons()
        assert compare.compare_button.isEnabled()
    finally:
        window.shutdown(2000)
