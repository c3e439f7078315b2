"""`model_tools.library.install`: a ready OpenVINO chat model, downloaded from a local folder served as the hub,
becomes one precision of a library entry whose manifest lists every file's checksum, and VLMPipeline runs it."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from model_tools.jobs.requests import DownloadRequest, InstallRequest
from model_tools.library import hub
from model_tools.library.install import install_ready
from model_tools.runtime.errors import GlimpseError

REPO = "OpenVINO/tiny-chat-fp16-ov"


@pytest.fixture(scope="module")
def ready_folder(tmp_path_factory) -> Path:
    from tests.chat_models import export_ready

    return export_ready(tmp_path_factory.mktemp("ready"))


@pytest.fixture
def models_dir(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "models"
    monkeypatch.setenv("GLIMPSE_MODELS_DIR", str(folder))
    return folder


def _publish(local_hub, repo: str, folder: Path, extra: dict[str, bytes] | None = None) -> None:
    files = {p.name: p.read_bytes() for p in folder.iterdir()}
    local_hub.publish(repo, {**files, **(extra or {})})


def _answer(folder: Path) -> str:
    import openvino as ov
    import openvino_genai as og

    pipe = og.VLMPipeline(str(folder), "CPU", ATTENTION_BACKEND="SDPA", INFERENCE_PRECISION_HINT="f32")
    config = og.GenerationConfig()
    config.max_new_tokens, config.do_sample = 6, False
    history = og.ChatHistory()
    history.append({"role": "user", "content": "what is in the picture?"})
    picture = ov.Tensor(np.random.default_rng(0).integers(0, 255, (1, 40, 48, 3), dtype=np.uint8))
    return pipe.generate(history, images=[picture], generation_config=config).texts[0]


def test_a_ready_model_downloads_as_it_is_and_installs_with_checksums(ready_folder, local_hub, models_dir):
    _publish(local_hub, REPO, ready_folder, {"README.md": b"# card", "pytorch_model.bin": b"pickle"})
    folder = hub.download(DownloadRequest(REPO, ready=True)).folder
    fetched = {p.name for p in folder.iterdir()}
    assert fetched == {p.name for p in ready_folder.iterdir()}  # IR files and configs; no card, no pickle
    result = install_ready(InstallRequest(REPO, "tiny-chat", "fp16"))  # from the hub (cached by now)

    entry = models_dir / "tiny-chat"
    assert result.path == entry and result.precisions == ["fp16"]
    manifest = json.loads((entry / "manifest.json").read_text())
    assert manifest["family"] == "chat" and manifest["model_type"] == "llava"
    records = manifest["precisions"]["fp16"]["files"]
    assert set(records) == {f"fp16/{p.name}" for p in ready_folder.iterdir()}
    for rel, rec in records.items():
        data = (entry / rel).read_bytes()
        assert data == (ready_folder / Path(rel).name).read_bytes()
        assert rec == {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    assert _answer(entry / "fp16") == _answer(ready_folder) != ""


def test_variants_of_one_model_share_its_entry(ready_folder, tmp_path, models_dir):
    install_ready(InstallRequest(str(ready_folder), "tiny-chat", "fp16"))
    install_ready(InstallRequest(str(ready_folder), "tiny-chat", "int4"))
    manifest = json.loads((models_dir / "tiny-chat" / "manifest.json").read_text())
    assert sorted(manifest["precisions"]) == ["fp16", "int4"]
    with pytest.raises(GlimpseError, match="INT4 version already"):
        install_ready(InstallRequest(str(ready_folder), "tiny-chat", "int4"))
    assert not [p.name for p in (models_dir / "tiny-chat").iterdir() if p.name.startswith(".")]


def test_a_folder_vlmpipeline_cannot_run_is_refused_naming_it(ready_folder, tmp_path, models_dir):
    other = tmp_path / "bert-ov"
    shutil.copytree(ready_folder, other)
    config = json.loads((other / "config.json").read_text())
    (other / "config.json").write_text(json.dumps({**config, "model_type": "bert"}))
    with pytest.raises(GlimpseError, match="'bert' model, which openvino-genai's VLMPipeline cannot run"):
        install_ready(InstallRequest(str(other), "bert", "fp16"))
    (other / "openvino_language_model.xml").unlink()
    with pytest.raises(GlimpseError, match="has no openvino_language_model.xml"):
        install_ready(InstallRequest(str(other), "bert", "fp16"))
    assert not models_dir.exists() or not any(models_dir.iterdir())


def test_a_users_folder_of_that_name_is_left_alone(ready_folder, models_dir):
    mine = models_dir / "tiny-chat"
    mine.mkdir(parents=True)
    (mine / "notes.txt").write_text("mine")
    with pytest.raises(GlimpseError, match="not a Glimpse chat model"):
        install_ready(InstallRequest(str(ready_folder), "tiny-chat", "fp16"))
    assert [p.name for p in mine.iterdir()] == ["notes.txt"]


def test_a_bad_precision_or_name_is_refused_in_the_request(ready_folder):
    from model_tools.jobs.requests import BadRequestError

    with pytest.raises(BadRequestError, match="not 'int2'"):
        InstallRequest(str(ready_folder), "x", "int2")
    with pytest.raises(BadRequestError, match="not a model folder name"):
        InstallRequest(str(ready_folder), "../x", "fp16")
