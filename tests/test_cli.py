"""`model-tools` from a shell: streaming, JSON, and one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from model_tools.runtime import load


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "model_tools.cli", *args], capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def picture(tmp_path_factory, images):
    path = tmp_path_factory.mktemp("pics") / "p.png"
    images[0].save(path)
    return path


def test_ask_streams_the_same_answer_as_the_runtime(tiny_models, picture):
    expected = load(tiny_models["vqa"]).ask(picture, "what color is the circle?", max_new_tokens=8)
    out = run("ask", "--model", str(tiny_models["vqa"]), "--image", str(picture), "--question",
              "what color is the circle?", "--max-new-tokens", "8")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == expected.text


def test_ask_json(tiny_models, picture):
    out = run("ask", "--model", str(tiny_models["caption"]), "--image", str(picture), "--json", "--beams", "2")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert set(data) >= {"text", "token_ids", "metrics", "precision", "device"}
    assert data["metrics"]["total_s"] > 0 and data["task"] == "caption"


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--image", "/nonexistent.png", "--question", "q"], "not found"),
        (["--image", "{picture}", "--question", "q", "--device", "TPU"], "not available"),
        (["--image", "{picture}", "--question", "q", "--precision", "int8"], "no INT8"),
        (["--image", "{picture}", "--question", ""], "cannot write captions"),
    ],
)
def test_bad_input_is_one_line_on_stderr(tiny_models, picture, args, needle):
    args = [a.replace("{picture}", str(picture)) for a in args]
    out = run("ask", "--model", str(tiny_models["vqa"]), *args)
    assert out.returncode != 0
    assert needle in out.stderr
    assert "Traceback" not in out.stderr and len(out.stderr.strip().splitlines()) == 1


def test_missing_model_folder(picture, tmp_path):
    out = run("ask", "--model", str(tmp_path / "none"), "--image", str(picture), "--question", "q")
    assert out.returncode == 2 and "No model folder" in out.stderr and "Traceback" not in out.stderr


def test_devices_lists_cpu_and_auto():
    out = run("devices")
    assert out.returncode == 0
    ids = [line.split("\t")[0] for line in out.stdout.splitlines()]
    assert "CPU" in ids and ids[-1] == "AUTO"


def test_profile_shows_the_kernels_of_both_precisions(tmp_path):
    from model_tools.runtime.paths import RESOURCES

    out = run("profile", "--model", str(RESOURCES / "models" / "demo-shapes-vqa"), "--runs", "2",
              "--json", str(tmp_path / "p.json"))
    assert out.returncode == 0, out.stderr
    report = json.loads((tmp_path / "p.json").read_text())
    assert report == json.loads(out.stdout)
    fp16, int8 = report["fp16"]["top_ms"], report["int8"]["top_ms"]
    assert any(k.startswith("FullyConnected [") and "f32" in k for k in fp16)  # float kernels in FP16
    assert any("I8" in k.upper() or "U8" in k.upper() for k in int8)  # integer kernels in the INT8 model
    assert report["fp16"]["total_ms"] > 0 and report["int8"]["total_ms"] > 0
