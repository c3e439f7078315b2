"""Chat model folder: `fp16/` -> `int8/` or `int4/` beside it, weights compressed with NNCF (no calibration).

    openvino_language_model           nncf.compress_weights INT8_ASYM, or INT4_ASYM with a group size and ratio
    openvino_text_embeddings_model    nncf.compress_weights INT8_ASYM
    openvino_vision_embeddings_model  nncf.compress_weights INT8_ASYM

The tokenizers and configs are copied, so each precision is a complete VLMPipeline folder. The folder appears
whole or not at all; the manifest then gains `precisions.<int8|int4>` with the files' sizes and sha256 and each
part's mode. Cancelling (checked between parts) leaves the model folder as it was. nncf and openvino are
imported inside the functions.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from pathlib import Path
from typing import Any

from model_tools.convert.chat import CONFIGS, LANGUAGE, PARTS, TOKENIZERS, part_file
from model_tools.jobs.folders import atomic_folder
from model_tools.jobs.progress import OnProgress, check_cancel, report
from model_tools.jobs.requests import ModelResult, QuantizeRequest, QuantizeResult
from model_tools.quantize.nncf_tools import import_nncf, nncf_errors, open_fp16, quiet_nncf, tools_record
from model_tools.runtime.model_folder import MANIFEST, ConvertedModel, file_record, write_json_atomic

log = logging.getLogger("glimpse.quantize")


def quantize(
    request: QuantizeRequest,
    *,
    on_progress: OnProgress | None = None,
    cancel: threading.Event | None = None,
) -> QuantizeResult:
    """Write `<model>/<request.weights>/` (replacing an older one) and record it in the manifest.

    runs in: a worker thread. Progress: stages "check", each of `PARTS`, "copy", "save", "done".
    """
    target = request.weights
    report(on_progress, "check", 0, 1, "steps", "Checking the FP16 files")
    model = open_fp16(request.model, "chat")
    report(on_progress, "check", 1, 1, "steps", "Checked the FP16 files")
    root = model.path
    nncf = import_nncf()
    check_cancel(cancel)
    t0 = time.perf_counter()
    with quiet_nncf(nncf), atomic_folder(root / target, replace=True) as tmp:
        parts = {}
        for i, part in enumerate(PARTS):
            check_cancel(cancel)
            mode = target if part == LANGUAGE else "int8"
            report(on_progress, part, i, len(PARTS), "steps", f"Compressing the weights of {part} ({mode.upper()})")
            parts[part] = _compress(nncf, root / "fp16" / part_file(part), tmp / part_file(part), mode, request)
        check_cancel(cancel)
        report(on_progress, "copy", len(PARTS), len(PARTS), "steps", "Copying the tokenizers and configs")
        for name in [*_ir(TOKENIZERS), *CONFIGS]:
            shutil.copyfile(root / "fp16" / name, tmp / name)
        report(on_progress, "save", 0, 1, "steps", f"Recording the {target.upper()} files in the manifest")
        files = {f"{target}/{p.name}": file_record(tmp, p.name) for p in sorted(tmp.iterdir())}
        check_cancel(cancel)  # the last point where stopping leaves no trace
        # An older folder is about to be replaced: unlist it first, so no reader ever sees the old records next
        # to the new files. A crash from here on leaves it unlisted, never listed but different.
        manifest = ConvertedModel.open(root).manifest
        if manifest["precisions"].pop(target, None) is not None:
            write_json_atomic(root / MANIFEST, manifest)
    manifest["precisions"][target] = {
        "files": files,
        "made_by": "quantize",
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "duration_s": round(time.perf_counter() - t0, 1),
        "parts": parts,
        "tools": tools_record(nncf),
    }
    write_json_atomic(root / MANIFEST, manifest)
    report(on_progress, "save", 1, 1, "steps", "Saved")
    report(on_progress, "done", 1, 1, "steps", f"{target.upper()} model written to {root / target}")
    return _result(root, target)


def _ir(names: Any) -> list[str]:
    """The .xml and .bin of each IR model: a part (`PARTS`) or a tokenizer (`TOKENIZERS`)."""
    stems = [Path(part_file(n)).stem if n in PARTS else n for n in names]
    return [f"{stem}.{ext}" for stem in stems for ext in ("xml", "bin")]


def _compress(nncf: Any, source: Path, out: Path, mode: str, request: QuantizeRequest) -> dict[str, Any]:
    """Compress one part's weights from `source` into `out`; what was done, for the manifest."""
    import openvino as ov

    model = ov.Core().read_model(str(source))
    record: dict[str, Any] = {"method": "nncf.compress_weights"}
    with nncf_errors(source.stem, "compress"):
        if mode == "int4":
            params = nncf.AdvancedCompressionParameters(group_size_fallback_mode=nncf.GroupSizeFallbackMode.ADJUST)
            compressed = nncf.compress_weights(
                model,
                mode=nncf.CompressWeightsMode.INT4_ASYM,
                group_size=request.group_size,
                ratio=request.ratio,
                advanced_parameters=params,
            )
            record.update(mode="int4_asym", group_size=request.group_size, ratio=request.ratio, backup_mode="int8_asym")
        else:
            compressed = nncf.compress_weights(model, mode=nncf.CompressWeightsMode.INT8_ASYM)
            record.update(mode="int8_asym")
    ov.save_model(compressed, str(out), compress_to_fp16=True)
    return record


def _result(root: Path, precision: str) -> QuantizeResult:
    model = ConvertedModel.open(root)
    sizes = {p: _part_sizes(model, p) for p in ("fp16", precision)}
    entry = model.manifest["precisions"][precision]
    return QuantizeResult(
        **ModelResult.of(root).to_dict(),
        int8=root / precision,
        sizes_bytes=sizes,
        parts=entry.get("parts"),
        duration_s=entry.get("duration_s"),
        precision=precision,
    )


def _part_sizes(model: ConvertedModel, precision: str) -> dict[str, int]:
    """Bytes on disk per part (.xml + .bin) of one precision, and their total."""
    sizes = {p: sum((model.path / precision / name).stat().st_size for name in _ir([p])) for p in PARTS}
    sizes["total"] = sum(sizes.values())
    return sizes


