"""Converters from Hugging Face checkpoints to OpenVINO model folders, one module per family (needs torch).

`convert` is the one entry the CLI and the convert job use: it reads the source's config.json and hands the
request to the family (`runtime.families`) whose converter takes that architecture. The family modules import
torch and transformers only inside their functions, so this package imports light.
"""

from __future__ import annotations

import threading
from pathlib import Path
from types import ModuleType
from typing import Any

from model_tools.convert.common import read_config, source_folder
from model_tools.jobs.folders import check_target
from model_tools.jobs.progress import OnProgress
from model_tools.jobs.requests import ConvertRequest, ModelResult
from model_tools.runtime.errors import ConversionError
from model_tools.runtime.families import FAMILIES, hook


def convert(
    request: ConvertRequest,
    *,
    on_progress: OnProgress | None = None,
    cancel: threading.Event | None = None,
    extra_manifest: dict[str, Any] | None = None,
) -> ModelResult:
    """Convert `request.source` with its family's converter (see `converter_for`).

    runs in: a worker thread.
    """
    check_target(request.out.expanduser(), replace=request.overwrite, model=True)  # before any download
    folder = source_folder(request.source, revision=request.revision, on_progress=on_progress, cancel=cancel)
    module = converter_for(folder)
    return module.convert(request, on_progress=on_progress, cancel=cancel, extra_manifest=extra_manifest)


def converter_for(folder: Path) -> ModuleType:
    """The converter module of the family that converts the Hugging Face model in `folder`; a model no
    family converts is refused with a `ConversionError` naming what it is.

    Each converter names the architectures it takes (`ARCHITECTURES`) and their model types (`MODEL_TYPES`):
    a checkpoint of such a type with another architecture goes to that family, which refuses it in its words
    (BLIP: blip; chat: llava; segment: sam, transformers' SamModel).
    """
    config = read_config(folder)
    archs = config.get("architectures") or []
    model_type = config.get("model_type")
    modules = [hook(name, "convert") for name in FAMILIES]
    for module in modules:
        if any(a in module.ARCHITECTURES for a in archs):
            return module
    for module in modules:
        if model_type in module.MODEL_TYPES:
            return module
    found = ", ".join(archs) or model_type or "unknown"
    known = [a for module in modules for a in module.ARCHITECTURES]
    raise ConversionError(
        f"{folder.name} is not a BLIP question-answering or captioning model, a Segment Anything model, "
        f"nor a LLaVA chat model (it is {found}).",
        f"Glimpse converts {', '.join(known[:-1])} and {known[-1]} models; for other chat models, download a "
        "converted OpenVINO version from the catalog.",
    )
