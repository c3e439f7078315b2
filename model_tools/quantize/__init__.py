"""NNCF quantizers, one module per family, and their calibration data (needs nncf).

`quantize` is the one entry the CLI and the quantize job use: it reads the family from the model folder's
manifest and hands the request to that family's quantizer (`runtime.families`). The family modules import nncf only inside their
functions, so this package imports light.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

from model_tools.jobs.progress import OnProgress
from model_tools.jobs.requests import QuantizationError, QuantizeRequest, QuantizeResult
from model_tools.runtime.families import DEFAULT_FAMILY, FAMILIES, hook
from model_tools.runtime.model_folder import MANIFEST


def quantize(
    request: QuantizeRequest,
    *,
    on_progress: OnProgress | None = None,
    cancel: threading.Event | None = None,
) -> QuantizeResult:
    """Quantize the model in `request.model` with its family's quantizer. runs in: a worker thread."""
    family = family_of_folder(request.model)
    if family not in FAMILIES:
        raise QuantizationError(
            f"{request.model.name} is a {family!r} model, which Glimpse cannot quantize.",
            "Update Glimpse, or convert the model again with this version.",
        )
    if family == "blip" and request.weights != "int8":
        raise QuantizationError(
            f"{request.model.name} is a BLIP model: its quantized precision is INT8 only.",
            "Leave the weights at int8; for an INT4 text decoder use the decoder option (--decoder int4).",
        )
    if FAMILIES[family].quantize is None:
        raise QuantizationError(
            f"{request.model.name} is a {family} model, which this version of Glimpse cannot quantize yet.",
            "Use its FP16 files.",
        )
    quantizer = hook(family, "quantize")
    return quantizer.quantize(request, on_progress=on_progress, cancel=cancel)  # type: ignore[no-any-return]


def family_of_folder(folder: Path) -> str:
    """The family a model folder's manifest names (BLIP for one without a family, or none readable: the
    BLIP quantizer then says what is wrong with the folder)."""
    try:
        manifest = json.loads((Path(folder) / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return DEFAULT_FAMILY
    family = manifest.get("family", DEFAULT_FAMILY) if isinstance(manifest, dict) else DEFAULT_FAMILY
    return family if isinstance(family, str) else DEFAULT_FAMILY
