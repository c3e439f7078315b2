"""`model_tools.jobs.wire` and `model_tools.jobs.requests`: the lines the app and a job process exchange, and
the typed requests and results they carry (no Qt, no job process)."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import pytest

from model_tools.jobs import requests
from model_tools.jobs import wire as job_wire
from model_tools.jobs.progress import Progress
from model_tools.jobs.requests import (
    JOBS,
    BadRequestError,
    CompareError,
    CompareReport,
    CompareRequest,
    ConvertRequest,
    DownloadRequest,
    ImportRequest,
    InstallRequest,
    ModelResult,
    QuantizationError,
    QuantizeRequest,
    QuantizeResult,
)

REQUESTS = [
    DownloadRequest("Salesforce/blip-vqa-base", revision="main"),
    ConvertRequest("Salesforce/blip-vqa-base", "/models/blip", overwrite=True),
    ImportRequest(Path("/elsewhere/model"), "mine"),
    InstallRequest("OpenVINO/InternVL2-1B-int4-ov", "InternVL2-1B", "int4"),
    QuantizeRequest("/models/blip", decoder="int4", group_size=32, questions="/q.txt"),
    CompareRequest("/models/blip", "AUTO", 3, images="/pictures", max_new_tokens=7),
]


def over_the_wire(message: dict) -> dict:
    """`message` as the other process reads it."""
    return job_wire.decode(job_wire.encode(message))


def test_protocol_lines_and_progress():
    p = Progress("download", 5, 10, "bytes", "Downloading")
    line = job_wire.encode(job_wire.progress_event(p))
    assert line.endswith("\n") and job_wire.progress_from(job_wire.decode(line)) == p
    assert job_wire.decode("Some library printed this\n") is None
    assert job_wire.encode(job_wire.CANCEL) == "cancel\n"


@pytest.mark.parametrize("request_", REQUESTS, ids=lambda r: type(r).__name__)
def test_every_request_comes_back_as_itself(request_):
    message = over_the_wire(job_wire.request_message(request_))
    assert message["kind"] in JOBS and JOBS[message["kind"]].request is type(request_)
    assert job_wire.request_from(message) == request_


def test_every_job_is_one_row_of_the_table():
    assert list(JOBS) == ["download", "convert", "import_converted", "install_ready", "quantize", "compare"]
    for kind, job in JOBS.items():
        module, name = job.function.split(":")
        assert module.startswith("model_tools.") and name.isidentifier()
        assert requests.kind_of(next(r for r in REQUESTS if type(r) is job.request)) == kind
    assert [k for k, j in JOBS.items() if j.needs_tools] == ["convert", "quantize"]


def test_paths_are_paths_whatever_the_caller_gave():
    request = QuantizeRequest("m", questions="q.txt", calibration=Path("pictures"))
    assert request.model == Path("m") and request.questions == Path("q.txt")
    assert request.calibration == "pictures"  # a source name or a folder: text
    assert ConvertRequest(Path("hf/vqa"), "out").source == "hf/vqa"


def test_results_come_back_as_themselves():
    model = ModelResult(Path("/models/m"), "m", "vqa", ["fp16", "int8"], 1234)
    quantized = QuantizeResult(
        **model.to_dict(),
        int8=Path("/models/m/int8"),
        sizes_bytes={"fp16": {"total": 2}, "int8": {"total": 1}},
        calibration={"samples": 4, "source": "builtin"},
    )
    for kind, result in (("convert", model), ("import_converted", model), ("quantize", quantized)):
        event = over_the_wire(job_wire.finished_event(result))
        assert job_wire.result_from(kind, event["result"]) == result


def test_a_compare_report_comes_back_with_its_answer_pairs():
    values = {f.name: 0 for f in fields(CompareReport)}
    values.update(model="m", path="/m", task="vqa", device="CPU", baseline="fp16", candidate="int8")
    values.update({k: {} for k in ("sizes_bytes", "compression", "latency_ms", "speedup", "tokens", "hints")})
    values.update(images="builtin", created="", tools={}, weights={}, setup={}, files={}, thumbnails={})
    values.update(skipped_images=[], differing=[], answers=[])
    report = CompareReport(**values)
    report.answers = [requests.AnswerPair("a.png", "what?", "red", "Red")]
    report.differing = list(report.answers)
    back = job_wire.result_from("compare", over_the_wire(job_wire.finished_event(report))["result"])
    assert back == report and isinstance(back.answers[0], requests.AnswerPair)


@pytest.mark.parametrize(
    ("message", "words"),
    [
        (None, "needs a kind and its options"),
        ({"kind": "convert", "args": {"source": "x"}}, "needs a kind and its options"),  # the old shape
        ({"kind": "paint", "request": {}}, "Unknown Model Tools job 'paint'"),
        ({"kind": "quantize", "request": {"model": "m", "colour": "red"}}, "has no option 'colour'"),
        ({"kind": "compare", "request": {"runs": 2}}, "CompareRequest needs 'model'"),
    ],
)
def test_a_request_that_does_not_fit_says_what_is_wrong(message, words):
    with pytest.raises(BadRequestError, match=words):
        job_wire.request_from(message)


@pytest.mark.parametrize(
    ("cls", "options", "error", "words"),
    [
        (QuantizeRequest, {"decoder": "int5"}, QuantizationError, "decoder mode"),
        (QuantizeRequest, {"preset": "fast"}, QuantizationError, "preset"),
        (QuantizeRequest, {"ratio": 0.0}, QuantizationError, "ratio"),
        (CompareRequest, {"runs": 0}, CompareError, "at least 1"),
        (CompareRequest, {"candidate": "int3"}, CompareError, "Unknown precision"),
    ],
)
def test_bad_options_are_refused_when_the_request_is_made(cls, options, error, words):
    """The same check and words, whoever makes the request: a page, the CLI, the job process reading it."""
    with pytest.raises(error, match=words):
        cls("m", **options)
    with pytest.raises(error, match=words):
        cls.from_dict({"model": "m", **options})
