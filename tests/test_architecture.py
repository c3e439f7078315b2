"""The architecture's one rule: desktop_app -> model_tools, and model_tools.runtime stays light."""

from __future__ import annotations

import ast
import json
import shutil
import subprocess
import sys
from pathlib import Path

import grimp

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
    modules = (
        "model_tools.cli, model_tools.convert.blip, model_tools.convert.common, model_tools.library.hub, "
        "model_tools.library.store, model_tools.synthetic.tiny_blip, model_tools.jobs.progress, "
        "model_tools.jobs.folders, model_tools.runtime.families"
    )
    loaded = _modules_after_import(modules)
    assert not [m for m in HEAVY if m in loaded]


def test_import_linter_contracts_hold():
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or "lint-imports"
    out = subprocess.run([exe], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "2 kept, 0 broken" in out.stdout or "kept" in out.stdout
    assert "layers: app and CLI, heavy tools, light library and jobs, runtime KEPT" in out.stdout


PACKAGES = ("model_tools", "desktop_app")


def _strongly_connected(graph: grimp.ImportGraph) -> list[list[str]]:
    """Groups of modules that import each other, directly or round a circle (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []
    for start in sorted(graph.modules):
        if start in index:
            continue
        work = [(start, iter(sorted(graph.find_modules_directly_imported_by(start))))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.find_modules_directly_imported_by(child)))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1:
                    groups.append(sorted(group))
    return groups


def test_no_import_cycles():
    """No module imports itself round a circle: every import counts, inside functions and TYPE_CHECKING too."""
    graph = grimp.build_graph(*PACKAGES)
    assert "model_tools.measure.bench" in graph.modules  # the check itself works
    assert _strongly_connected(graph) == []


def test_no_product_module_imports_the_demo():
    """The demo's training and evaluation are tools of their own: only the CLI's demo commands reach them."""
    graph = grimp.build_graph(*PACKAGES)
    demo = {m for m in graph.modules if m == "model_tools.demo" or m.startswith("model_tools.demo.")}
    importers = set(graph.find_downstream_modules("model_tools.demo", as_package=True)) - demo
    assert "model_tools.cli" in importers  # the check itself works
    assert importers == {"model_tools.cli"}


def _private_imports(root: Path) -> list[str]:
    """`from a import _name` and `a._name` across modules: each is a reach into another module's privates."""
    found = []
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        ours: set[str] = set()  # names bound to our own modules here, by `import` or `from ... import`
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(PACKAGES):
                for alias in node.names:
                    if alias.name.startswith("_") and not alias.name.startswith("__"):
                        found.append(f"{path.relative_to(ROOT)}:{node.lineno} imports {node.module}.{alias.name}")
                    ours.add(alias.asname or alias.name)
            elif isinstance(node, ast.Import):
                ours |= {a.asname or a.name.split(".")[0] for a in node.names if a.name.startswith(PACKAGES)}
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id in ours
                and node.attr.startswith("_")
                and not node.attr.startswith("__")
            ):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno} uses {node.value.id}.{node.attr}")
    return found


def test_no_module_uses_another_modules_private_names():
    assert [hit for package in (*PACKAGES, "tests") for hit in _private_imports(ROOT / package)] == []
