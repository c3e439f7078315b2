"""Models page: a ready OpenVINO chat model downloads (from a local folder served as the hub, in the job
process) and installs as one precision of its library entry; a model too big for the machine is flagged
before anything downloads."""

from __future__ import annotations

import json
import shutil

import pytest

from model_tools.library.catalog import find
from tests.desktop_app.conftest import JobEvents as Events
from tests.desktop_app.tools_panel.test_download import CHILD

JOB_TIMEOUT_MS = 120_000
INT4 = "OpenVINO/InternVL2-1B-int4-ov"

pytestmark = pytest.mark.usefixtures("private_models")


@pytest.fixture(scope="module")
def ready_folder(tmp_path_factory):
    from tests.chat_models import export_ready

    return export_ready(tmp_path_factory.mktemp("ready"))


@pytest.fixture
def ready_hub(tmp_path, ready_folder, monkeypatch):
    from huggingface_hub import constants

    root, cache = tmp_path / "hub", tmp_path / "hf-cache"
    shutil.copytree(ready_folder, root / INT4)
    cache.mkdir()
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("GLIMPSE_FAKE_HUB", json.dumps({"root": str(root), "cache": str(cache), "delay": 0}))
    return root


@pytest.fixture
def tools(qtbot):
    from desktop_app.tools_panel import ModelToolsWindow

    window = ModelToolsWindow()
    window.runner.command = list(CHILD)
    qtbot.addWidget(window)
    window.show()
    yield window
    window.shutdown(2000)


def _status(page, repo_id: str) -> str:
    from desktop_app.tools_panel.model_lists import KEY_ROLE

    items = [page.catalog.topLevelItem(i) for i in range(page.catalog.topLevelItemCount())]
    return next(item.text(3) for item in items if item.data(0, KEY_ROLE) == repo_id)


def test_a_ready_model_downloads_and_installs_as_its_precision(qtbot, tools, ready_hub, private_models):
    page = tools.show_page("models")
    events = Events(tools.runner)
    assert page.download(find(INT4))
    qtbot.waitUntil(lambda: events.ended() is not None, timeout=JOB_TIMEOUT_MS)
    assert events.ended()[0] == "finished", events.ended()
    entry = private_models / "InternVL2-1B"
    manifest = json.loads((entry / "manifest.json").read_text())
    assert manifest["family"] == "chat" and list(manifest["precisions"]) == ["int4"]
    assert {p.name for p in (entry / "int4").iterdir()} == {p.name for p in (ready_hub / INT4).iterdir()}
    assert "download" in {p.stage for p in events.progress()} and "install" in {p.stage for p in events.progress()}
    page.refresh()
    assert _status(page, INT4) == "Installed"
    assert _status(page, "OpenVINO/InternVL2-1B-fp16-ov") != "Installed"  # the other variants are not
    # The same variant again: said, not started.
    assert not page.download(find(INT4)) and "already installed" in page.notice.text()


def test_a_model_too_big_for_this_machine_is_flagged_before_download(qtbot, tools, monkeypatch, private_models):
    from model_tools.library import catalog

    monkeypatch.setattr(catalog, "total_memory_mb", lambda: 16_000)
    page = tools.show_page("models")
    events = Events(tools.runner)
    assert not page.download(find("llava-hf/llava-1.5-7b-hf"))
    assert "needs about 30 GB of memory" in page.notice.text() and "16 GB" in page.notice.text()
    assert events.items == [] and not tools.runner.busy
    page.refresh()
    assert "too big here" in _status(page, "llava-hf/llava-1.5-7b-hf")
