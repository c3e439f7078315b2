"""Installing ready OpenVINO chat models (the OpenVINO organisation's `*-ov` repositories) as they are.

A downloaded folder becomes one precision of a library entry: `<models>/<name>/<precision>/` holds its files
unchanged, and the entry's manifest lists each with its checksum, so the runtime verifies them as it does
converted models. The FP16, INT8 and INT4 downloads of one model land in one entry. Nothing is converted.
"""

from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path
from typing import Any

from model_tools import __version__
from model_tools.jobs.progress import OnProgress, check_cancel, report
from model_tools.jobs.requests import InstallRequest, ModelResult
from model_tools.runtime import paths
from model_tools.runtime.errors import GlimpseError
from model_tools.runtime.manifest import FORMAT_VERSION, MANIFEST
from model_tools.runtime.model_folder import file_record, write_json_atomic

# The files VLMPipeline cannot start without; the rest of the folder (more model parts, configs) comes along.
REQUIRED = ("config.json", "openvino_language_model.xml", "openvino_tokenizer.xml", "openvino_detokenizer.xml")
# config.json model types openvino-genai 2026.4's VLMPipeline runs.
VLM_MODEL_TYPES = (
    "llava", "llava_next", "llava_next_video", "llava-qwen2", "internvl_chat", "phi3_v", "phi4mm", "qwen2_vl",
    "qwen2_5_vl", "qwen3_vl", "gemma3", "minicpmv",
)


def ready_model_type(folder: Path) -> str:
    """The model type of a downloaded OpenVINO chat model folder; GlimpseError if VLMPipeline cannot run it."""
    missing = [f for f in REQUIRED if not (folder / f).is_file()]
    if missing:
        raise GlimpseError(
            f"{folder.name} is not a converted OpenVINO chat model (it has no {', '.join(missing)}).",
            "Download one of the catalog's OpenVINO models, or convert a LLaVA checkpoint.",
        )
    try:
        model_type = json.loads((folder / "config.json").read_text(encoding="utf-8")).get("model_type")
    except (OSError, ValueError, AttributeError) as exc:
        raise GlimpseError(f"{folder.name}/config.json is unreadable ({exc}).", "Download the model again.") from None
    if model_type not in VLM_MODEL_TYPES:
        raise GlimpseError(
            f"{folder.name} is a {model_type!r} model, which openvino-genai's VLMPipeline cannot run.",
            f"Glimpse runs chat models of these types: {', '.join(VLM_MODEL_TYPES)}.",
        )
    return str(model_type)


def install_ready(
    request: InstallRequest,
    *,
    on_progress: OnProgress | None = None,
    cancel: threading.Event | None = None,
) -> ModelResult:
    """Copy a downloaded ready model into the library entry `request.name` as its `request.precision`.

    The precision folder appears whole or not at all (built beside it, then renamed), and the manifest is
    rewritten atomically after it; a precision already there is refused. runs in: a worker thread.
    """
    from model_tools.jobs.folders import atomic_folder

    precision = request.precision
    source = _source_folder(request, on_progress, cancel)
    model_type = ready_model_type(source)
    entry = paths.models_dir() / request.name
    manifest = _existing_manifest(entry, model_type)
    if precision in manifest["precisions"]:
        raise GlimpseError(f"{request.name} has its {precision.upper()} version already.", "Nothing to install.")
    files = sorted(p for p in source.iterdir() if p.is_file() and not p.name.startswith("."))
    total = sum(p.stat().st_size for p in files)
    done = 0
    entry.mkdir(parents=True, exist_ok=True)
    with atomic_folder(entry / precision) as tmp:
        for path in files:
            check_cancel(cancel)
            report(on_progress, "install", done, total, "bytes", f"Copying {path.name}")
            shutil.copyfile(path, tmp / path.name)
            done += path.stat().st_size
        records = {f"{precision}/{p.name}": file_record(tmp.parent, f"{tmp.name}/{p.name}") for p in files}
    manifest["precisions"][precision] = {"files": records, "made_by": "download", "source": request.source}
    manifest.setdefault("source", {"id": request.source, "revision": request.revision})
    write_json_atomic(entry / MANIFEST, manifest)
    report(on_progress, "done", total, total, "bytes", f"Installed {request.name} ({precision.upper()})")
    return ModelResult.of(entry)


def _source_folder(request: InstallRequest, on_progress: OnProgress | None, cancel: threading.Event | None) -> Path:
    """The folder to install from: `request.source` itself, or that Hugging Face id downloaded as it is."""
    from model_tools.jobs.requests import DownloadRequest
    from model_tools.library.hub import download

    local = Path(request.source).expanduser()
    if local.is_dir():
        return local
    return download(DownloadRequest(request.source, request.revision, ready=True), on_progress=on_progress, cancel=cancel).folder


def _existing_manifest(entry: Path, model_type: str) -> dict[str, Any]:
    """The manifest of library entry `entry` to add a precision to: its own, or a new one."""
    path = entry / MANIFEST
    if not entry.exists():
        return {
            "format_version": FORMAT_VERSION,
            "family": "chat",
            "name": entry.name,
            "model_type": model_type,
            "architecture": "",
            "files": {},
            "precisions": {},
            "tools": {"glimpse": __version__},
        }
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        manifest = None
    if not isinstance(manifest, dict) or manifest.get("family") != "chat":
        raise GlimpseError(
            f"{entry} is already there and is not a Glimpse chat model.", "Pick another name, or move that folder."
        )
    if manifest.get("model_type") != model_type:
        raise GlimpseError(
            f"{entry.name} holds a {manifest.get('model_type')!r} model; this download is a {model_type!r} model.",
            "Install it under another name.",
        )
    return manifest
