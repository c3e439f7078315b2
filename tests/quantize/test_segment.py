"""Quantizing a segment model: int8/ beside fp16/ with a quantized image encoder and the FP16 prompt decoder,
recorded with checksums; masks close to FP16's; clean cancellation; accuracy control on the masks' IoU."""

from __future__ import annotations

import shutil
import threading

import numpy as np
import openvino as ov
import pytest

from model_tools.cli import main
from model_tools.jobs.requests import QuantizationError, QuantizeRequest
from model_tools.quantize import quantize  # through the family dispatch, as the CLI and the app call it
from model_tools.quantize.segment import iou
from model_tools.runtime import Cancelled, ConvertedModel
from model_tools.runtime.model_folder import SEGMENT_DECODER, SEGMENT_ENCODER
from model_tools.runtime.segment.pipeline import load
from model_tools.synthetic import shapes
from tests.quantize.test_blip import assert_progress_well_formed, snapshot

SUBSET = 4
# Mean IoU of the best masks, INT8 against FP16, clicking the centre of each shape on 8 shape pictures:
# measured 0.95 on the tiny random SAM (subset 4; the worst single mask 0.76).
MIN_MEAN_IOU = 0.85


@pytest.fixture(scope="module")
def quantized(tiny_sam_model, tmp_path_factory):
    folder = shutil.copytree(tiny_sam_model, tmp_path_factory.mktemp("q") / "sam")
    events: list = []
    result = quantize(QuantizeRequest(folder, subset_size=SUBSET), on_progress=events.append)
    return folder, events, result


def test_int8_has_a_quantized_encoder_and_the_fp16_decoder(quantized):
    folder, _, result = quantized
    model = ConvertedModel.open(folder)
    assert model.precisions == ["fp16", "int8"] and result.int8 == folder / "int8"
    model.verify("int8")  # every file listed, sizes and checksums as recorded
    entry = model.manifest["precisions"]["int8"]
    assert set(entry["files"]) == {f"int8/openvino_{p}.{e}" for p in (SEGMENT_ENCODER, SEGMENT_DECODER)
                                   for e in ("xml", "bin")}
    for ext in ("xml", "bin"):
        fp16 = (folder / f"fp16/openvino_{SEGMENT_DECODER}.{ext}").read_bytes()
        assert (folder / f"int8/openvino_{SEGMENT_DECODER}.{ext}").read_bytes() == fp16
        assert entry["files"][f"int8/openvino_{SEGMENT_DECODER}.{ext}"]["sha256"] == (
            model.manifest["precisions"]["fp16"]["files"][f"fp16/openvino_{SEGMENT_DECODER}.{ext}"]["sha256"])
    encoder = ov.Core().read_model(str(model.xml("int8", SEGMENT_ENCODER)))
    types = {op.get_type_name() for op in encoder.get_ops()}
    weights = {op.get_output_element_type(0).get_type_name() for op in encoder.get_ops() if op.get_type_name() == "Constant"}
    assert "FakeQuantize" in types and weights & {"i8", "u8"}, (types, weights)
    assert entry["parts"][SEGMENT_ENCODER] == {"method": "nncf.quantize", "model_type": "transformer",
                                                "preset": "mixed", "subset_size": SUBSET, "accuracy_control": False}
    assert entry["parts"][SEGMENT_DECODER] == {"method": "copied", "from": "fp16"}
    assert entry["calibration"] == {"source": "builtin", "samples": SUBSET, "skipped": 0}
    assert entry["accuracy_control"] is None and entry["tools"]["nncf"]
    assert not [p for p in folder.iterdir() if p.name.startswith(".")], "temporary folders left behind"


def test_progress_stages(quantized):
    _, events, _ = quantized
    assert assert_progress_well_formed(events) == ["calibration data", SEGMENT_ENCODER, SEGMENT_DECODER, "save",
                                                   "done"]


def test_int8_masks_agree_with_fp16(quantized):
    folder, _, _ = quantized
    fp16, int8 = load(folder, "fp16", exact=True), load(folder, "int8", exact=True)
    assert int8.sources == {SEGMENT_ENCODER: "int8", SEGMENT_DECODER: "int8"}
    rng = np.random.default_rng(123)
    ious = []
    for _ in range(8):
        scene = shapes.random_scene(rng)
        picture = shapes.render(scene, 160, rng)
        a, b = fp16.encode(picture), int8.encode(picture)
        for shape in scene.shapes:
            click = [(shape.cx * 160, shape.cy * 160)]
            ious.append(iou(fp16.segment(a, click).best_mask, int8.segment(b, click).best_mask))
    assert np.mean(ious) >= MIN_MEAN_IOU, ious


def test_cancel_leaves_no_int8(tiny_sam_model, tmp_path):
    folder = shutil.copytree(tiny_sam_model, tmp_path / "sam")
    before = snapshot(folder)
    cancel = threading.Event()

    def on_progress(p):
        if p.stage == SEGMENT_ENCODER and p.done == 2:  # inside NNCF's statistics collection
            cancel.set()

    with pytest.raises(Cancelled):
        quantize(QuantizeRequest(folder, subset_size=SUBSET), on_progress=on_progress, cancel=cancel)
    assert snapshot(folder) == before and not (folder / "int8").exists()


def test_accuracy_control_records_the_masks_iou(tiny_sam_model, tmp_path):
    folder = shutil.copytree(tiny_sam_model, tmp_path / "sam")
    events: list = []
    request = QuantizeRequest(folder, subset_size=SUBSET, accuracy_control=True, max_drop=0.2, validation_size=2)
    quantize(request, on_progress=events.append)
    assert any("Accuracy control" in e.message for e in events)
    entry = ConvertedModel.open(folder).manifest["precisions"]["int8"]
    ac = entry["accuracy_control"]
    assert ac["max_drop"] == 0.2 and ac["validation_samples"] == 2 and ac["reached"] is True
    assert 0.8 <= ac["iou"][SEGMENT_ENCODER] <= 1.0
    assert entry["parts"][SEGMENT_ENCODER]["method"] == "nncf.quantize_with_accuracy_control"
    load(folder, "int8")


def test_text_options_are_refused(tiny_sam_model, tmp_path, capsys):
    for kwargs in ({"decoder": "int4"}, {"weights": "int4"}, {"questions": tmp_path / "q.txt"}):
        with pytest.raises(QuantizationError, match="Segment Anything"):
            quantize(QuantizeRequest(tiny_sam_model, **kwargs))
    assert main(["quantize", "--model", str(tiny_sam_model), "--decoder", "int4"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "\n" not in err and "Segment Anything" in err
    assert not (tiny_sam_model / "int8").exists()


def test_without_vnni_the_encoder_runs_its_fp16_file():
    """Like BLIP's vision model, the image encoder is compute-bound: INT8 matrix products need VNNI to pay."""
    from model_tools.runtime import precision as policy

    avx2 = policy.Hardware("CPU", bf16=False, int8_dot=False)
    setups = {p: policy.part_setup(avx2, "int8", p, True, False) for p in (SEGMENT_ENCODER, SEGMENT_DECODER)}
    assert {p: s.source for p, s in setups.items()} == {SEGMENT_ENCODER: "fp16", SEGMENT_DECODER: "int8"}
    assert policy.setup_label("int8", "CPU", setups) == "INT8 · image encoder FP16 on this CPU · f32"
