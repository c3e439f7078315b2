"""Comparison reports: every field present, agreement right, a readable chart, clear errors."""

from __future__ import annotations

import json
import shutil
import threading

import numpy as np
import pytest
from PIL import Image

from model_tools.cli import main
from model_tools.compare import CompareError, CompareReport, compare, save_chart, summary
from model_tools.runtime import Cancelled, CorruptModelError, ModelNotFoundError
from tests.tools.test_quantize import quantized_vqa

STAGES_VQA = ["vision", "text_encoder", "first_token", "per_token", "end_to_end"]


def pictures(folder, n=2, bad=0):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    for i in range(n):
        Image.fromarray((rng.random((30 + i, 40, 3)) * 255).astype("uint8")).save(folder / f"p{i}.png")
    for i in range(bad):
        (folder / f"bad{i}.png").write_bytes(b"\x89PNG but not really")
    return folder


@pytest.fixture(scope="module")
def vqa_int8(tiny_models, tmp_path_factory):
    """The tiny VQA model with an int8/ (shared with test_quantize: read only)."""
    return quantized_vqa(tiny_models["vqa"], tmp_path_factory.mktemp("cmp"))[0]


@pytest.fixture(scope="module")
def report_int8(vqa_int8):
    events = []
    result = compare(vqa_int8, "CPU", 2, None, events.append, max_new_tokens=4)
    return result, events


def test_report_holds_every_field(report_int8):
    report, events = report_int8
    data = report.to_dict()
    json.dumps(data)  # plain data all the way down
    assert data["baseline"] == "fp16" and data["candidate"] == "int8" and data["task"] == "vqa"
    parts = ["vision_model", "text_encoder", "text_decoder_cross_kv", "text_decoder", "total"]
    for precision in ("fp16", "int8"):
        assert list(data["sizes_bytes"][precision]) == parts
        assert all(v > 0 for v in data["sizes_bytes"][precision].values())
        assert list(data["latency_ms"]["vqa"][precision]) == STAGES_VQA
        assert all(v >= 0 for v in data["latency_ms"]["vqa"][precision].values())
        assert set(data["hints"][precision]) == set(parts[:-1])
    total = data["sizes_bytes"]["fp16"]["total"] / data["sizes_bytes"]["int8"]["total"]
    assert data["compression"]["total"] == pytest.approx(total, rel=1e-3)  # .xml + .bin: tiny models' grow
    assert data["compression"]["vision_model"] == pytest.approx(
        data["sizes_bytes"]["fp16"]["vision_model"] / data["sizes_bytes"]["int8"]["vision_model"], rel=1e-3
    )
    assert set(data["speedup"]["vqa"]) == set(STAGES_VQA)
    assert 0.0 <= report.agreement <= 1.0
    assert report.compared == 8
    assert round(report.agreement * report.compared) == report.compared - len(report.differing)
    for pair in data["differing"]:
        assert pair["baseline"] != pair["candidate"] and pair["image"] and pair["question"]
    assert [e.stage for e in events][-1] == "done"
    assert list(dict.fromkeys(e.stage for e in events)) == ["load", "latency", "agreement", "done"]
    assert "same answer" in summary(report)


def test_model_compared_with_itself_agrees_fully(tiny_models):
    report = compare(tiny_models["vqa"], runs=1, baseline="fp16", candidate="fp16", max_new_tokens=3)
    assert report.agreement == 1.0 and report.differing == [] and report.compared == 8
    assert set(report.speedup["vqa"].values()) == {1.0}
    assert report.compression["total"] == 1.0


def test_caption_model_and_a_folder_with_a_bad_picture(tiny_models, tmp_path, caplog):
    folder = pictures(tmp_path / "pics", 2, bad=1)
    with caplog.at_level("WARNING", logger="glimpse.calibration"):
        report = compare(tiny_models["caption"], runs=1, images=folder, baseline="fp16", candidate="fp16",
                         max_new_tokens=3)  # fmt: skip
    assert report.task == "caption" and report.modes == ["caption"]
    assert "text_encoder" not in report.latency_ms["caption"]["fp16"]
    assert report.compared == 2 and report.agreement == 1.0
    assert len(report.skipped_images) == 1 and "bad0.png" in report.skipped_images[0]
    assert "bad0.png" in caplog.text


def test_chart_is_a_png(report_int8, tmp_path):
    out = save_chart(report_int8[0], tmp_path / "chart.png")
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000
    with Image.open(out) as img:
        assert img.width > 1000 and img.height > 400


def test_cli_writes_json_and_png(vqa_int8, tmp_path, capsys):
    out, png = tmp_path / "r" / "report.json", tmp_path / "chart.png"
    argv = ["compare", "--model", str(vqa_int8), "--runs", "1", "--max-new-tokens", "3", "--json", str(out),
            "--png", str(png)]  # fmt: skip
    assert main(argv) == 0
    data = json.loads(out.read_text())
    assert set(data) >= set(CompareReport.__dataclass_fields__)
    assert png.stat().st_size > 0
    assert "same answer" in capsys.readouterr().out


def test_cancel_stops_the_comparison(tiny_models):
    cancel = threading.Event()

    def on_progress(p):
        if p.stage == "latency" and p.done == 1:
            cancel.set()

    with pytest.raises(Cancelled):
        compare(tiny_models["vqa"], "CPU", 3, None, on_progress, cancel, candidate="fp16", max_new_tokens=2)


# -- bad input -----------------------------------------------------------------------------------------------


def test_model_without_int8_says_how_to_make_it(tiny_models):
    with pytest.raises(ModelNotFoundError, match="quantize"):
        compare(tiny_models["vqa"], runs=1)


def test_model_without_fp16(vqa_int8, tmp_path):
    folder = shutil.copytree(vqa_int8, tmp_path / "nofp16")
    shutil.rmtree(folder / "fp16")
    with pytest.raises(CorruptModelError, match="missing fp16/"):
        compare(folder, runs=1)


def test_folder_without_pictures(tiny_models, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(CompareError, match="holds no pictures"):
        compare(tiny_models["vqa"], runs=1, images=empty, candidate="fp16")
    with pytest.raises(CompareError, match="None of the 1 pictures"):
        compare(tiny_models["vqa"], runs=1, images=pictures(tmp_path / "bad", 0, bad=1), candidate="fp16")


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"candidate": "int3"}, "Unknown precision"),
        ({"runs": 0}, "at least 1"),
        ({"max_new_tokens": 0}, "at least 1"),
    ],
)
def test_bad_options(tiny_models, kwargs, words):
    with pytest.raises(CompareError, match=words):
        compare(tiny_models["vqa"], **kwargs)


def test_cli_errors_are_one_line(tiny_models, tmp_path, capsys):
    for argv in (
        ["compare", "--model", str(tiny_models["vqa"]), "--candidate", "int3"],
        ["compare", "--model", str(tiny_models["vqa"])],  # no int8 yet
        ["compare", "--model", str(tmp_path / "nothing")],
        ["compare", "--model", str(tiny_models["vqa"]), "--candidate", "fp16", "--device", "TPU"],
    ):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("error:") and "\n" not in err and "Traceback" not in err, err
