"""Models page downloads against a stubbed hub: byte progress, cancel mid-file, resume, an unknown id.

The stub replaces huggingface_hub's `snapshot_download` / `hf_hub_download` (the network boundary, as
`model_tools.library.hub` uses them) inside the job process: files come from a local folder in small chunks, each
reported through the given `tqdm_class`'s `update()`, and a partial file stays in the cache (as the hub's
resumable downloads do), so the next attempt resumes from it. Everything else runs for real: the job process,
`model_tools.library.hub.download`, the conversion, the panel.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from fnmatch import fnmatch
from pathlib import Path

import pytest

from tests.desktop_app.conftest import JobEvents as Events

JOB_TIMEOUT_MS = 120_000
ROOT = Path(__file__).resolve().parents[3]
REPO_ID = "Salesforce/blip-vqa-base"
COMMIT = "0123456789abcdef0123456789abcdef01234567"
CHUNK = 8192


# -- the stub (runs in the job process) ----------------------------------------------------------------------


class _NullBar:
    def __init__(self, *args, **kwargs) -> None: ...

    def update(self, n=1) -> None: ...


class FakeHub:
    """Repositories are folders under `root` (root/owner/name); the cache is laid out like the hub's."""

    def __init__(self, root: Path, cache: Path, delay: float) -> None:
        self.root, self.cache, self.delay = Path(root), Path(cache), delay

    def _repo(self, repo_id: str) -> Path:
        folder = self.root / repo_id
        if not folder.is_dir():
            import httpx2
            from huggingface_hub.errors import RepositoryNotFoundError

            url = f"https://huggingface.co/api/models/{repo_id}"
            raise RepositoryNotFoundError(
                f"404 Client Error. Repository Not Found for url: {url}.",
                response=httpx2.Response(404, request=httpx2.Request("GET", url)),
            )
        return folder

    def _storage(self, repo_id: str) -> Path:
        return self.cache / f"models--{repo_id.replace('/', '--')}"

    def _files(self, repo_id: str, allow_patterns) -> list[Path]:
        folder = self._repo(repo_id)
        return [
            p
            for p in sorted(folder.iterdir())
            if p.is_file() and (not allow_patterns or any(fnmatch(p.name, pat) for pat in allow_patterns))
        ]

    def snapshot_download(self, repo_id, *, revision=None, allow_patterns=None, dry_run=False, **_kwargs):
        from huggingface_hub.errors import LocalEntryNotFoundError
        from huggingface_hub.file_download import DryRunFileInfo

        files = self._files(repo_id, allow_patterns)
        snapshot = self._storage(repo_id) / "snapshots" / COMMIT
        if dry_run:
            return [
                DryRunFileInfo(
                    commit_hash=COMMIT,
                    file_size=p.stat().st_size,
                    filename=p.name,
                    local_path=str(snapshot / p.name),
                    is_cached=(snapshot / p.name).is_file(),
                    will_download=not (snapshot / p.name).is_file(),
                )
                for p in files
            ]
        missing = [p.name for p in files if not (snapshot / p.name).is_file()]
        if missing:
            raise LocalEntryNotFoundError(f"not downloaded: {missing}")
        return str(snapshot)

    def hf_hub_download(self, repo_id, filename, *, revision=None, tqdm_class=None, **_kwargs):
        source = self._repo(repo_id) / filename
        storage = self._storage(repo_id)
        blobs, snapshot = storage / "blobs", storage / "snapshots" / COMMIT
        blobs.mkdir(parents=True, exist_ok=True)
        partial = blobs / f"{filename}.incomplete"
        resumed = partial.stat().st_size if partial.is_file() else 0
        size = source.stat().st_size
        bar = (tqdm_class or _NullBar)(total=size, initial=resumed, unit="B", desc=filename)
        sent = 0
        try:
            with open(source, "rb") as fin, open(partial, "ab") as fout:
                fin.seek(resumed)
                while chunk := fin.read(CHUNK):
                    time.sleep(self.delay)
                    fout.write(chunk)
                    fout.flush()
                    sent += len(chunk)
                    bar.update(len(chunk))  # raises model_tools' Cancelled when the user cancels
        finally:
            with open(self.root / "transfers.log", "a", encoding="utf-8") as log:
                log.write(
                    json.dumps({"file": filename, "resumed": resumed, "sent": sent, "size": size}) + "\n"
                )
        blob = blobs / filename
        os.replace(partial, blob)
        snapshot.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(blob, snapshot / filename)
        return str(snapshot / filename)


def child_main() -> None:
    """The job process with the stub in place of huggingface_hub's download functions."""
    import huggingface_hub

    config = json.loads(os.environ["GLIMPSE_FAKE_HUB"])
    hub = FakeHub(config["root"], config["cache"], config["delay"])
    huggingface_hub.snapshot_download = hub.snapshot_download
    huggingface_hub.hf_hub_download = hub.hf_hub_download
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


def transfers(root: Path) -> list[dict]:
    log = root / "transfers.log"
    return [json.loads(line) for line in log.read_text().splitlines()] if log.is_file() else []


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
    assert "Installed" == page.catalog.topLevelItem(0).text(3)
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
