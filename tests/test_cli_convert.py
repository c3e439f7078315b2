"""`model-tools convert` from a shell: refusals in one line, Ctrl+C and SIGTERM end it cleanly (rc 130 / 143,
no half-made folder), and what a SIGKILLed run leaves is removed by the next one."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from model_tools import cli
from model_tools.runtime import ConvertedModel

CONVERT_TIMEOUT_S = 180


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "model_tools.cli", "convert", *args],
        capture_output=True,
        text=True,
        timeout=CONVERT_TIMEOUT_S,
    )


def one_line_error(out: subprocess.CompletedProcess[str] | tuple[int, str], needle: str) -> str:
    code, stderr = (out.returncode, out.stderr) if isinstance(out, subprocess.CompletedProcess) else out
    assert code == 2, stderr
    assert "Traceback" not in stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0], stderr
    return lines[0]


def start_and_wait_for_the_temporary(source, out) -> subprocess.Popen[str]:
    """A conversion in its own process, returned once it is writing its temporary folder."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "model_tools.cli", "convert", "--model", str(source), "--out", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + CONVERT_TIMEOUT_S
    while not list(out.parent.glob(f".{out.name}.tmp-*")):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the conversion never started writing"
        time.sleep(0.01)
    return proc


def test_overwrite_refuses_the_users_folder(tiny_hf, tmp_path):
    thesis = tmp_path / "thesis"
    thesis.mkdir()
    (thesis / "thesis.txt").write_text("four years of work", encoding="utf-8")
    out = run("--model", str(tiny_hf["caption"]), "--out", str(thesis), "--overwrite")
    one_line_error(out, "is not a Glimpse model folder")
    assert [p.name for p in thesis.iterdir()] == ["thesis.txt"]


@pytest.mark.parametrize("model", ["/nonexistent", "./models/blip"])
def test_a_missing_local_folder(tmp_path, model):
    out = subprocess.run(
        [sys.executable, "-m", "model_tools.cli", "convert", "--model", model, "--out", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        timeout=CONVERT_TIMEOUT_S,
        cwd=tmp_path,
    )
    line = one_line_error(out, "There is no folder")
    assert "Repo id" not in line and "Hugging Face id such as" in line


@pytest.mark.parametrize("sig, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)], ids=["SIGTERM", "SIGINT"])
def test_a_signal_mid_conversion_ends_it_cleanly(tiny_hf, tmp_path, sig, code):
    out = tmp_path / "model"
    proc = start_and_wait_for_the_temporary(tiny_hf["vqa"], out)
    proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=CONVERT_TIMEOUT_S)
    assert proc.returncode == code, stderr
    assert stderr.strip().splitlines()[-1] == "Cancelled."
    assert "Traceback" not in stderr
    assert list(tmp_path.iterdir()) == [], "no half-made folder, no lock"


def test_what_a_killed_run_leaves_goes_with_the_next_run(tiny_hf, tmp_path):
    out = tmp_path / "model"
    proc = start_and_wait_for_the_temporary(tiny_hf["caption"], out)
    proc.kill()
    proc.communicate(timeout=CONVERT_TIMEOUT_S)
    assert list(tmp_path.glob(".model.tmp-*")), "SIGKILL cannot be handled: the temporary folder stays"
    again = run("--model", str(tiny_hf["caption"]), "--out", str(out))
    assert again.returncode == 0, again.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]
    assert ConvertedModel.open(out).task == "caption"


# Run in a process of its own, as a user's `model-tools convert` is: after other tests in the same process the
# 5th call can land where the interrupt cannot unwind through OpenVINO's C++ frames, and the worker aborted.
CTRL_C_IN_THE_CONVERTER = """
import signal, sys, threading
from openvino.frontend.pytorch.ts_decoder import TorchScriptPythonDecoder
from model_tools import cli

real = TorchScriptPythonDecoder.get_op_type
calls = [0]

def get_op_type(self):
    if threading.current_thread() is not threading.main_thread():
        return real(self)  # Python runs signal handlers on the main thread: Ctrl+C lands there, as here
    calls[0] += 1
    if calls[0] == 5:
        signal.raise_signal(signal.SIGINT)  # Ctrl+C, delivered to this process as the terminal would
    return real(self)

TorchScriptPythonDecoder.get_op_type = get_op_type
code = cli.main(["convert", "--model", sys.argv[1], "--out", sys.argv[2]])
print(f"calls={calls[0]} handler_back={signal.getsignal(signal.SIGINT) is signal.default_int_handler}")
sys.exit(code)
"""


def test_ctrl_c_that_openvino_turns_into_a_runtime_error(tiny_hf, tmp_path):
    """A real SIGINT arriving while OpenVINO's converter runs Python code: it comes out as RuntimeError
    ("... KeyboardInterrupt: <EMPTY MESSAGE>"), which must still read as a cancel, not a traceback."""
    out = tmp_path / "out"
    out.mkdir()
    done = subprocess.run(
        [sys.executable, "-c", CTRL_C_IN_THE_CONVERTER, str(tiny_hf["caption"]), str(out / "model")],
        capture_output=True, text=True, timeout=CONVERT_TIMEOUT_S,
    )
    assert done.stdout, f"the CLI process died (rc {done.returncode}): {done.stderr[-2000:]}"
    calls, handler_back = (field.split("=")[1] for field in done.stdout.split())
    assert int(calls) >= 5, "the signal came inside OpenVINO's converter"
    assert done.returncode == 130, done.stderr
    assert done.stderr.strip().splitlines()[-1] == "Cancelled."
    assert list(out.iterdir()) == []
    assert handler_back == "True", "the handler is put back"


def test_a_full_disk_is_one_line(tiny_hf, tmp_path, monkeypatch, capsys):
    import openvino

    def save_model(model, path, *args, **kwargs):
        with open(path, "wb") as fh:
            fh.write(b"<?xml")
        raise RuntimeError("Exception from src/core/src/pass/serialize.cpp:1384:\nbasic_ios::clear: iostream error\n")

    monkeypatch.setattr(openvino, "save_model", save_model)
    code = cli.main(["convert", "--model", str(tiny_hf["caption"]), "--out", str(tmp_path / "model")])
    err = capsys.readouterr().err.strip().splitlines()
    line = one_line_error((code, err[-1]), "the disk is full (need about ")
    assert f" MB at {tmp_path})." in line
    assert not [line for line in err if "Traceback" in line or "iostream" in line]
    assert list(tmp_path.iterdir()) == []


def test_an_unexpected_runtime_error_without_a_signal_is_not_hidden(tiny_hf, tmp_path, monkeypatch):
    import openvino

    def save_model(*args, **kwargs):
        raise RuntimeError("Exception from src/core: something new")

    monkeypatch.setattr(openvino, "save_model", save_model)
    with pytest.raises(RuntimeError, match="something new"):
        cli.main(["convert", "--model", str(tiny_hf["caption"]), "--out", str(tmp_path / "model")])
    assert os.listdir(tmp_path) == []
