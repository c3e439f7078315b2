"""The architecture's one rule: desktop_app -> model_tools, and model_tools.runtime stays light."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ["torch", "transformers", "nncf", "datasets", "PySide6", "matplotlib"]


def _modules_after_import(module: str) -> set[str]:
    code = f"import json, sys, {module}; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


def test_runtime_imports_no_heavy_stack():
    loaded = _modules_after_import("model_tools.runtime.blip.pipeline")
    assert "openvino" in loaded  # the check itself works
    assert not [m for m in HEAVY if m in loaded]


INFERENCE = ["openvino", "numpy", "PIL", "tokenizers"]


def test_the_window_is_built_before_inference_libraries_load():
    """The window shows first; openvino (~0.4 s to import), numpy, pillow and tokenizers load on a worker."""
    loaded = _modules_after_import("desktop_app.window.main_window, desktop_app.__main__, model_tools.runtime")
    assert "PySide6.QtWidgets" in loaded  # the check itself works
    assert not [m for m in INFERENCE if m in loaded]
    from model_tools import runtime

    assert callable(runtime.load) and runtime.BlipPipeline.__name__ == "BlipPipeline"  # lazy names resolve


def test_model_tools_modules_import_without_heavy_stack():
    modules = "model_tools.cli, model_tools.convert.blip, model_tools.library.hub, model_tools.library.store, model_tools.synthetic.tiny_blip, model_tools.jobs.progress"
    loaded = _modules_after_import(modules)
    assert not [m for m in HEAVY if m in loaded]


def test_import_linter_contracts_hold():
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or "lint-imports"
    out = subprocess.run([exe], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "2 kept, 0 broken" in out.stdout or "kept" in out.stdout
