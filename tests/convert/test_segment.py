"""The Segment Anything converter: a complete folder, made atomically, whose two parts compute what PyTorch's
`SamModel` computes.

Tolerances (FP16 IR of weights already rounded to float16, run at f32): image embeddings and mask logits within
1e-2 of PyTorch's (absolute), IoU scores within 1e-2, and the binarised low-res masks agree on at least 99% of
their pixels.
"""

from __future__ import annotations

import json
import shutil
import threading

import numpy as np
import openvino as ov
import pytest

from model_tools.convert import convert as convert_any
from model_tools.convert import converter_for, segment
from model_tools.jobs.progress import Progress
from model_tools.jobs.requests import ConvertRequest
from model_tools.runtime import Cancelled, ConversionError, ConvertedModel
from model_tools.runtime.model_folder import sha256_file
from model_tools.runtime.segment import BOX_BOTTOM_RIGHT, BOX_TOP_LEFT, PAD_LABEL

ATOL = 1e-2
AGREE = 0.99
PARTS = ["image_encoder", "prompt_decoder"]


@pytest.fixture(scope="module")
def torch_sam(tiny_sam_hf):
    import torch
    from transformers import SamModel

    torch.manual_seed(0)
    return SamModel.from_pretrained(tiny_sam_hf, use_safetensors=True).eval()


@pytest.fixture(scope="module")
def compiled(tiny_sam_model):
    core = ov.Core()
    return {
        part: core.compile_model(str(tiny_sam_model / "fp16" / f"openvino_{part}.xml"), "CPU",
                                 {"INFERENCE_PRECISION_HINT": "f32"})
        for part in PARTS
    }


def test_manifest_describes_the_folder(tiny_sam_model, tiny_sam_hf):
    manifest = json.loads((tiny_sam_model / "manifest.json").read_text())
    assert manifest["family"] == "segment" and manifest["model_type"] == "sam"
    assert manifest["architecture"] == "SamModel" and manifest["source"]["path"] == str(tiny_sam_hf)
    assert manifest["image"] == {
        "size": [128, 128], "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225], "resample": "bilinear"
    }
    assert manifest["segment"] == {
        "longest_side": 128, "mask_size": [32, 32], "masks": 3, "embedding": [32, 8, 8], "mask_threshold": 0.0
    }
    files = manifest["precisions"]["fp16"]["files"]
    assert sorted(files) == sorted(f"fp16/openvino_{p}.{ext}" for p in PARTS for ext in ("xml", "bin"))
    for rel, rec in files.items():
        assert sha256_file(tiny_sam_model / rel) == rec["sha256"]
        assert (tiny_sam_model / rel).stat().st_size == rec["size"]
    assert manifest["files"] == {} and manifest["tools"]["openvino"]
    assert not list(tiny_sam_model.parent.glob(".*tmp*")), "no temporary folder left behind"
    spec = ConvertedModel.open(tiny_sam_model).spec
    assert spec.family == "segment" and spec.task == "segment" and spec.blip is None
    assert spec.segment is not None and spec.segment.embedding == (32, 8, 8) and spec.image.size == (128, 128)


def test_the_parts_have_the_documented_ports(tiny_sam_model):
    core = ov.Core()
    encoder = core.read_model(tiny_sam_model / "fp16" / "openvino_image_encoder.xml")
    decoder = core.read_model(tiny_sam_model / "fp16" / "openvino_prompt_decoder.xml")
    ports = {p.get_any_name(): str(p.get_partial_shape()) for p in [*encoder.inputs, *encoder.outputs]}
    assert ports == {"pixel_values": "[1,3,128,128]", "image_embeddings": "[1,32,8,8]"}
    ports = {p.get_any_name(): str(p.get_partial_shape()) for p in [*decoder.inputs, *decoder.outputs]}
    assert ports == {
        "image_embeddings": "[1,32,8,8]",
        "input_points": "[1,1,?,2]",
        "input_labels": "[1,1,?]",
        "pred_masks": "[1,1,3,32,32]",
        "iou_scores": "[1,1,3]",
    }


def test_the_encoder_matches_pytorch(tiny_sam_hf, torch_sam, compiled, images):
    import torch
    from transformers import SamProcessor

    processor = SamProcessor.from_pretrained(tiny_sam_hf)
    for picture in images[:2]:
        pixels = processor(images=picture, return_tensors="pt")["pixel_values"]
        with torch.no_grad():
            expected = torch_sam.get_image_embeddings(pixels).numpy()
        got = compiled["image_encoder"]({"pixel_values": pixels.numpy()})["image_embeddings"]
        assert np.abs(got - expected).max() < ATOL * max(1.0, np.abs(expected).max())


# (points, labels, box) in the 128 x 128 frame; labels 1 positive, 0 negative.
PROMPTS = [
    ([[40.0, 50.0]], [1], None),
    ([[40.0, 50.0], [90.0, 20.0]], [1, 0], None),
    ([[10.0, 100.0], [64.0, 64.0], [120.0, 7.0]], [0, 1, 1], None),
    (None, None, [20.0, 30.0, 100.0, 90.0]),
    ([[60.0, 60.0]], [1], [20.0, 30.0, 100.0, 90.0]),
]


@pytest.mark.parametrize("points, labels, box", PROMPTS)
def test_the_decoder_matches_pytorch(torch_sam, compiled, points, labels, box):
    """The decoder on PyTorch's own embeddings: a box goes in as two corners labelled 2 and 3, points alone
    with a padding point (label -1) appended, as the runtime sends them."""
    import torch

    rng = np.random.default_rng(1)
    with torch.no_grad():
        embeddings = torch_sam.get_image_embeddings(torch.from_numpy(rng.standard_normal((1, 3, 128, 128),
                                                                                          dtype=np.float32)))
        kwargs = {"image_embeddings": embeddings, "multimask_output": True}
        if points is not None:
            kwargs |= {"input_points": torch.tensor([[points]]), "input_labels": torch.tensor([[labels]])}
        if box is not None:
            kwargs["input_boxes"] = torch.tensor([[box]])
        expected = torch_sam(**kwargs)
    coords, ids = list(points or []), list(labels or [])
    if box is None:
        coords, ids = coords + [[0.0, 0.0]], ids + [PAD_LABEL]
    else:
        coords, ids = coords + [box[:2], box[2:]], ids + [BOX_TOP_LEFT, BOX_BOTTOM_RIGHT]
    out = compiled["prompt_decoder"]({
        "image_embeddings": embeddings.numpy(),
        "input_points": np.array([[coords]], dtype=np.float32),
        "input_labels": np.array([[ids]], dtype=np.int64),
    })
    masks, iou = out["pred_masks"], out["iou_scores"]
    want_masks, want_iou = expected.pred_masks.numpy(), expected.iou_scores.numpy()
    assert masks.shape == want_masks.shape == (1, 1, 3, 32, 32) and iou.shape == (1, 1, 3)
    assert np.abs(want_masks).max() > 0.5, "the tiny model's logits are of order 1, not all near zero"
    assert np.abs(masks - want_masks).max() < ATOL
    assert np.abs(iou - want_iou).max() < ATOL
    assert ((masks > 0) == (want_masks > 0)).mean() >= AGREE


def test_convert_picks_the_segment_family_and_a_cancel_leaves_nothing(tiny_sam_hf, tmp_path):
    assert converter_for(tiny_sam_hf) is segment
    cancel = threading.Event()
    seen: list[Progress] = []

    def stop_at_decoder(p: Progress) -> None:
        seen.append(p)
        if p.stage == "prompt_decoder":
            cancel.set()

    with pytest.raises(Cancelled):
        # The check before writing the manifest sees the flag set during the last part.
        convert_any(ConvertRequest(tiny_sam_hf, tmp_path / "out"), on_progress=stop_at_decoder, cancel=cancel)
    assert [p.stage for p in seen] == ["load", "image_encoder", "prompt_decoder"]
    assert list(tmp_path.iterdir()) == []


def test_the_picture_settings_come_from_the_processor_config(tiny_sam_hf, tmp_path):
    """preprocessor_config.json (the Hub's), else processor_config.json's image processor (transformers 5's)."""
    src = shutil.copytree(tiny_sam_hf, tmp_path / "src")
    pre = json.loads((src / "preprocessor_config.json").read_text())
    (src / "preprocessor_config.json").unlink()
    pre |= {"image_mean": [0.5, 0.5, 0.5], "image_std": [0.25, 0.25, 0.25], "resample": 3}
    (src / "processor_config.json").write_text(json.dumps({"image_processor": pre}))
    settings = segment.image_settings(src, 128)
    assert settings == {
        "size": [128, 128], "mean": [0.5] * 3, "std": [0.25] * 3, "resample": "bicubic", "longest_side": 128
    }
    (src / "processor_config.json").unlink()
    assert segment.image_settings(src, 128)["mean"] == list(segment.SAM_MEAN)
    (src / "preprocessor_config.json").write_text(json.dumps({"size": {"longest_edge": 1024}}))
    with pytest.raises(ConversionError, match="resizes pictures to 1024 .* takes 128 x 128"):
        segment.image_settings(src, 128)


def test_refuses_pickled_weights_and_other_models(tiny_sam_hf, tmp_path):
    src = shutil.copytree(tiny_sam_hf, tmp_path / "src")
    (src / "model.safetensors").rename(src / "pytorch_model.bin")
    with pytest.raises(ConversionError, match="no .safetensors weights"):
        segment.convert(ConvertRequest(src, tmp_path / "out"))
    config = json.loads((src / "config.json").read_text())
    (src / "config.json").write_text(json.dumps(config | {"model_type": "sam_hq", "architectures": ["SamHQModel"]}))
    with pytest.raises(ConversionError, match=r"is not a Segment Anything model \(it is SamHQModel\)"):
        segment.convert(ConvertRequest(src, tmp_path / "out"))
    assert not (tmp_path / "out").exists()


def test_asking_a_segment_model_is_one_line(tiny_sam_model, capsys):
    from model_tools import cli
    from model_tools.runtime.paths import RESOURCES

    code = cli.main(["ask", "--model", str(tiny_sam_model), "--image", str(RESOURCES / "samples" / "red-circle.png"),
                     "--question", "what is it?"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code != 0 and "is a Segment Anything model" in err[-1] and "Traceback" not in "\n".join(err)
