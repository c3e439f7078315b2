"""The segment benchmark (`bench --synthetic slimsam`) runs its whole path on the tiny SAM and reports every
figure, consistently; the synthetic SlimSAM it builds has nielsr/slimsam-50-uniform's configuration and
parameter count, and the same builder at tiny sizes exports through our converter."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from model_tools.measure.bench import fp16_hints
from model_tools.measure.bench_segment import (
    PRECISIONS,
    TARGET_CLICK_TO_MASK_MS,
    TIMES,
    clicks,
    prepare,
    run_bench,
    table,
)
from model_tools.quantize.segment import CLICKS
from model_tools.runtime.model_folder import SEGMENT_PARTS

RUNS = 2
PICTURE = (320, 240)
SIDES = ("pytorch", *(f"openvino_{p}" for p in PRECISIONS))


@pytest.fixture(scope="module")
def report(tiny_sam_hf, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("bench-segment")
    return run_bench("tiny", runs=RUNS, workdir=workdir, hf=tiny_sam_hf, picture_size=PICTURE, subset_size=4,
                     log=lambda _: None)


def test_every_side_times_the_encoder_the_decoder_and_a_click(report):
    assert report["runs"] == RUNS and report["picture"] == list(PICTURE)
    assert report["clicks"] == [[round(x, 1), round(y, 1)] for x, y in clicks(*PICTURE)] and len(CLICKS) == 5
    for side in (*SIDES, *(f"by_hint:{k}" for k in report["openvino_by_hint"])):
        r = report["openvino_by_hint"][side.split(":")[1]] if side.startswith("by_hint:") else report[side]
        assert all(r[k] > 0 for k in TIMES), (side, r)
        assert r["click_to_mask_ms"] >= r["decoder_ms"], side  # the decoder, then the masks to the picture
        assert r["first_mask_ms"] >= r["encoder_ms"], side  # a new picture: preprocessing, encoder, a click
        assert r["preprocess_ms"] > 0 and r["load_s"] > 0, side
        assert r["peak_rss_mb"] > 0 and r["rss_before_mb"] > 0 and isinstance(r["peak_rss_is_this_side_only"], bool)
        assert "best_masks" not in r  # the masks went into mask_iou, not the JSON
    pt = report["pytorch"]
    assert pt["dtype"] == "float32" and pt["postprocess_ms"] > 0 and pt["threads"] >= 1
    assert pt["parameters"]["total"] > pt["parameters"]["image_encoder"] > 0
    for p in PRECISIONS:
        r = report[f"openvino_{p}"]
        assert r["setup"].startswith(p.upper()) and set(r["files"]) == set(SEGMENT_PARTS)
        assert 0 < r["upsample_ms"] < r["click_to_mask_ms"]  # the masks' upsampling is part of a click
    for key, r in report["openvino_by_hint"].items():  # the hints the policy did not choose, on the own files
        precision, hint = key.split("_")
        assert precision in PRECISIONS and hint in fp16_hints()
        assert set(r["hints"].values()) == {hint} and set(r["files"].values()) == {precision}
    json.dumps(report)  # the CLI prints it


def test_masks_sizes_and_ratios_agree_with_the_sides(report):
    ious = report["mask_iou"]
    assert {"int8_vs_fp16", "fp16_vs_pytorch", "int8_vs_pytorch"} <= set(ious)
    assert {f"{k}_vs_pytorch" for k in report["openvino_by_hint"]} <= set(ious)
    for v in ious.values():
        assert len(v["per_click"]) == len(CLICKS) and 0.0 <= v["min"] <= v["mean"] <= 1.0
        assert v["mean"] == pytest.approx(sum(v["per_click"]) / len(CLICKS))
    # The tiny SAM's FP16 files hold exactly PyTorch's weights: the same masks, but for rounding.
    assert ious["fp16_vs_pytorch"]["mean"] > 0.9
    sizes = report["sizes_bytes"]
    assert set(sizes) == set(PRECISIONS) and all(list(s) == [*SEGMENT_PARTS, "total"] for s in sizes.values())
    assert sizes["int8"]["prompt_decoder"] == sizes["fp16"]["prompt_decoder"]  # int8/ keeps the FP16 decoder
    assert report["compression"]["image_encoder"] == pytest.approx(
        sizes["fp16"]["image_encoder"] / sizes["int8"]["image_encoder"])
    assert report["int8"]["parts"]["image_encoder"]["subset_size"] == 4
    ratios, pt = report["ratios"], report["pytorch"]
    for p in PRECISIONS:
        ov = report[f"openvino_{p}"]
        assert ratios[f"{p}_vs_pytorch"] == pytest.approx({k: pt[k] / ov[k] for k in TIMES})
        assert ratios["click_to_mask_ms"][p] == ov["click_to_mask_ms"]
    fp16, int8 = report["openvino_fp16"], report["openvino_int8"]
    assert ratios["int8_vs_fp16"] == pytest.approx({k: fp16[k] / int8[k] for k in TIMES})
    for key in report["openvino_by_hint"]:
        assert ratios[f"{key}_vs_pytorch"]["encoder_ms"] > 0
    assert ratios["target_click_to_mask_ms"] == TARGET_CLICK_TO_MASK_MS
    assert ratios["target_click_to_mask_ok"] == (max(ratios["click_to_mask_ms"].values()) < TARGET_CLICK_TO_MASK_MS)
    machine = report["machine"]
    assert machine["cores"] >= 1 and isinstance(machine["cpu_flags"], list) and machine["cpu"]
    assert report["bench_process_peak_rss_mb"] > 0
    text = table(report)
    for label in ("PyTorch eager (f32)", "OpenVINO FP16", "OpenVINO INT8", "mask IoU", "int8 vs fp16",
                  "click to mask at 320 x 240", "INT8 vs FP16: encoder", "CPU flags"):
        assert label in text, label


def test_a_second_run_reuses_the_model_folders(report, tiny_sam_hf):
    stages = report["stages"]
    assert "convert_s" in stages and "quantize_int8_s" in stages and "build_s" not in stages  # hf= given
    assert prepare(Path(report["workdir"]), tiny_sam_hf, PRECISIONS, log=lambda _: None) == {}


def test_the_synthetic_slimsam_has_the_checkpoints_shapes():
    """nielsr/slimsam-50-uniform's config.json: SamConfig's defaults (SAM ViT-B) but the image encoder's width
    384 and MLP 1536; its model.safetensors is 112 MB of float32."""
    from transformers import SamConfig

    from model_tools.synthetic.slimsam import SLIMSAM_50, parameters, preprocessor_config, sam_config

    ours = sam_config(SLIMSAM_50)
    theirs = SamConfig(vision_config={"hidden_size": 384, "mlp_dim": 1536})  # the checkpoint's config.json
    for part in ("vision_config", "prompt_encoder_config", "mask_decoder_config"):
        a, b = getattr(ours, part).to_dict(), getattr(theirs, part).to_dict()
        assert {k: v for k, v in a.items() if a[k] != b.get(k)} == {}, part
    counted = parameters()
    assert counted["total"] == 27_962_032 and counted["image_encoder"] == 23_897_216
    assert round(counted["total"] * 4 / 1e6) == 112
    pre = preprocessor_config(SLIMSAM_50)
    assert pre["size"] == {"longest_edge": 1024} and pre["pad_size"] == {"height": 1024, "width": 1024}


def test_the_builder_at_tiny_sizes_converts_and_moves_masks_with_clicks(tmp_path):
    import numpy as np

    from model_tools.convert import convert
    from model_tools.jobs.requests import ConvertRequest
    from model_tools.runtime.segment.pipeline import load
    from model_tools.synthetic.slimsam import TINY_SAM, make_sam

    hf = make_sam(tmp_path / "hf", TINY_SAM)
    pipe = load(convert(ConvertRequest(str(hf), tmp_path / "ir")).path, exact=True)
    from model_tools.measure.bench_segment import picture

    image = picture(160, 120)
    embedding = pipe.encode(image)
    masks = [pipe.segment(embedding, [point]).best_mask for point in clicks(160, 120)]
    shares = [float(m.mean()) for m in masks]
    assert all(0.0 < s < 1.0 for s in shares), shares  # logits of order 1: neither empty nor full
    assert len({m.tobytes() for m in masks}) > 1  # a click moves the mask
    assert np.asarray(masks).shape == (len(CLICKS), 120, 160)


def test_the_cli_dispatches_slimsam_to_this_benchmark(report, monkeypatch, tmp_path, capsys):
    from model_tools import cli
    from model_tools.measure import bench_segment

    asked = {}

    def fake(kind, runs, workdir, precisions):
        asked.update(kind=kind, runs=runs, workdir=workdir, precisions=precisions)
        return report

    monkeypatch.setattr(bench_segment, "run_bench", fake)
    out = tmp_path / "bench.json"
    assert cli.main(["bench", "--synthetic", "slimsam", "--runs", "3", "--json", str(out)]) == 0
    assert asked == {"kind": "slimsam", "runs": 3, "workdir": None, "precisions": PRECISIONS}
    assert json.loads(out.read_text()) == json.loads(json.dumps(report))
    assert "click to mask at 320 x 240" in capsys.readouterr().out
    assert cli.main(["bench", "--synthetic", "slimsam", "--no-int8", "--json", str(out)]) == 0
    assert asked["precisions"] == ("fp16",) and asked["runs"] == bench_segment.RUNS
