"""The PyInstaller bundles build, answer offline and run Model Tools jobs. Slow (minutes each):

    ./run-tests -m bundle         # the runtime bundle: self-test, a compare job, no training stack inside
    ./run-tests -m bundle_full    # the full bundle: also converts a Hugging Face BLIP folder
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from model_tools.runtime import load
from model_tools.runtime.paths import RESOURCES

ROOT = Path(__file__).resolve().parents[1]
DEMO_VQA = RESOURCES / "models" / "demo-shapes-vqa"
RED_CIRCLE = RESOURCES / "samples" / "red-circle.png"


def build(variant: str, tmp_path: Path) -> Path:
    """Build the bundle with the documented spec; returns its executable."""
    dist, work = tmp_path / "dist", tmp_path / "build"
    pyinstaller = Path(sys.executable).parent / "pyinstaller"
    subprocess.run(
        [str(pyinstaller), "--noconfirm", "--log-level", "ERROR", "--distpath", str(dist), "--workpath", str(work),
         str(ROOT / "packaging" / "glimpse.spec")],
        check=True, env={**os.environ, "GLIMPSE_BUNDLE": variant}, cwd=ROOT, timeout=1800,
    )
    return dist / "glimpse" / "glimpse"


def env_for(tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "QT_QPA_PLATFORM": "offscreen",
        "GLIMPSE_CACHE_DIR": str(tmp_path / "cache"),
        "GLIMPSE_MODELS_DIR": str(tmp_path / "models"),
    }


def self_test(exe: Path, tmp_path: Path) -> dict[str, Any]:
    out = subprocess.run([str(exe), "--self-test"], capture_output=True, text=True, timeout=300, env=env_for(tmp_path))
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["ok"] and report["frozen"]
    for precision in ("fp16", "int8"):
        assert report[precision]["answer"] == "red"
        assert "circle" in report[precision]["caption"].split()
    return report


def run_job(exe: Path, kind: str, args: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    """One Model Tools job the way the app runs it in a bundle (`glimpse --model-tools-job`); its last event."""
    proc = subprocess.Popen(
        [str(exe), "--model-tools-job"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        text=True, env=env_for(tmp_path),
    )
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(json.dumps({"kind": kind, "request": args}) + "\n")
    proc.stdin.flush()  # stdin stays open: the job reads its closing as "the app is gone, cancel"
    last: dict[str, Any] = {}
    for line in proc.stdout:
        last = json.loads(line)
        if last.get("event") in ("finished", "failed"):
            break
    proc.stdin.close()
    proc.wait(timeout=60)
    return last


@pytest.mark.bundle
@pytest.mark.timeout(1800)
def test_runtime_bundle(tmp_path):
    exe = build("runtime", tmp_path)
    internal = exe.parent / "_internal"
    for heavy in ("torch", "transformers", "nncf", "huggingface_hub"):
        assert not (internal / heavy).exists(), heavy
    assert (internal / "openvino" / "libs" / "libopenvino_intel_cpu_plugin.so").is_file() or sys.platform != "linux"
    report = self_test(exe, tmp_path)
    assert set(report["chat"]) == {"openvino_genai", "openvino_tokenizers"}  # VLMPipeline's libraries load

    # Model Tools' Compare page works here: it needs only the runtime.
    event = run_job(exe, "compare", {"model": str(DEMO_VQA), "runs": 1, "max_new_tokens": 5}, tmp_path)
    assert event["event"] == "finished", event
    assert event["result"]["compared"] > 0 and event["result"]["agreement"] > 0.5
    # Converting needs the full bundle, and says so.
    event = run_job(exe, "convert", {"source": "Salesforce/blip-vqa-base", "out": str(tmp_path / "out")}, tmp_path)
    assert event["event"] == "failed" and "no model conversion tools" in event["error"]["message"]


@pytest.mark.bundle_full
@pytest.mark.timeout(3600)
def test_full_bundle_converts(tmp_path):
    from model_tools.synthetic.tiny_blip import make_tiny_blip

    exe = build("full", tmp_path)
    self_test(exe, tmp_path)
    hf = make_tiny_blip(tmp_path / "tiny-hf", "vqa")
    event = run_job(exe, "convert", {"source": str(hf), "out": str(tmp_path / "tiny-ir")}, tmp_path)
    assert event["event"] == "finished", event
    frozen = load(tmp_path / "tiny-ir").ask(RED_CIRCLE, "what color is it?", max_new_tokens=5)

    from model_tools.convert.blip import convert
    from model_tools.jobs.requests import ConvertRequest

    convert(ConvertRequest(str(hf), tmp_path / "tiny-ir-source"))
    source = load(tmp_path / "tiny-ir-source").ask(RED_CIRCLE, "what color is it?", max_new_tokens=5)
    assert frozen.token_ids == source.token_ids  # the bundle converts exactly as the source does


def test_run_tests_installs_pyinstaller_for_the_bundle_tests():
    """The README's `./run-tests -m bundle` on a fresh clone: the bundle extra comes with it (collecting only)."""
    done = subprocess.run(
        [str(ROOT / "run-tests"), "-m", "bundle", "--collect-only", "tests/test_bundle.py"],
        cwd=ROOT, capture_output=True, text=True, timeout=900,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "tests/test_bundle.py::test_runtime_bundle" in done.stdout
    assert (ROOT / ".venv" / "bin" / "pyinstaller").is_file()
