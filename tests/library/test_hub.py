"""`model_tools.library.hub`: downloads from a hub served from a local folder (tests/fake_hub.py), the real
huggingface_hub's own checks (id spelling, offline), and what the cache holds after an interruption."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from model_tools.jobs.requests import DownloadRequest
from model_tools.library import hub
from model_tools.runtime.errors import Cancelled, ConversionError
from tests.fake_hub import CHUNK, transfers

REPO_ID = "someone/blip-test"
WEIGHTS = np.random.default_rng(0).bytes(20 * CHUNK + 123)  # not a whole number of chunks
FILES = {
    "config.json": b'{"model_type": "blip"}',
    "model.safetensors": WEIGHTS,
    "tokenizer.json": b"{}",
    # Never fetched: pickles and other frameworks' weights, and files conversion does not read.
    "pytorch_model.bin": b"pickle" * 100,
    "tf_model.h5": b"h5" * 100,
    "flax_model.msgpack": b"msgpack" * 100,
    "README.md": b"# a model",
}
ALLOWED = ["config.json", "model.safetensors", "tokenizer.json"]
TOTAL = sum(len(FILES[name]) for name in ALLOWED)


class Reports(list):
    """An `on_progress` that keeps what it was given."""

    def __call__(self, progress) -> None:
        self.append(progress)

    def counted(self) -> list:
        return [p for p in self if p.unit == "bytes" and p.total]


@pytest.fixture
def published(local_hub):
    local_hub.publish(REPO_ID, FILES)
    return local_hub


def test_download_fetches_only_what_conversion_needs_and_counts_its_bytes(published):
    reports = Reports()
    folder = hub.download(DownloadRequest(REPO_ID), on_progress=reports).folder

    assert sorted(p.name for p in folder.iterdir()) == ALLOWED
    assert all((folder / name).read_bytes() == FILES[name] for name in ALLOWED)
    assert sorted(t["file"] for t in transfers(published.root)) == ALLOWED
    assert {p.stage for p in reports} == {"download"}
    counted = reports.counted()
    assert {p.total for p in counted} == {TOTAL}
    assert [p.done for p in counted] == sorted(p.done for p in counted) and counted[-1].done == TOTAL
    assert len(counted) > len(WEIGHTS) // CHUNK, "bytes are reported chunk by chunk, not file by file"
    assert counted[-1].message == f"Downloaded {REPO_ID}"
    assert hub.cached_bytes(REPO_ID) == TOTAL


def test_a_finished_download_is_not_fetched_again(published):
    first = hub.download(DownloadRequest(REPO_ID)).folder
    sent = len(transfers(published.root))
    reports = Reports()

    assert hub.download(DownloadRequest(REPO_ID), on_progress=reports).folder == first
    assert len(transfers(published.root)) == sent
    assert [p.done for p in reports.counted()] == [TOTAL, TOTAL]  # all of it cached from the start


def test_cancel_stops_mid_file_and_the_next_download_resumes_there(published):
    cancel = threading.Event()
    stop_at = len(FILES["config.json"]) + len(WEIGHTS) // 3

    def on_progress(progress) -> None:
        if progress.unit == "bytes" and progress.done >= stop_at:
            cancel.set()

    with pytest.raises(Cancelled):
        hub.download(DownloadRequest(REPO_ID), on_progress=on_progress, cancel=cancel)
    first = transfers(published.root)
    cut = next(t for t in first if t["file"] == "model.safetensors")
    assert 0 < cut["sent"] < cut["size"], "cancelled in the middle of the file"
    assert "tokenizer.json" not in {t["file"] for t in first}
    assert hub.cached_bytes(REPO_ID) == sum(t["sent"] for t in first), "the partial file counts as cached"

    reports = Reports()
    folder = hub.download(DownloadRequest(REPO_ID), on_progress=reports).folder
    second = transfers(published.root)[len(first) :]
    assert [t["file"] for t in second] == ["model.safetensors", "tokenizer.json"], "config.json stays fetched"
    resumed = second[0]
    assert resumed["resumed"] == cut["sent"] and resumed["sent"] == len(WEIGHTS) - cut["sent"]
    assert (folder / "model.safetensors").read_bytes() == WEIGHTS
    counted = reports.counted()
    assert counted[0].done == len(FILES["config.json"])
    # The first chunk after the resume is counted on top of the partial file.
    assert counted[1].done == len(FILES["config.json"]) + cut["sent"] + CHUNK
    assert counted[-1].done == TOTAL


def test_a_cancel_before_the_start_fetches_nothing(published):
    cancel = threading.Event()
    cancel.set()
    reports = Reports()

    with pytest.raises(Cancelled):
        hub.download(DownloadRequest(REPO_ID), on_progress=reports, cancel=cancel)
    assert reports == [] and transfers(published.root) == []
    assert hub.cached_bytes(REPO_ID) == 0


def test_an_unknown_repository_says_so(local_hub):
    with pytest.raises(ConversionError) as info:
        hub.download(DownloadRequest("someone/no-such-model"))
    assert info.value.message == "There is no model called 'someone/no-such-model' on Hugging Face."
    assert info.value.fix == "Check the spelling."


def test_a_name_that_is_no_hub_id_says_so(local_hub):
    with pytest.raises(ConversionError) as info:
        hub.download(DownloadRequest("not a model id!"))  # huggingface_hub's own check of the spelling
    assert info.value.message == "'not a model id!' is neither a folder here nor a Hugging Face id (owner/name)."
    assert "path" in info.value.fix


def test_offline_is_a_connection_problem(tmp_path, monkeypatch):
    """The real huggingface_hub, in offline mode, with a cache that does not hold the model."""
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    with pytest.raises(ConversionError) as info:
        hub.download(DownloadRequest(REPO_ID))
    assert info.value.message == f"Could not download {REPO_ID}: no connection to Hugging Face."
    assert info.value.fix == "Check your network, or convert a local folder instead."


def test_cached_bytes_of_a_model_never_downloaded_is_zero(local_hub):
    assert hub.cached_bytes(REPO_ID) == 0
