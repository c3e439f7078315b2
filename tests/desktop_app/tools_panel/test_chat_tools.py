"""Model Tools with a chat model: the Quantize page offers what a chat model has (its language model's weights
as INT8 or INT4, no calibration), writes int4/, and the Compare page then compares FP16 with INT4. The jobs
run for real, in their own process, on the tiny LLaVA."""

from __future__ import annotations

import shutil

import pytest
from PySide6.QtCore import Qt

from model_tools.runtime import ConvertedModel
from tests.desktop_app.conftest import JobEvents as Events

TOKENS = 3


@pytest.fixture
def chat_model(tiny_chat_model, private_models):
    return shutil.copytree(tiny_chat_model, private_models / "tiny-llava")


def test_quantize_a_chat_model_to_int4_then_compare_it_with_fp16(qtbot, tools, chat_model, tiny_models):
    page = tools.show_page("quantize", chat_model)
    assert page.model_combo.model_path() == chat_model and "chat" in page.model_combo.currentText()
    assert page.is_chat() and page.weights_label.text() == "Language model weights"
    assert not page.calib_box.isVisibleTo(page) and not page.drop_row.isVisibleTo(page)
    page.int4_radio.setChecked(True)
    page.group_size.setValue(16)
    request = page.request(chat_model)
    assert (request.weights, request.group_size) == ("int4", 16)

    events = Events(tools.runner)
    page.quantize_button.click()
    end = events.wait(qtbot)
    assert end[0] == "finished", end
    result = end[2]
    assert result.precision == "int4" and ConvertedModel.open(chat_model).has("int4")
    assert page.sizes.headerItem().text(2) == "INT4 (after)"
    rows = {
        page.sizes.topLevelItem(i).data(0, Qt.ItemDataRole.UserRole): page.sizes.topLevelItem(i).text(0)
        for i in range(page.sizes.topLevelItemCount())
    }
    assert list(rows) == ["vision_embeddings_model", "text_embeddings_model", "language_model", "total"]
    assert rows["language_model"].endswith("(INT4)") and rows["vision_embeddings_model"].endswith("(INT8)")
    summary = page.summary_line.text()
    assert "INT4 written to" in summary and "no calibration" in summary and "Calibrated" not in summary
    assert page.compare_button.text() == "Compare FP16 and INT4…"

    # A BLIP model chosen next shows its calibration options again.
    page.select_model(shutil.copytree(tiny_models["vqa"], chat_model.parent / "tiny-vqa"))
    assert not page.is_chat() and page.calib_box.isVisibleTo(page) and page.weights_label.text() == "Decoder weights"
    page.select_model(chat_model)

    page.compare_button.click()
    compare = tools.compare_page
    assert tools.current_page() is compare and compare.model_combo.model_path() == chat_model
    assert compare.candidate() == "int4" and compare.candidate_combo.currentText() == "INT4"
    compare.runs.setValue(1)
    compare.max_tokens.setValue(TOKENS)
    compare.compare_button.click()
    assert "FP16 and INT4" in tools.windowTitle()
    end = events.wait(qtbot)
    assert end[0] == "finished", end
    report = end[2].to_dict()
    assert (report["task"], report["candidate"]) == ("chat", "int4")
    qtbot.waitUntil(lambda: compare.answers.rowCount() == report["compared"] == 8, timeout=5000)
    assert compare.latency_chart.categories() == ["first image", "first token", "per token", "end to end"]
    assert compare.size_chart.categories() == ["vision", "text emb.", "language (INT4)"]
    assert set(compare.size_chart.values()) == {"FP16", "INT4"}
    shown = [compare.answers.item(r, 2).text() for r in range(compare.answers.rowCount())]
    assert shown == [a["baseline"] or "(nothing)" for a in report["answers"]]
    assert "INT4 is" in compare.headline.text()
