"""The Quantize page: why the bundled demo models are not offered, a bar that counts the samples there are,
and one duration for a finished job. Jobs run for real, in their own process, on the tiny model."""

from __future__ import annotations

import re
import shutil

import pytest

from model_tools.library import store as library
from tests.desktop_app.conftest import JobEvents as Events

SUBSET = 4

pytestmark = pytest.mark.usefixtures("private_models")



def test_with_only_the_demo_models_the_chooser_says_why_they_are_not_offered(tools, private_models):
    assert {m.name for m in library.installed()} == {"demo-shapes-vqa", "demo-shapes-caption", "demo-shapes-chat"}
    page = tools.show_page("quantize")
    combo = page.model_combo
    assert combo.count() == 1 and combo.model_path() is None
    text = combo.itemText(0)
    assert all(name in text for name in ("demo-shapes-vqa", "demo-shapes-caption", "demo-shapes-chat"))
    assert "quantized already" in text
    assert "Convert a model first" in text and "No converted model" not in text
    assert not page.quantize_button.isEnabled()


def test_the_bar_counts_the_samples_there_are_and_the_job_has_one_duration(
    qtbot, tools, tiny_models, private_models
):
    model = shutil.copytree(tiny_models["vqa"], private_models / "tiny-q")
    page = tools.show_page("quantize", model)
    page.subset.setValue(SUBSET)
    bar_texts: list[str] = []
    stages: list[str] = []
    tools.runner.job_progressed.connect(lambda job, p: (bar_texts.append(page.job_view.bar.format()),
                                                        stages.append(page.job_view.stage.text())))  # fmt: skip
    events = Events(tools.runner)
    page.quantize_button.click()
    end = events.wait(qtbot)
    assert end[0] == "finished", end

    counted = [t for t in bar_texts if t.endswith(" samples")]
    assert counted and all(t.endswith(f" of {SUBSET} samples") for t in counted), set(counted)
    assert f"{SUBSET} of {SUBSET} samples" in counted
    assert any("statistics pass 2 of 2" in s for s in stages)

    # One duration: the job line's; the result does not give another.
    outcome = page.job_view.outcome.text()
    assert re.search(r"done in \d+:\d\d\.$", outcome), outcome
    summary = page.summary_line.text()
    assert page.summary.isVisible() and "before" in summary
    assert not re.search(r"\d+(\.\d+)? ?s\b|took", summary), summary
