"""Nothing leaves the machine: no entry point lets OpenVINO's or NNCF's telemetry run.

`import openvino` alone would write a client id to ~/intel/openvino_ga_cid, a usage count to ~/intel/stats, and
post an event to Google Analytics. Each entry point runs here in a fresh process whose HOME is an empty folder,
with an audit hook that records any attempt to reach the network (also from the processes the telemetry forks
to send from).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from model_tools.library import store as library

ROOT = Path(__file__).resolve().parents[1]
PICTURE = ROOT / "resources" / "samples" / "red-circle.png"

# Records every network attempt to $GLIMPSE_NET_LOG, then runs `-m MODULE ARGS...` or `-c CODE`.
LAUNCHER = """
import os, runpy, sys
def _hook(event, args, log=os.environ["GLIMPSE_NET_LOG"]):
    if event in ("urllib.Request", "socket.connect", "socket.getaddrinfo"):
        with open(log, "a") as f:
            f.write(f"{event} {args[0]!r}\\n")
sys.addaudithook(_hook)
mode, target, *sys.argv[1:] = sys.argv[1:]
if mode == "-m":
    sys.argv[0] = target
    runpy.run_module(target, run_name="__main__", alter_sys=True)
else:
    exec(compile(target, "<test>", "exec"))
"""


def _env(tmp_path: Path) -> dict[str, str]:
    home = tmp_path / "home"
    home.mkdir(parents=True)
    return {**os.environ, "HOME": str(home), "GLIMPSE_NET_LOG": str(tmp_path / "net.log")}


def _telemetry_traces(tmp_path: Path) -> dict[str, object]:
    home = tmp_path / "home"
    net = tmp_path / "net.log"
    return {
        "files in HOME": sorted(p.relative_to(home).as_posix() for p in home.rglob("*")),
        "network": net.read_text().splitlines() if net.exists() else [],
    }


def _run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-c", LAUNCHER, *args], cwd=ROOT, env=_env(tmp_path),
        capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done


NOTHING = {"files in HOME": [], "network": []}


def test_app_self_test_sends_nothing(tmp_path):
    _run(tmp_path, "-m", "desktop_app", "--self-test")
    assert _telemetry_traces(tmp_path) == NOTHING


def test_cli_ask_sends_nothing(tmp_path):
    done = _run(tmp_path, "-m", "model_tools.cli", "ask", "--image", str(PICTURE), "--question", "what color is the circle?")
    assert done.stdout.strip()
    assert _telemetry_traces(tmp_path) == NOTHING


def test_runtime_api_sends_nothing(tmp_path):
    code = (
        "from model_tools.runtime import load\n"
        f"print(load({str(library.default_model('vqa'))!r}, 'fp16', 'CPU').ask({str(PICTURE)!r}, 'what color?').text)\n"
    )
    done = _run(tmp_path, "-c", code)
    assert done.stdout.strip()
    assert _telemetry_traces(tmp_path) == NOTHING


def _run_job(tmp_path: Path, kind: str, args: dict[str, object]) -> dict[str, object]:
    """One Model Tools job in its own process, as the app runs it; returns its last event."""
    proc = subprocess.Popen(
        [sys.executable, "-c", LAUNCHER, "-m", "model_tools.jobs.child"], cwd=ROOT, env=_env(tmp_path),
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(json.dumps({"kind": kind, "request": args}) + "\n")
    proc.stdin.flush()
    events = [json.loads(line) for line in proc.stdout if line.startswith("{")]
    proc.stdin.close()
    proc.wait(timeout=60)
    return events[-1]


def test_convert_and_quantize_jobs_send_nothing(tiny_hf, tmp_path):
    """Convert (OpenVINO's converter reports each conversion) then quantize (NNCF reports each call)."""
    out = tmp_path / "converted"
    last = _run_job(tmp_path / "convert", "convert", {"source": str(tiny_hf["vqa"]), "out": str(out)})
    assert last["event"] == "finished", last
    assert _telemetry_traces(tmp_path / "convert") == NOTHING
    last = _run_job(tmp_path / "quantize", "quantize", {"model": str(out), "subset_size": 4})
    assert last["event"] == "finished", last
    assert _telemetry_traces(tmp_path / "quantize") == NOTHING
