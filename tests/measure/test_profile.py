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
