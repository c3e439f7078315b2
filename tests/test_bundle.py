"""The PyInstaller bundle builds and its self-test passes. Slow (minutes): run with `./run-tests -m bundle`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.bundle


def test_runtime_bundle_self_test(tmp_path):
    dist, work = tmp_path / "dist", tmp_path / "build"
    env = {**os.environ, "GLIMPSE_BUNDLE": "runtime"}
    pyinstaller = Path(sys.executable).parent / "pyinstaller"
    subprocess.run(
        [str(pyinstaller), "--noconfirm", "--log-level", "ERROR", "--distpath", str(dist), "--workpath", str(work),
         str(ROOT / "packaging" / "glimpse.spec")],
        check=True, env=env, cwd=ROOT, timeout=1200,
    )
    exe = dist / "glimpse" / "glimpse"
    internal = dist / "glimpse" / "_internal"
    assert not (internal / "torch").exists() and not (internal / "transformers").exists()
    assert (internal / "openvino" / "libs" / "libopenvino_intel_cpu_plugin.so").is_file() or sys.platform != "linux"
    out = subprocess.run(
        [str(exe), "--self-test"], capture_output=True, text=True, timeout=300,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen", "GLIMPSE_CACHE_DIR": str(tmp_path / "cache")},
    )
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["ok"] and report["frozen"]
    for precision in ("fp16", "int8"):
        assert report[precision]["answer"] == "red"
        assert "circle" in report[precision]["caption"].split()
