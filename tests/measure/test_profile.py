"""`model_tools.measure.profile` on the bundled demo models: OpenVINO's per-layer counters, as layer types and
the kernels OpenVINO picked for them, per precision; and `model-tools profile`, which prints them as JSON."""

from __future__ import annotations

import json
import re

import pytest

from model_tools import cli
from model_tools.library.store import DEMO_CAPTION, DEMO_VQA
from model_tools.measure.profile import profile_vision
from model_tools.runtime.errors import DeviceUnavailableError
from model_tools.runtime.model_folder import VISION, ConvertedModel

ROW = re.compile(r"\w+ \[[^\]\s]+\]")  # "FullyConnected [brgemm_avx2_f32]"


@pytest.fixture(scope="module")
def report() -> dict:
    return profile_vision(DEMO_VQA, runs=2)


def test_the_report_names_the_model_the_part_and_the_settings(report):
    assert {k: report[k] for k in ("model", "part", "device", "runs", "hint")} == {
        "model": "demo-shapes-vqa",
        "part": VISION,
        "device": "CPU",
        "runs": 2,
        "hint": "f32",
    }
    assert set(report) - {"model", "part", "device", "runs", "hint"} == set(ConvertedModel.open(DEMO_VQA).precisions)


def test_each_precision_lists_its_slowest_layer_types_with_their_kernels(report):
    for precision in ("fp16", "int8"):
        rows = report[precision]["top_ms"]
        assert 0 < len(rows) <= 8
        assert all(ROW.fullmatch(name) for name in rows), list(rows)
        times = list(rows.values())
        assert times == sorted(times, reverse=True) and min(times) >= 0
        assert report[precision]["total_ms"] >= times[0]
        assert any(name.startswith(("FullyConnected", "MatMul")) for name in rows), "the ViT's matrix products"


def test_the_kernels_show_which_precision_ran(report):
    """The point of the tool: INT8 layers run INT8 kernels, FP16 ones (with the f32 hint) f32 kernels."""
    fp16, int8 = (list(report[p]["top_ms"]) for p in ("fp16", "int8"))
    assert any(re.search(r"i8", name, re.IGNORECASE) for name in int8), int8
    assert not any(re.search(r"i8|bf16", name, re.IGNORECASE) for name in fp16), fp16
    assert not any("bf16" in name.lower() for name in int8), "the f32 hint reached the compiler"


def test_top_limits_the_rows_and_no_hint_is_recorded():
    report = profile_vision(DEMO_CAPTION, runs=1, hint=None, top=2)
    assert report["model"] == "demo-shapes-caption" and report["hint"] is None
    assert all(len(report[p]["top_ms"]) == 2 for p in ("fp16", "int8"))


def test_a_missing_device_is_refused_before_compiling():
    with pytest.raises(DeviceUnavailableError) as info:
        profile_vision(DEMO_VQA, device="NPU.7", runs=1)
    assert "NPU.7" in info.value.message and "CPU" in info.value.fix


def test_the_command_prints_the_report_and_writes_it(tmp_path, capsys):
    out = tmp_path / "profile.json"
    code = cli.main(["profile", "--model", str(DEMO_VQA), "--runs", "1", "--hint", "none", "--json", str(out)])
    assert code == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == json.loads(out.read_text(encoding="utf-8"))
    assert printed["part"] == VISION and printed["runs"] == 1 and printed["hint"] is None
    assert all(ROW.fullmatch(name) for p in ("fp16", "int8") for name in printed[p]["top_ms"])


def test_a_chat_models_decode_step_per_precision_and_variant(tiny_chat_model, capsys):
    from model_tools.measure.profile import DECODE_VARIANTS, profile_decode

    report = profile_decode(tiny_chat_model, context=16, steps=3, variants=("f32", "f32_one_thread"))
    assert report["part"] == "language_model" and report["context_tokens"] == 16
    entry = report["fp16"]
    weights = (tiny_chat_model / "fp16" / "openvino_language_model.bin").stat().st_size
    assert entry["weight_bytes"] == weights
    for variant in ("f32", "f32_one_thread"):
        row = entry[variant]
        assert row["step_ms"] > 0 and row["config"] == DECODE_VARIANTS[variant]
        # GB/s is rounded to 0.1 and the step to 0.01 ms (a tiny model's step is ~0.1 ms): allow both roundings
        assert row["weights_GBps"] == pytest.approx(weights / row["step_ms"] / 1e6, rel=0.1, abs=0.06)
    shares = entry["kernel_share_percent"]
    assert shares and all(ROW.fullmatch(k) for k in shares) and 0 < sum(shares.values()) <= 100.01
    assert any(k.startswith(("FullyConnected", "MatMul")) for k in shares)
    with pytest.raises(ValueError, match="not a chat model"):
        profile_decode(DEMO_VQA)
