"""Models page downloads against a stubbed hub: byte progress, cancel mid-file, resume, an unknown id.

The stub (tests/fake_hub.py) replaces huggingface_hub's `snapshot_download` / `hf_hub_download` (the network
boundary, as `model_tools.library.hub` uses them) inside the job process: files come from a local folder in
small chunks, and a partial file stays in the cache, so the next attempt resumes from it. Everything else runs
for real: the job process, `model_tools.library.hub.download`, the conversion, the panel.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from fnmatch import fnmatch
from pathlib import Path

import pytest

from tests.desktop_app.conftest import JobEvents as Events
from tests.fake_hub import FakeHub, serve, transfers

JOB_TIMEOUT_MS = 120_000
ROOT = Path(__file__).resolve().parents[3]
REPO_ID = "Salesforce/blip-vqa-base"


# -- the stub in the job process ------------------------------------------------------------------------------


def child_main() -> None:
    """The job process with the stub (tests/fake_hub.py) in place of huggingface_hub's download functions."""
    config = json.loads(os.environ["GLIMPSE_FAKE_HUB"])
    serve(FakeHub(config["root"], config["cache"], delay=config["delay"]))
    from model_tools.jobs import child as job_runner

    code = job_runner.main()
    sys.stderr.flush()
    os._exit(code)


CHILD = [
    sys.executable,
    "-c",
    f"import sys; sys.path.insert(0, {str(ROOT)!r}); "
    "from tests.desktop_app.tools_panel.test_download import child_main; child_main()",
]


pytestmark = pytest.mark.usefixtures("private_models")  # each test installs into its own folder


# -- fixtures ------------------------------------------------------------------------------------------------


@pytest.fixture
def fake_hub(tmp_path, tiny_hf, monkeypatch) -> dict[str, Path]:
    """A hub serving the tiny VQA model as Salesforce/blip-vqa-base, with a private cache."""
    from huggingface_hub import constants

    root, cache = tmp_path / "hub", tmp_path / "hf-cache"
    shutil.copytree(tiny_hf["vqa"], root / REPO_ID)
    cache.mkdir()
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))  # this process already read it
    # 20 ms before each chunk: time to cancel in the middle of the weights file.
    monkeypatch.setenv(
        "GLIMPSE_FAKE_HUB", json.dumps({"root": str(root), "cache": str(cache), "delay": 0.02})
    )
    return {"root": root, "cache": cache}


@pytest.fixture
def tools(qtbot):
    from desktop_app.tools_panel import ModelToolsWindow

    window = ModelToolsWindow()
    window.runner.command = list(CHILD)
    qtbot.addWidget(window)
    window.show()
    yield window
    window.shutdown(2000)


# -- tests ---------------------------------------------------------------------------------------------------


def test_download_counts_bytes_cancels_mid_file_and_resumes(qtbot, tools, fake_hub, private_models):
    from model_tools.library import hub

    page = tools.show_page("models")
    events = Events(tools.runner)
    total = sum(
        p.stat().st_size
        for p in (fake_hub["root"] / REPO_ID).iterdir()
        if any(fnmatch(p.name, pat) for pat in hub.ALLOW_PATTERNS)
    )
    weights = (fake_hub["root"] / REPO_ID / "model.safetensors").stat().st_size
    page.select_entry(REPO_ID)
    assert page.download_button.text() == "Download and Convert" and page.download_button.isEnabled()

    # Cancel once the weights file is under way.
    page.download_button.click()
    qtbot.waitUntil(
        lambda: any(p.unit == "bytes" and p.done >= weights // 4 for p in events.progress()),
        timeout=JOB_TIMEOUT_MS,
    )
    assert page.job_view.bar.format().endswith("%)") and " of " in page.job_view.bar.format()
    page.job_view.cancel_button.click()
    qtbot.waitUntil(lambda: events.ended() is not None, timeout=JOB_TIMEOUT_MS)
    assert events.ended()[0] == "cancelled"
    counted = [p for p in events.progress() if p.unit == "bytes" and p.total]
    assert {p.total for p in counted} == {total}
    assert len(counted) >= 4, "bytes are reported as they come, not just at the end"
    assert [p.done for p in counted] == sorted(p.done for p in counted)
    first = transfers(fake_hub["root"])
    cut = next(t for t in first if t["file"] == "model.safetensors")
    assert 0 < cut["sent"] < cut["size"], "cancelled in the middle of the file"
    assert not list(private_models.glob("*blip-vqa-base*")) and not list(private_models.glob(".*"))
    assert "cancelled" in page.job_view.outcome.text()
    # The interruption shows, and the next click resumes.
    cached = hub.cached_bytes(REPO_ID)
    assert cached == sum(t["sent"] for t in first) > cut["sent"]
    assert page.download_button.text() == "Resume Download"
    assert "Interrupted" in page.catalog.topLevelItem(0).text(3)

    events.clear()
    page.download_button.click()
    qtbot.waitUntil(lambda: events.ended() is not None, timeout=JOB_TIMEOUT_MS)
    assert events.ended()[0] == "finished", events.ended()
    counted = [p for p in events.progress() if p.unit == "bytes" and p.total]
    assert counted[0].done > 0, "files finished before count from the start"
    assert next(p.done for p in counted if p.done > counted[0].done) >= cached, "so does the partial file"
    assert [p.done for p in counted] == sorted(p.done for p in counted) and counted[-1].done == total
    second = transfers(fake_hub["root"])[len(first) :]
    done_before = {t["file"] for t in first if t["sent"] == t["size"]}
    assert done_before and not done_before & {t["file"] for t in second}, (
        "finished files are not fetched again"
    )
    resumed = next(t for t in second if t["file"] == "model.safetensors")
    assert resumed["resumed"] == cut["sent"] and resumed["sent"] == weights - cut["sent"]
    # Converted in the same job, into the models folder.
    model_dir = private_models / "blip-vqa-base"
    manifest = json.loads((model_dir / "manifest.json").read_text())
    assert manifest["task"] == "vqa" and manifest["source"]["id"] == REPO_ID
    # The lists refresh just after the job's end (on a timer: the window draws the result first).
    qtbot.waitUntil(lambda: page.catalog.topLevelItem(0).text(3) == "Installed", timeout=5000)
    names = [page.installed.topLevelItem(i).text(0) for i in range(page.installed.topLevelItemCount())]
    assert "blip-vqa-base" in names
    stages = list(dict.fromkeys(p.stage for p in events.progress()))
    assert stages[0] == "download" and "vision_model" in stages and stages[-1] == "done"


def test_unknown_repository_is_a_clear_error(qtbot, tools, fake_hub, private_models):
    from desktop_app.widgets.error_dialog import ErrorDialog

    page = tools.show_page("convert")
    events = Events(tools.runner)
    assert page.convert("Salesforce/blip-vqa-nonexistent")
    qtbot.waitUntil(lambda: events.ended() is not None, timeout=JOB_TIMEOUT_MS)
    dialog = tools.findChild(ErrorDialog, "errorDialog")
    assert dialog is not None and dialog.isVisible()
    assert (
        "There is no model called 'Salesforce/blip-vqa-nonexistent' on Hugging Face." in dialog.summary.text()
    )
    assert "Check the spelling" in dialog.fix.text()
    assert "model_tools/library/hub.py" in dialog.details.toPlainText()  # the job process's own traceback
    assert not list(private_models.iterdir())
    assert not tools.runner.busy and page.convert_button.isEnabled()
