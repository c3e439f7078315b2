"""A chat model's weights INT8 or INT4 with NNCF: each precision a complete VLMPipeline folder beside fp16/,
recorded in the manifest with its modes; cancel leaves the model as it was."""

from __future__ import annotations

import json
import shutil
import threading

import numpy as np
import pytest
from PIL import Image

from model_tools import cli
from model_tools.convert import chat as export
from model_tools.jobs.progress import Progress
from model_tools.jobs.requests import JOBS, QuantizationError, QuantizeRequest
from model_tools.quantize import quantize
from model_tools.runtime import Cancelled, CorruptModelError
from model_tools.runtime.model_folder import sha256_file
from tests.convert.test_chat import vlm_greedy_ids

LM_BIN = f"openvino_{export.LANGUAGE}.bin"


@pytest.fixture(scope="module")
def quantized(tiny_chat_model, tmp_path_factory):
    """A copy of the tiny chat model with int8/ (the job's function) and int4/ (`model-tools quantize`)."""
    model = shutil.copytree(tiny_chat_model, tmp_path_factory.mktemp("chat-quantize") / "tiny-llava")
    seen: list[Progress] = []
    result = quantize(QuantizeRequest(model, weights="int8"), on_progress=seen.append)
    args = ["quantize", "--model", str(model), "--weights", "int4", "--group-size", "16", "--ratio", "1.0"]
    assert cli.main(args) == 0
    return model, result, seen


def test_each_precision_is_listed_with_its_modes_and_checksums(quantized):
    model, result, _ = quantized
    manifest = json.loads((model / "manifest.json").read_text())
    assert list(manifest["precisions"]) == ["fp16", "int8", "int4"]
    fp16_names = {rel.split("/", 1)[1] for rel in manifest["precisions"]["fp16"]["files"]}
    for precision in ("int8", "int4"):
        entry = manifest["precisions"][precision]
        assert entry["made_by"] == "quantize" and entry["tools"]["nncf"]
        assert {rel.split("/", 1)[1] for rel in entry["files"]} == fp16_names == {p.name for p in (model / precision).iterdir()}
        for rel, rec in entry["files"].items():
            assert (model / rel).stat().st_size == rec["size"] and sha256_file(model / rel) == rec["sha256"]
        for part in (export.TEXT_EMBEDDINGS, export.VISION_EMBEDDINGS):
            assert entry["parts"][part]["mode"] == "int8_asym"
    assert manifest["precisions"]["int8"]["parts"][export.LANGUAGE]["mode"] == "int8_asym"
    lm4 = manifest["precisions"]["int4"]["parts"][export.LANGUAGE]
    assert (lm4["mode"], lm4["group_size"], lm4["ratio"]) == ("int4_asym", 16, 1.0)
    assert not list(model.parent.glob(".*")), "no temporary folder or lock left behind"
    assert result.precision == "int8" and result.int8 == model / "int8" and result.task == "chat"
    assert result.parts == manifest["precisions"]["int8"]["parts"]


def test_the_language_model_shrinks(quantized):
    model, result, _ = quantized
    fp16, int8, int4 = ((model / p / LM_BIN).stat().st_size for p in ("fp16", "int8", "int4"))
    assert int4 < int8 < 0.6 * fp16
    for part in (export.TEXT_EMBEDDINGS, export.VISION_EMBEDDINGS):
        name = f"openvino_{part}.bin"
        assert (model / "int8" / name).stat().st_size < 0.7 * (model / "fp16" / name).stat().st_size
    sizes = result.sizes_bytes
    assert sizes["int8"][export.LANGUAGE] < sizes["fp16"][export.LANGUAGE]
    assert sizes["int8"]["total"] == sum(v for k, v in sizes["int8"].items() if k != "total")


def test_progress_goes_part_by_part(quantized):
    _, _, seen = quantized
    stages = list(dict.fromkeys(p.stage for p in seen))
    assert stages == ["check", *export.PARTS, "copy", "save", "done"]


@pytest.mark.parametrize("precision", ["int8", "int4"])
def test_vlm_pipeline_loads_each_precision_and_answers(quantized, precision):
    picture = Image.fromarray(np.random.default_rng(1).integers(0, 255, (40, 56, 3), dtype=np.uint8))
    assert len(vlm_greedy_ids(quantized[0] / precision, picture, "what color is the shape?", 6)) > 0


def test_cancel_leaves_no_int4_folder(tiny_chat_model, tmp_path):
    model = shutil.copytree(tiny_chat_model, tmp_path / "model")
    before = (model / "manifest.json").read_text()
    cancel = threading.Event()

    def stop_at_the_language_model(p: Progress) -> None:
        if p.stage == export.LANGUAGE:
            cancel.set()

    with pytest.raises(Cancelled):
        quantize(QuantizeRequest(model, weights="int4"), on_progress=stop_at_the_language_model, cancel=cancel)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]
    assert sorted(p.name for p in model.iterdir()) == ["fp16", "manifest.json"]
    assert (model / "manifest.json").read_text() == before


def test_a_damaged_fp16_file_is_refused_by_name(tiny_chat_model, tmp_path):
    model = shutil.copytree(tiny_chat_model, tmp_path / "model")
    lm = model / "fp16" / LM_BIN
    data = bytearray(lm.read_bytes())
    data[100] ^= 0xFF
    lm.write_bytes(bytes(data))
    with pytest.raises(CorruptModelError, match=f"fp16/{LM_BIN} does not match its checksum"):
        quantize(QuantizeRequest(model, weights="int4"))
    assert not (model / "int4").exists()


def test_weights_are_checked_on_creation_and_fit_the_family(tmp_path):
    assert JOBS["quantize"].function == "model_tools.quantize:quantize"
    with pytest.raises(QuantizationError, match="Unknown weights 'int2'"):
        QuantizeRequest("m", weights="int2")
    blip = tmp_path / "blip"
    blip.mkdir()
    (blip / "manifest.json").write_text(json.dumps({"format_version": 1, "name": "blip"}))  # no family: BLIP
    with pytest.raises(QuantizationError, match="BLIP model: its quantized precision is INT8 only"):
        quantize(QuantizeRequest(blip, weights="int4"))
    assert QuantizeRequest("m").weights == "int8"  # BLIP requests as before
