"""Compare for a segment model: FP16 against INT8 of the tiny SAM, sizes per part, the encoder per picture and
the decoder per click (medians), and the agreement as the mean IoU of both precisions' own best masks for fixed
clicks on the sample pictures; the JSON, the CSV and the chart data say so."""

from __future__ import annotations

import csv
import json
import shutil

import numpy as np
import pytest

from model_tools.cli import main
from model_tools.jobs.requests import AnswerPair, CompareError, CompareReport, CompareRequest, QuantizeRequest
from model_tools.library import compare_report as compare_files
from model_tools.measure.compare import compare, summary
from model_tools.quantize import calibration, quantize
from model_tools.quantize.segment import CLICKS, iou
from model_tools.runtime.model_folder import SEGMENT_PARTS
from model_tools.runtime.segment.pipeline import load

STAGES = ["encoder", "decoder", "click_to_mask", "end_to_end"]
PICTURES = 8  # the four bundled samples, then generated shape pictures


@pytest.fixture(scope="module")
def sam_int8(tiny_sam_model, tmp_path_factory):
    """A copy of the tiny SAM with an int8/ beside fp16/."""
    model = shutil.copytree(tiny_sam_model, tmp_path_factory.mktemp("compare-sam") / "tiny-sam")
    quantize(QuantizeRequest(model, subset_size=4))
    return model


@pytest.fixture(scope="module")
def measured(sam_int8):
    events: list = []
    return compare(CompareRequest(sam_int8, runs=2), on_progress=events.append), events


@pytest.fixture
def report(measured):
    return json.loads(json.dumps(measured[0].to_dict()))  # plain data all the way down


def test_sizes_and_latencies_per_precision(measured, report):
    result, events = measured
    assert report["task"] == "segment" and (report["baseline"], report["candidate"]) == ("fp16", "int8")
    for precision in ("fp16", "int8"):
        assert list(report["sizes_bytes"][precision]) == [*SEGMENT_PARTS, "total"]
        assert all(v > 0 for v in report["sizes_bytes"][precision].values())
        latency = report["latency_ms"]["segment"][precision]
        assert list(latency) == STAGES and all(v > 0 for v in latency.values()), latency
        assert latency["click_to_mask"] >= latency["decoder"]  # the decoder, then the masks' upsampling
        assert latency["end_to_end"] >= latency["encoder"]  # a new picture: encoded, then its first click
        assert "exact" in report["setup"][precision]
        assert set(report["files"][precision].values()) == {f"{precision}/openvino_{p}.xml" for p in SEGMENT_PARTS}
    sizes = report["sizes_bytes"]
    assert report["compression"]["image_encoder"] == pytest.approx(
        sizes["fp16"]["image_encoder"] / sizes["int8"]["image_encoder"], rel=1e-3)
    assert report["compression"]["prompt_decoder"] == 1.0  # int8/ holds the FP16 decoder
    for stage in STAGES:
        table = report["latency_ms"]["segment"]
        assert report["speedup"]["segment"][stage] == pytest.approx(
            table["fp16"][stage] / table["int8"][stage], abs=2e-3)
    assert report["tokens"] == {} and report["tokens_per_s"] == {}
    assert list(dict.fromkeys(e.stage for e in events)) == ["load", "latency", "agreement", "done"]


def test_agreement_is_the_mean_iou_of_each_precisions_own_best_masks(report, sam_int8):
    answers = report["answers"]
    assert report["compared"] == len(answers) == PICTURES * len(CLICKS)
    ious = [a["iou"] for a in answers]
    assert all(0.0 <= v <= 1.0 for v in ious)
    assert report["agreement"] == pytest.approx(np.mean(ious), abs=1e-4)
    below = [a for a in answers if a["iou"] < compare_files.SAME_MASK_IOU]
    assert report["differing"] == below
    assert set(report["thumbnails"]) == {a["image"] for a in answers}
    # The first picture's clicks, again, by each precision's own files at full precision.
    sample = next(calibration.builtin_samples(0, None))
    pipes = {p: load(sam_int8, p, exact=True) for p in ("fp16", "int8")}
    embeddings = {p: pipes[p].encode(sample.image) for p in pipes}
    for (fx, fy), pair in zip(CLICKS, answers, strict=False):
        assert pair["image"] == sample.origin and pair["question"] == f"click at {fx:.0%}, {fy:.0%}"
        click = [(fx * sample.image.width, fy * sample.image.height)]
        a, b = (pipes[p].segment(embeddings[p], click) for p in ("fp16", "int8"))
        assert pair["iou"] == pytest.approx(iou(a.best_mask, b.best_mask), abs=1e-4)
        assert pair["baseline"].startswith(f"{a.best_mask.mean():.1%} of the picture")
        assert pair["candidate"].endswith(f"IoU {pair['iou']:.2f}")


def test_the_files_and_charts_speak_of_masks_and_clicks(measured, report):
    charts = compare_files.chart_data(report)
    assert charts["sizes"]["categories"] == ["image enc.", "prompt dec."]
    assert charts["latency"]["categories"] == ["encoder", "decoder", "click to mask", "picture to mask"]
    headline = compare_files.headline(report)
    assert "from picture to mask" in headline and f"mean mask IoU {report['agreement']:.2f}" in headline
    same = report["compared"] - len(report["differing"])
    assert f"{same} of {report['compared']} clicks" in headline
    rows = compare_files.csv_rows(report)
    assert ["agreement", "mean mask IoU", "", "", "", round(report["agreement"], 4),
            f"{same}/{report['compared']}"] in rows
    answer_rows = [r for r in rows if r[0] == "answer"]
    assert [r[5] for r in answer_rows] == [a["iou"] for a in report["answers"]]
    assert [r[6] for r in answer_rows] == ["yes" if a["iou"] >= 0.9 else "no" for a in report["answers"]]
    assert CompareReport.from_dict(report) == measured[0]  # what the job wire carries back
    assert "Masks overlap FP16's by" in summary(measured[0])


def test_text_answers_keep_their_plain_data_without_an_iou():
    pair = AnswerPair("a.png", "what?", "red", "red")
    result = CompareReport(
        "m", "p", "vqa", "CPU", "fp16", "int8", 1, 4, {}, {}, {}, {}, {}, {}, 1.0, 1, answers=[pair]
    )
    assert result.to_dict()["answers"] == [{"image": "a.png", "question": "what?", "baseline": "red",
                                            "candidate": "red"}]
    assert CompareReport.from_dict(result.to_dict()) == result


def test_the_cli_compares_a_segment_model(sam_int8, tmp_path, capsys):
    out, table = tmp_path / "report.json", tmp_path / "report.csv"
    assert main(["compare", "--model", str(sam_int8), "--runs", "1", "--json", str(out), "--csv", str(table)]) == 0
    data = json.loads(out.read_text())
    assert data["task"] == "segment" and data["compared"] == PICTURES * len(CLICKS)
    with open(table, newline="") as fh:
        assert len([r for r in csv.reader(fh) if r[0] == "answer"]) == data["compared"]
    assert "picture to mask" in capsys.readouterr().out


def test_a_segment_model_takes_no_questions(sam_int8, tmp_path):
    questions = tmp_path / "q.txt"
    questions.write_text("what is it?\n")
    with pytest.raises(CompareError, match="takes no questions"):
        compare(CompareRequest(sam_int8, runs=1, questions=questions))
