"""Conversion writes a complete, self-describing folder, atomically, from safetensors only."""

from __future__ import annotations

import json
import shutil
import threading

import pytest

from model_tools.convert.blip import convert
from model_tools.jobs.folders import TargetExistsError
from model_tools.jobs.progress import Progress
from model_tools.jobs.requests import ConvertRequest
from model_tools.runtime import Cancelled, ConversionError, ConvertedModel
from model_tools.runtime.model_folder import sha256_file


def test_manifest_describes_the_folder(tiny_models, tiny_hf):
    for task, folder in tiny_models.items():
        manifest = json.loads((folder / "manifest.json").read_text())
        assert manifest["task"] == task
        assert (
            manifest["tokens"]["decoder_start"] == manifest["text"]["vocab_size"] - 1
        )  # [DEC], last in our vocab
        assert manifest["tokens"]["end"] == 3  # [SEP]
        assert manifest["image"]["size"] == [32, 32]
        expected_parts = {"vision_model", "text_decoder_cross_kv", "text_decoder"} | (
            {"text_encoder"} if task == "vqa" else set()
        )
        files = manifest["precisions"]["fp16"]["files"]
        assert {k.split("/")[1].rsplit(".", 1)[0] for k in files} == expected_parts
        for rel, rec in {**files, **manifest["files"]}.items():
            assert sha256_file(folder / rel) == rec["sha256"]
            assert (folder / rel).stat().st_size == rec["size"]
        assert manifest["tools"]["openvino"] and manifest["source"]["path"] == str(tiny_hf[task])
        assert not list(folder.parent.glob(".*tmp*")), "no temporary folder left behind"


def test_progress_reports_in_order(tiny_hf, tmp_path):
    seen: list[Progress] = []
    convert(ConvertRequest(tiny_hf["caption"], tmp_path / "out"), on_progress=seen.append)
    done = [p.done for p in seen]
    assert done == sorted(done) and seen[-1].done == seen[-1].total
    assert [p.stage for p in seen][2:5] == ["vision_model", "text_decoder_cross_kv", "text_decoder"]


def test_cancel_leaves_nothing(tiny_hf, tmp_path):
    cancel = threading.Event()

    def stop_at_decoder(p: Progress) -> None:
        if p.stage == "text_decoder":
            cancel.set()

    convert_target = tmp_path / "out"
    with pytest.raises(Cancelled):
        # The check before writing the manifest sees the flag set during the last stage.
        convert(ConvertRequest(tiny_hf["vqa"], convert_target), on_progress=stop_at_decoder, cancel=cancel)
    assert list(tmp_path.iterdir()) == []


def test_existing_folder_is_not_overwritten_unless_asked(tiny_hf, tiny_models, tmp_path):
    target = tmp_path / "model"
    shutil.copytree(tiny_models["caption"], target)
    before = (target / "manifest.json").read_text()
    with pytest.raises(TargetExistsError, match="already exists"):
        convert(ConvertRequest(tiny_hf["caption"], target))
    assert (target / "manifest.json").read_text() == before
    convert(ConvertRequest(tiny_hf["caption"], target, overwrite=True))
    assert ConvertedModel.open(target).task == "caption"
    assert [p.name for p in tmp_path.iterdir()] == ["model"]


def test_refuses_pickled_weights(tiny_hf, tmp_path):
    src = tmp_path / "src"
    shutil.copytree(tiny_hf["vqa"], src)
    (src / "model.safetensors").rename(src / "pytorch_model.bin")
    with pytest.raises(ConversionError, match="safetensors"):
        convert(ConvertRequest(src, tmp_path / "out"))
    assert not (tmp_path / "out").exists()


def test_refuses_a_model_that_is_not_blip(tiny_hf, tmp_path):
    src = tmp_path / "bert"
    shutil.copytree(tiny_hf["vqa"], src)
    config = json.loads((src / "config.json").read_text())
    config.update(model_type="bert", architectures=["BertForMaskedLM"])
    (src / "config.json").write_text(json.dumps(config))
    with pytest.raises(ConversionError, match="not a BLIP"):
        convert(ConvertRequest(src, tmp_path / "out"))


def test_refuses_a_folder_without_config(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConversionError, match="config.json"):
        convert(ConvertRequest(tmp_path / "empty", tmp_path / "out"))


def test_unknown_hub_id_offline_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ConversionError, match="Hugging Face|connection|no model"):
        convert(ConvertRequest("Salesforce/not-a-real-blip-model", tmp_path / "out"))
