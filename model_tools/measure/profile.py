"""Where a model's time goes: OpenVINO's per-layer counters, and for a chat model its decode step.

    model-tools profile --model models/blip-vqa-base --json profile.json      # BLIP: the vision model
    model-tools profile --model models/llava-small --json decode.json         # chat: one token of the LM

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

LANGUAGE_MODEL = "openvino_language_model.xml"
# What a decode step is tried with: the precision hint, the key/value cache's precision, the threads.
DECODE_VARIANTS: dict[str, dict[str, Any]] = {
    "f32": {"INFERENCE_PRECISION_HINT": "f32"},
    "bf16": {"INFERENCE_PRECISION_HINT": "bf16"},
    "f32_kv_u8": {"INFERENCE_PRECISION_HINT": "f32", "KV_CACHE_PRECISION": "u8"},
    "f32_kv_f32": {"INFERENCE_PRECISION_HINT": "f32", "KV_CACHE_PRECISION": "f32"},
    "f32_one_thread": {"INFERENCE_PRECISION_HINT": "f32", "INFERENCE_NUM_THREADS": 1},
}


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


def profile_decode(
    model_dir: str | Path,
    device: str = "CPU",
    *,
    precisions: tuple[str, ...] | None = None,
    context: int = 768,
    steps: int = 16,
    variants: tuple[str, ...] = tuple(DECODE_VARIANTS),
    top: int = 6,
) -> dict[str, Any]:
    """One decode step of a chat model's language model, alone: how long, and the weights' read rate.

    For each precision and variant (`DECODE_VARIANTS`: hint, KV-cache precision, threads): the language model
    compiled by itself, a `context`-token prompt of random embeddings, then `steps` single-token steps; the
    median step's wall time and the language model's weight bytes over it (GB/s: a step reads every weight
    once). The kernels' shares of a step come from OpenVINO's counters in a separate run of the first
    variant (the counters slow the step down, so their times are given as shares, not milliseconds).
    """
    model = ConvertedModel.open(model_dir)
    if model.spec.family != "chat":
        raise ValueError(f"{model.name} is not a chat model: profile its vision part instead.")
    check_device(device)
    report: dict[str, Any] = {"model": model.name, "part": "language_model", "device": device,
                              "context_tokens": context, "steps": steps}
    for precision in precisions or tuple(model.precisions):
        xml = model.path / precision / LANGUAGE_MODEL
        weights = xml.with_suffix(".bin").stat().st_size
        entry: dict[str, Any] = {"weight_bytes": weights}
        for variant in variants:
            times, _ = _decode_steps(xml, device, DECODE_VARIANTS[variant], context, steps, counters=False)
            step_s = statistics.median(times)
            entry[variant] = {"step_ms": round(step_s * 1e3, 2), "weights_GBps": round(weights / step_s / 1e9, 1),
                              "config": DECODE_VARIANTS[variant]}
        _, kernels = _decode_steps(xml, device, DECODE_VARIANTS[variants[0]], context, steps, counters=True)
        total = sum(kernels.values()) or 1.0
        ranked = sorted(kernels.items(), key=lambda kv: -kv[1])[:top]
        entry["kernel_share_percent"] = {k: round(100 * v / total, 1) for k, v in ranked}
        report[precision] = entry
    return report


def _decode_steps(xml: Path, device: str, config: dict[str, Any], context: int, steps: int,
                  counters: bool) -> tuple[list[float], collections.Counter[str]]:
    """Seconds of each single-token step after a `context`-token prompt; with `counters`, kernel times summed."""
    import time

    import numpy as np

    ir = core().read_model(str(xml))
    hidden = ir.input("inputs_embeds").get_partial_shape()[2].get_length()
    request = core().compile_model(ir, device, {**config, "PERF_COUNT": counters}).create_infer_request()
    rng = np.random.default_rng(0)
    prompt = (rng.standard_normal((1, context, hidden)) * 0.02).astype(np.float32)
    token = (rng.standard_normal((1, 1, hidden)) * 0.02).astype(np.float32)
    beam = np.zeros(1, np.int32)
    times: list[float] = []
    kernels: collections.Counter[str] = collections.Counter()
    for run in range(2):  # the first run warms up
        request.reset_state()
        request.infer({"inputs_embeds": prompt, "attention_mask": np.ones((1, context), np.int64),
                       "position_ids": np.arange(context, dtype=np.int64)[None], "beam_idx": beam})
        for i in range(steps):
            n = context + i
            inputs = {"inputs_embeds": token, "attention_mask": np.ones((1, n + 1), np.int64),
                      "position_ids": np.array([[n]], np.int64), "beam_idx": beam}
            t = time.perf_counter()
            request.infer(inputs)
            if run:
                times.append(time.perf_counter() - t)
                for layer in request.get_profiling_info() if counters else ():
                    kernels[f"{layer.node_type} [{layer.exec_type}]"] += layer.real_time.total_seconds()
    return times, kernels
