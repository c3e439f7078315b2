"""Where a vision model's time goes, layer type by layer type, FP16 against INT8: OpenVINO's per-layer counters.

    model-tools profile --model models/blip-vqa-base --json profile.json

Each row is a layer type and the kernel OpenVINO picked for it (e.g. `FullyConnected [brgemm_avx2_f32]` or
`FullyConnected [jit_gemm_I8]`), with the milliseconds it took in the median run. It answers "why is INT8 not
faster here?": on CPUs without VNNI or AMX, INT8 matrix products run no faster than f32 ones.
"""

from __future__ import annotations

import collections
import statistics
from pathlib import Path
from typing import Any

from model_tools.runtime.devices import check_device, core
from model_tools.runtime.model_folder import VISION, ConvertedModel


def profile_vision(
    model_dir: str | Path, device: str = "CPU", runs: int = 5, hint: str | None = "f32", top: int = 8
) -> dict[str, Any]:
    """Per-layer-type times of the vision model in every precision the folder has (medians of `runs`)."""
    import numpy as np

    model = ConvertedModel.open(model_dir)
    check_device(device)
    size = model.spec.image.size
    pixels = np.random.default_rng(0).standard_normal((1, 3, *size)).astype(np.float32)
    config: dict[str, Any] = {"PERF_COUNT": True}
    if hint and device.split(".")[0] == "CPU":
        config["INFERENCE_PRECISION_HINT"] = hint
    report: dict[str, Any] = {"model": model.name, "part": VISION, "device": device, "runs": runs, "hint": hint}
    for precision in model.precisions:
        compiled = core().compile_model(str(model.xml(precision, VISION)), device, config)
        request = compiled.create_infer_request()
        request.infer([pixels])  # warm-up
        samples: list[collections.Counter[str]] = []
        for _ in range(runs):
            request.infer([pixels])
            counter: collections.Counter[str] = collections.Counter()
            for layer in request.get_profiling_info():
                counter[f"{layer.node_type} [{layer.exec_type}]"] += layer.real_time.total_seconds() * 1000
            samples.append(counter)
        kinds = set().union(*samples)
        medians = {k: statistics.median(s[k] for s in samples) for k in kinds}
        ranked = sorted(medians.items(), key=lambda kv: -kv[1])
        report[precision] = {
            "total_ms": round(sum(medians.values()), 1),
            "top_ms": {k: round(v, 1) for k, v in ranked[:top]},
        }
    return report
