"""Comparison reports: every field present, agreement right, a readable chart, clear errors."""

from __future__ import annotations

import base64
import io
import json
import shutil
import threading

import numpy as np
import pytest
from PIL import Image

from model_tools.cli import main
from model_tools.jobs.requests import CompareRequest
from model_tools.library import store as library
from model_tools.measure.compare import CompareError, CompareReport, compare, save_chart, summary
from model_tools.quantize import calibration
from model_tools.runtime import Cancelled, CorruptModelError, ModelNotFoundError
from tests.quantize.test_blip import quantized_vqa

STAGES_VQA = ["vision", "text_encoder", "first_token", "per_token", "end_to_end"]
STAGES_PARTS = ["vision_model", "text_encoder", "text_decoder_cross_kv", "text_decoder"]


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
    result = compare(CompareRequest(vqa_int8, "CPU", 2, None, max_new_tokens=4), on_progress=events.append)
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


@pytest.fixture(scope="module")
def demo_report():
    """The bundled demo model's FP16 against its INT8 on the built-in samples, as the Compare page runs it."""
    return compare(CompareRequest(library.DEMO_VQA, "CPU", 1, max_new_tokens=5))


def test_builtin_check_of_the_demo_asks_questions_it_knows(demo_report):
    """The sample pictures are asked their own questions (samples.json), the generated ones shape questions;
    no photo questions ("how many people are there?") the demo can only answer with nonsense."""
    index = json.loads((calibration.SAMPLES_DIR / "samples.json").read_text(encoding="utf-8"))
    own = {f"samples/{e['file']}": e["question"] for e in index}
    asked = {a.image: a.question for a in demo_report.answers}
    assert demo_report.compared == 8 and len(asked) == 8
    assert {k: v for k, v in asked.items() if k.startswith("samples/")} == own
    assert not set(asked.values()) & set(calibration.GENERIC_QUESTIONS)
    shape_words = ("circle", "square", "triangle", "shape", "object")
    assert all(any(w in q for w in shape_words) for q in asked.values()), asked
    # And the demo answers them as it was trained to, in both precisions.
    red = next(a for a in demo_report.answers if a.image == "samples/red-circle.png")
    assert (red.baseline, red.candidate) == ("red", "red")
    # Each picture comes with a thumbnail the page can show.
    assert set(demo_report.thumbnails) == set(asked)
    for data in demo_report.thumbnails.values():
        with Image.open(io.BytesIO(base64.b64decode(data))) as thumb:
            assert thumb.format == "JPEG" and max(thumb.size) <= 160


def test_compare_runs_exactly_the_files_it_names(demo_report):
    """Each side runs its own precision's files at full precision (f32 on CPU), whatever this CPU's default
    set-up would pick (bf16 for FP16 on AVX-512 BF16 CPUs, FP16 files for INT8's vision on AVX2-only ones)."""
    data = demo_report.to_dict()
    for precision in ("fp16", "int8"):
        files = data["files"][precision]
        assert set(files) == set(STAGES_PARTS)
        assert all(f == f"{precision}/{part}.xml" for part, f in files.items()), files
        assert set(data["hints"][precision].values()) == {"f32"}
        assert data["setup"][precision].startswith(precision.upper()) and "exact" in data["setup"][precision]
    text = summary(demo_report)
    assert "fp16/ files" in text and "int8/ files" in text


def test_eval_runs_the_precision_s_own_files(tmp_path):
    out = tmp_path / "eval.json"
    assert main(["eval", "--n", "3", "--precision", "int8", "--json", str(out)]) == 0
    assert json.loads(out.read_text())["precision"] == "int8"


def test_model_compared_with_itself_agrees_fully(tiny_models):
    report = compare(CompareRequest(tiny_models["vqa"], runs=1, baseline="fp16", candidate="fp16", max_new_tokens=3))
    assert report.agreement == 1.0 and report.differing == [] and report.compared == 8
    assert set(report.speedup["vqa"].values()) == {1.0}
    assert report.compression["total"] == 1.0


def test_caption_model_and_a_folder_with_a_bad_picture(tiny_models, tmp_path, caplog):
    folder = pictures(tmp_path / "pics", 2, bad=1)
    with caplog.at_level("WARNING", logger="glimpse.calibration"):
        request = CompareRequest(
            tiny_models["caption"], runs=1, images=folder, baseline="fp16", candidate="fp16", max_new_tokens=3
        )
        report = compare(request)
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
        request = CompareRequest(tiny_models["vqa"], "CPU", 3, None, candidate="fp16", max_new_tokens=2)
        compare(request, on_progress=on_progress, cancel=cancel)


# -- bad input -----------------------------------------------------------------------------------------------


def test_model_without_int8_says_how_to_make_it(tiny_models):
    with pytest.raises(ModelNotFoundError, match="quantize"):
        compare(CompareRequest(tiny_models["vqa"], runs=1))


def test_model_without_fp16(vqa_int8, tmp_path):
    folder = shutil.copytree(vqa_int8, tmp_path / "nofp16")
    shutil.rmtree(folder / "fp16")
    with pytest.raises(CorruptModelError, match="missing fp16/"):
        compare(CompareRequest(folder, runs=1))


def test_folder_without_pictures(tiny_models, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(CompareError, match="holds no pictures"):
        compare(CompareRequest(tiny_models["vqa"], runs=1, images=empty, candidate="fp16"))
    with pytest.raises(CompareError, match="None of the 1 pictures"):
        bad = pictures(tmp_path / "bad", 0, bad=1)
        compare(CompareRequest(tiny_models["vqa"], runs=1, images=bad, candidate="fp16"))


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
        compare(CompareRequest(tiny_models["vqa"], **kwargs))


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
