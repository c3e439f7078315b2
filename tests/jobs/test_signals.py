"""A Model Tools job process (model_tools.jobs.child) ended with SIGTERM stops like a cancel: it says so to the
app, exits 130 and removes its half-made folder."""

from __future__ import annotations

import signal
import subprocess
import time

from model_tools.jobs import wire as job_wire
from model_tools.jobs.requests import ConvertRequest

TIMEOUT_S = 180


def test_sigterm_cancels_the_job_and_tidies(tiny_hf, tmp_path):
    out = tmp_path / "model"
    proc = subprocess.Popen(
        job_wire.job_command(), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    request = ConvertRequest(str(tiny_hf["vqa"]), out)
    proc.stdin.write(job_wire.encode(job_wire.request_message(request)))
    proc.stdin.flush()
    deadline = time.monotonic() + TIMEOUT_S
    while not list(tmp_path.glob(".model.tmp-*")):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the job never started writing"
        time.sleep(0.01)
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=TIMEOUT_S)
    events = [e for e in map(job_wire.decode, stdout.splitlines()) if e]
    assert proc.returncode == 130, stderr
    assert events[-1]["event"] == "failed" and events[-1]["error"]["cancelled"], events[-1]
    assert list(tmp_path.iterdir()) == []
