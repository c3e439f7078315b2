"""Compare for a chat model: FP16 against INT4 of the tiny LLaVA, sizes per part, first-image time, TTFT, TPOT
and tokens per second per precision, and each precision's own answers on the sample pictures."""

from __future__ import annotations

import json
import shutil

import pytest

from model_tools.cli import main
from model_tools.jobs.requests import CompareRequest, QuantizeRequest
from model_tools.library.compare_report import chart_data
from model_tools.measure.compare import compare, summary
from model_tools.quantize import calibration, quantize
from model_tools.runtime import load
from model_tools.runtime.model_folder import CHAT_PARTS

TOKENS = 6


@pytest.fixture(scope="module")
def chat_int4(tiny_chat_model, tmp_path_factory):
    """A copy of the tiny chat model with an int4/ beside fp16/."""
    model = shutil.copytree(tiny_chat_model, tmp_path_factory.mktemp("compare-chat") / "tiny-llava")
    quantize(QuantizeRequest(model, weights="int4", group_size=16, ratio=1.0))
    return model


@pytest.fixture(scope="module")
def result(chat_int4):
    return compare(CompareRequest(chat_int4, runs=2, candidate="int4", max_new_tokens=TOKENS))


@pytest.fixture
def report(result):
    return result.to_dict()


def test_sizes_and_latencies_per_precision(result, report):
    assert report["task"] == "chat" and (report["baseline"], report["candidate"]) == ("fp16", "int4")
    sizes = report["sizes_bytes"]
    assert list(sizes["fp16"]) == [*CHAT_PARTS, "total"]
    assert sizes["int4"]["language_model"] < sizes["fp16"]["language_model"]
    assert report["weights"]["int4"]["language_model"] == "int4"
    latency = report["latency_ms"]["chat"]
    for precision in ("fp16", "int4"):
        assert list(latency[precision]) == ["vision", "first_token", "per_token", "end_to_end"]
        assert all(v >= 0 for v in latency[precision].values()) and latency[precision]["end_to_end"] > 0
        assert latency[precision]["first_token"] >= latency[precision]["vision"]
        assert 0 < report["tokens"]["chat"][precision] <= TOKENS
        assert report["tokens_per_s"]["chat"][precision] > 0
    charts = chart_data(report)
    assert charts["sizes"]["categories"][-1] == "language (INT4)"
    assert charts["latency"]["categories"] == ["first image", "first token", "per token", "end to end"]
    text = summary(result)
    assert "tokens/s" in text and "first image" in text


def test_each_answer_is_the_precisions_own_in_a_new_conversation(report, chat_int4):
    answers = report["answers"]
    assert len(answers) == report["compared"] == 8
    samples = calibration.builtin_samples(0, None)
    pipes = {p: load(chat_int4, p, "CPU", exact=True) for p in ("fp16", "int4")}
    for pair in answers[:2]:
        sample = next(samples)
        assert pair["question"] == sample.question and pair["image"] == sample.origin
        for precision, side in (("fp16", "baseline"), ("int4", "candidate")):
            pipes[precision].reset()
            expected = pipes[precision].ask(sample.image, sample.question, max_new_tokens=TOKENS).text
            assert pair[side] == expected, (precision, pair)
    same = sum(a["baseline"] == a["candidate"] for a in answers)
    assert report["agreement"] == pytest.approx(same / len(answers))


def test_the_cli_compares_a_chat_model(chat_int4, tmp_path, capsys):
    out = tmp_path / "report.json"
    args = ["compare", "--model", str(chat_int4), "--candidate", "int4", "--runs", "1", "--max-new-tokens", "3",
            "--json", str(out)]
    assert main(args) == 0
    data = json.loads(out.read_text())
    assert data["task"] == "chat" and data["candidate"] == "int4" and data["compared"] == 8
    assert "INT4" in capsys.readouterr().out
