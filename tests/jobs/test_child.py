"""`model_tools.jobs.child`, the job process: real processes spoken to through stdin/stdout as the app does
(model_tools.jobs.wire), on the tiny and demo models; and its in-process `run()` without the tools."""

from __future__ import annotations

import subprocess
import time

import pytest

from model_tools.jobs import child
from model_tools.jobs import wire as job_wire
from model_tools.jobs.requests import (
    CompareReport,
    CompareRequest,
    ConvertRequest,
    ImportRequest,
    ModelResult,
    QuantizeRequest,
)
from model_tools.library import store as library
from model_tools.runtime import ModelNotFoundError
from model_tools.runtime.errors import Cancelled, GlimpseError, explain

TIMEOUT_S = 180


class JobProcess:
    """`python -m model_tools.jobs.child` with its pipes; `send` a line, `events()` until its last word."""

    def __init__(self, env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(
            job_wire.job_command(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,  # read by nobody: a full pipe would stall the job
            text=True,
            env=env,
        )

    def send(self, line: dict | str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(job_wire.encode(line))
        self.proc.stdin.flush()

    def events(self, until=lambda event: False) -> list[dict]:
        """Events up to the last one (`finished` or `failed`), or up to the first for which `until` is true."""
        assert self.proc.stdout is not None
        seen = []
        for line in self.proc.stdout:
            event = job_wire.decode(line)
            if event is None:
                continue
            seen.append(event)
            if event["event"] in ("finished", "failed") or until(event):
                break
        return seen

    def wait(self) -> int:
        self.proc.stdin.close()
        code = self.proc.wait(timeout=TIMEOUT_S)
        self.proc.stdout.close()
        return code


def run_job(message: dict | str, env: dict[str, str] | None = None) -> tuple[list[dict], int]:
    job = JobProcess(env)
    job.send(message)
    events = job.events()
    return events, job.wait()


def failure(events: list[dict]) -> BaseException:
    assert events[-1]["event"] == "failed", events[-1]
    return job_wire.error_from_record(events[-1]["error"])


def test_an_import_runs_in_the_process_and_its_result_comes_back(tiny_models, tmp_path, monkeypatch):
    monkeypatch.setenv("GLIMPSE_MODELS_DIR", str(tmp_path / "models"))
    request = ImportRequest(tiny_models["caption"], "imported")
    events, code = run_job(job_wire.request_message(request))
    assert code == 0 and events[-1]["event"] == "finished", events
    stages = [e["stage"] for e in events if e["event"] == "progress"]
    assert stages[0] == "import" and stages[-1] == "done"
    result = job_wire.result_from("import_converted", events[-1]["result"])
    assert result == ModelResult.of(tmp_path / "models" / "imported")
    assert result.name == "imported" and result.task == "caption"


def test_a_compare_of_the_demo_model_reports_back_in_full():
    request = CompareRequest(library.DEMO_VQA, runs=1, max_new_tokens=3)
    events, code = run_job(job_wire.request_message(request))
    assert code == 0, events[-1]
    report = job_wire.result_from("compare", events[-1]["result"])
    assert isinstance(report, CompareReport)
    assert (report.baseline, report.candidate, report.runs) == ("fp16", "int8", 1)
    assert report.compared == len(report.answers) > 0 and 0.0 <= report.agreement <= 1.0
    stages = list(dict.fromkeys(e["stage"] for e in events if e["event"] == "progress"))
    assert stages == ["load", "latency", "agreement", "done"]


@pytest.mark.parametrize(
    ("line", "words"),
    [
        ("hello", "The job request is not one"),
        ({"kind": "paint", "request": {}}, "Unknown Model Tools job 'paint'"),
        ({"kind": "quantize", "request": {"model": "m", "colour": "red"}}, "QuantizeRequest has no option 'colour'"),
    ],
)
def test_a_bad_request_is_answered_with_a_clear_error(line, words):
    events, code = run_job(line)
    assert code == 1 and len(events) == 1
    message, _fix = explain(failure(events))
    assert message.startswith(words), message


def test_bad_options_come_back_in_the_words_the_app_would_use():
    events, code = run_job({"kind": "quantize", "request": {"model": "m", "decoder": "int5"}})
    assert code == 1
    assert explain(failure(events)) == ("Unknown decoder mode 'int5'.", "Use one of: int8, int4.")


def test_a_missing_model_is_the_runtime_s_own_error():
    events, code = run_job(job_wire.request_message(CompareRequest("/no/such/model", runs=1)))
    assert code == 1 and isinstance(failure(events), ModelNotFoundError)


@pytest.mark.parametrize("how", ["cancel line", "stdin closed"])
def test_cancel_stops_the_job_at_its_next_check(how):
    job = JobProcess()
    job.send(job_wire.request_message(CompareRequest(library.DEMO_VQA, runs=100_000, max_new_tokens=3)))
    started = job.events(until=lambda e: e.get("stage") == "latency" and e.get("done", 0) > 0)
    assert started[-1]["event"] == "progress", started[-1]
    t = time.monotonic()
    if how == "cancel line":
        job.send(job_wire.CANCEL)
    else:
        job.proc.stdin.close()  # the app went away
    events = job.events()
    assert isinstance(failure(events), Cancelled) and events[-1]["error"]["cancelled"]
    assert time.monotonic() - t < 30, "stopped at a check, not after its runs"
    if how == "stdin closed":
        assert job.proc.wait(timeout=TIMEOUT_S) == 130
    else:
        assert job.wait() == 130


def test_a_build_without_the_tools_says_so(monkeypatch):
    """The runtime bundle has no torch: a convert job there fails with a sentence, not "No module named"."""

    def convert_without_torch(request, *, on_progress, cancel):
        import torch_that_is_not_installed  # noqa: F401

    convert = ConvertRequest("Salesforce/blip-vqa-base", "out")
    with monkeypatch.context() as m:
        m.setattr(child, "job_function", lambda kind: convert_without_torch)
        m.setattr(child, "TOOLS_MODULES", {*child.TOOLS_MODULES, "torch_that_is_not_installed"})
        with pytest.raises(GlimpseError) as info:
            child.run(convert)
        assert explain(info.value) == (
            "This Glimpse has no model conversion tools (torch_that_is_not_installed is not installed).",
            "Use the full Glimpse bundle, or install from source with the tools extra: pip install -e '.[tools]'.",
        )
        m.setattr(child, "TOOLS_MODULES", set())
        with pytest.raises(ModuleNotFoundError):  # any other missing module is a bug, reported as one
            child.run(convert)

    # Where the tools are missing, convert and quantize say so before they start; compare needs none.
    monkeypatch.setattr(child.jobs, "missing_tools", lambda: ["torch", "nncf"])
    for request in (convert, QuantizeRequest("x")):
        with pytest.raises(GlimpseError, match=r"no model conversion tools \(torch, nncf missing\)"):
            child.run(request)
    with pytest.raises(ModelNotFoundError):  # compare went on to open its model
        child.run(CompareRequest("x"))
