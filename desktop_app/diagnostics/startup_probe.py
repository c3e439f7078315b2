"""Start-up budget: process start -> window shown, and -> first demo answer, measured from outside.

    python -m desktop_app.diagnostics.startup_probe [--exe dist/runtime/glimpse/glimpse] [--runs 5]

runs Glimpse (from source, or the bundle) with GLIMPSE_STARTUP_PROBE set. The app then writes the wall
time of "window shown" and "first answer" to that file, asks the sample question about the red circle,
and quits. The clock starts just before the process is spawned, so interpreter start-up counts.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ENV = "GLIMPSE_STARTUP_PROBE"
QUESTION = "what color is the circle?"


def attach(window: Any, app: Any, out: Path) -> None:
    """Record start-up events of `window` into `out` (JSON lines), ask the sample question, then quit."""
    from PySide6.QtCore import QTimer

    from desktop_app.resources import SAMPLES

    def record(event: str, **extra: Any) -> None:
        with open(out, "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"event": event, "t": time.time(), **extra}) + "\n")

    def on_images_read(*_: Any) -> None:
        window.controller.images_read.disconnect(on_images_read)
        window.ask(QUESTION)

    def on_answer(_turn: Any, answer: Any) -> None:
        record("first_answer", text=answer.text, ttft_s=answer.metrics.ttft_s, load_s=answer.metrics.load_s)
        QTimer.singleShot(0, window.close)

    def on_failed(_turn: Any, exc: BaseException) -> None:
        record("failed", error=str(exc))
        QTimer.singleShot(0, window.close)

    window.controller.images_read.connect(on_images_read)
    window.controller.answer_finished.connect(on_answer)
    window.controller.answer_failed.connect(on_failed)
    # The first turn of the event loop after show(): the window has been laid out and exposed.
    QTimer.singleShot(0, lambda: record("window_shown"))
    window.open_files([SAMPLES / "red-circle.png"])


def _run_once(cmd: list[str], env: dict[str, str]) -> dict[str, float | str]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "events.jsonl"
        env = {**env, ENV: str(out)}
        t0 = time.time()
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
        end = time.time()
        if not out.is_file():
            raise RuntimeError(f"no events recorded (exit {proc.returncode}): {proc.stderr.strip()[-500:]}")
        events = {e["event"]: e for e in map(json.loads, out.read_text().splitlines())}
    if "failed" in events:
        raise RuntimeError(f"the app failed: {events['failed']['error']}")
    if "first_answer" not in events:
        raise RuntimeError(f"no answer (exit {proc.returncode}, events {sorted(events)}): {proc.stderr.strip()[-800:]}")
    return {
        "window_shown_s": events["window_shown"]["t"] - t0,
        "first_answer_s": events["first_answer"]["t"] - t0,
        "process_exit_s": end - t0,
        "answer": events["first_answer"]["text"],
    }


def measure(exe: Path | None, runs: int, model: Path | None = None) -> dict[str, Any]:
    """Median start-up times over `runs` launches, after one launch that warms the disk and compile cache."""
    cmd = [str(exe)] if exe else [sys.executable, "-m", "desktop_app"]
    if model:
        cmd += ["--model", str(model)]
    env = dict(os.environ)
    env.setdefault("QT_QPA_PLATFORM", "offscreen")
    with tempfile.TemporaryDirectory(prefix="glimpse-probe-") as config:
        env["GLIMPSE_CONFIG_DIR"] = config  # a first start: not the user's last model or window
        _run_once(cmd, env)  # warm-up: disk cache, OpenVINO compile cache
        samples = [_run_once(cmd, env) for _ in range(runs)]
    result: dict[str, Any] = {"source": "bundle" if exe else "source install", "command": cmd, "runs": runs}
    for key in ("window_shown_s", "first_answer_s", "process_exit_s"):
        result[key] = statistics.median(float(s[key]) for s in samples)
        result[key + "_all"] = [round(float(s[key]), 3) for s in samples]
    result["answer"] = samples[-1]["answer"]
    result["targets"] = {"window_shown_s": 1.0, "first_answer_s": 1.5}
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m desktop_app.diagnostics.startup_probe", description=__doc__)
    parser.add_argument("--exe", type=Path, help="a bundled glimpse executable (default: this source install)")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--model", type=Path, help="model folder (default: the demo model)")
    args = parser.parse_args(argv)
    print(json.dumps(measure(args.exe, args.runs, args.model), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
