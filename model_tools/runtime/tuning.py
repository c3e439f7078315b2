"""Which INFERENCE_PRECISION_HINT each model part runs fastest with on this machine: measured once, remembered.

On CPUs with AVX-512 BF16 but no AMX, OpenVINO infers in bf16 by default, and INT8 models then run slower
than FP16 ones; with `f32` INT8 is the fastest. So at the first load of a model part on a device, every hint
the device supports is compiled and timed on representative inputs, and the fastest is written to
`<cache dir>/precision_hints.json`, keyed by model path, precision, part, device and the part's sha256. Later
loads read the choice back without compiling anything extra.

Precedence: the `hints` argument of `load()`, then the GLIMPSE_PRECISION_HINT environment variable
(f32 | bf16 | f16 | default), then the remembered or measured choice. Imports only openvino and numpy.
"""

from __future__ import annotations

import json
import logging
import os
import statistics
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import openvino as ov

from . import paths
from .devices import core
from .model_dir import CROSS_KV, DECODER, TEXT_ENCODER, VISION, ConvertedModel, write_json_atomic

log = logging.getLogger("glimpse.tuning")

ENV_VAR = "GLIMPSE_PRECISION_HINT"
HINTS = ("f32", "bf16", "f16")
CACHE_FILE = "precision_hints.json"
CACHE_VERSION = 1
# A candidate other than f32 must be this much faster to be chosen: f32 is the more accurate, and timings on a
# busy machine wobble by a few percent.
MARGIN = 0.05
# An INT8 part gives way to its FP16 file only when that is clearly faster (timings wobble a little).
FALLBACK_MARGIN = 0.03
# Representative lengths: a short question, a few decoded tokens.
QUESTION_TOKENS = 8
PAST_TOKENS = 8

_lock = threading.Lock()


@dataclass
class HintChoice:
    """The hint a part gets (None: the device's default) and why."""

    hint: str | None
    source: str  # "env" | "only" | "cached" | "measured" | "none"
    timings_ms: dict[str, float] = field(default_factory=dict)


# -- what the device offers ----------------------------------------------------------------------------------


def candidate_hints(device: str, ov_core: ov.Core | None = None) -> list[str]:
    """Hints worth trying on `device`, f32 first; empty where we let the device decide (AUTO, NPU...).

    CPU: f32, plus bf16 / f16 when OPTIMIZATION_CAPABILITIES lists BF16 / FP16 (otherwise OpenVINO would
    silently run f32 anyway). GPU: f16 and f32.
    """
    family = device.split(".")[0].split(":")[0]
    if family not in ("CPU", "GPU"):
        return []
    ov_core = ov_core or core()
    try:
        caps = {str(c).upper() for c in ov_core.get_property(device, "OPTIMIZATION_CAPABILITIES")}
    except RuntimeError:
        caps = set()
    if family == "CPU":
        found = ["f32"]
        if "BF16" in caps:
            found.append("bf16")
        if "FP16" in caps:
            found.append("f16")
        return found
    return (["f16"] if "FP16" in caps else []) + ["f32"]


def env_hint() -> tuple[bool, str | None]:
    """(set, hint) from GLIMPSE_PRECISION_HINT: "default" means the device's own choice; junk is ignored."""
    raw = os.environ.get(ENV_VAR, "").strip().lower()
    if not raw or raw == "auto":
        return False, None
    if raw == "default":
        return True, None
    if raw in HINTS:
        return True, raw
    log.warning("Ignoring %s=%s: use one of %s, default or auto.", ENV_VAR, raw, ", ".join(HINTS))
    return False, None


# -- the choice ----------------------------------------------------------------------------------------------


def choose_hint(
    model: ConvertedModel,
    precision: str,
    device: str,
    part: str,
    *,
    compile_cache: bool = True,
    ov_core: ov.Core | None = None,
    candidates: list[str] | None = None,
) -> HintChoice:
    """The precision hint for one part: from the environment, the remembered measurement, or a new one.

    runs in: any thread (the first call per part compiles it once per candidate: seconds for base models).
    """
    is_set, hint = env_hint()
    if is_set:
        return HintChoice(hint, "env")
    ov_core = ov_core or core()
    cands = candidates if candidates is not None else candidate_hints(device, ov_core)
    if not cands:
        return HintChoice(None, "none")
    if len(cands) == 1:
        return HintChoice(cands[0], "only")
    key = cache_key(model, precision, part, device, ov_core)
    record = _load_cache().get(key)
    if (
        isinstance(record, dict)
        and record.get("hint") in cands
        and set(record.get("timings_ms", {})) == set(cands)
    ):
        return HintChoice(record["hint"], "cached", dict(record["timings_ms"]))
    timings = measure(model, precision, device, part, cands, ov_core=ov_core, compile_cache=compile_cache)
    best = pick(timings)
    _remember(key, {"hint": best, "timings_ms": timings, "measured": time.strftime("%Y-%m-%dT%H:%M:%S")})
    log.info("%s %s %s on %s: %s (%s)", model.name, precision, part, device, best, timings)
    return HintChoice(best, "measured", timings)


def pick(timings_ms: dict[str, float]) -> str:
    """The fastest hint; f32 unless another beats it by more than MARGIN."""
    best = min(timings_ms, key=lambda h: timings_ms[h])
    if "f32" in timings_ms and best != "f32" and timings_ms[best] > timings_ms["f32"] * (1 - MARGIN):
        return "f32"
    return best


def cache_key(
    model: ConvertedModel, precision: str, part: str, device: str, ov_core: ov.Core | None = None
) -> str:
    """Model path + precision + part + device (and its full name) + the part's sha256 + OpenVINO version."""
    files = model.manifest["precisions"].get(precision, {}).get("files", {})
    sha = "".join(
        str(files.get(f"{precision}/{part}.{ext}", {}).get("sha256", "?"))[:16] for ext in ("xml", "bin")
    )
    try:
        name = str((ov_core or core()).get_property(device, "FULL_DEVICE_NAME"))
    except RuntimeError:
        name = device
    return "|".join([str(model.path.resolve()), precision, part, device, name, sha, ov.get_version()])


def forget(model: ConvertedModel | None = None) -> None:
    """Drop remembered choices (of one model, or all): the next load measures again."""
    with _lock:
        data = _load_cache()
        if model is None:
            data = {}
        else:
            prefix = str(model.path.resolve()) + "|"
            data = {k: v for k, v in data.items() if not k.startswith(prefix)}
        _save_cache(data)


# -- measuring -----------------------------------------------------------------------------------------------


def measure(
    model: ConvertedModel,
    precision: str,
    device: str,
    part: str,
    hints: list[str],
    *,
    ov_core: ov.Core | None = None,
    compile_cache: bool = True,
    min_runs: int = 3,
    max_runs: int = 12,
    budget_s: float = 0.5,
) -> dict[str, float]:
    """Median latency (ms) of `part` compiled with each hint, on representative inputs, after warm-up."""
    xml = str(model.xml(precision, part))
    configs = {hint: (xml, hint) for hint in hints}
    inputs = representative_inputs(model, precision, part, ov_core)
    return measure_configs(device, configs, inputs, ov_core=ov_core, compile_cache=compile_cache,
                           min_runs=min_runs, max_runs=max_runs, budget_s=budget_s)


def measure_configs(
    device: str,
    configs: dict[str, tuple[str, str | None]],
    inputs: dict[str, np.ndarray],
    *,
    ov_core: ov.Core | None = None,
    compile_cache: bool = True,
    min_runs: int = 3,
    max_runs: int = 12,
    budget_s: float = 0.5,
) -> dict[str, float]:
    """Median latency (ms) per label of `configs` (label -> (xml, hint)), after warm-up.

    Configurations are timed in turns (a, b, a, b...) so a neighbour's load burst hurts each about equally.
    """
    ov_core = ov_core or core()
    requests: dict[str, Any] = {}
    for label, (xml, hint) in configs.items():
        config: dict[str, Any] = {"INFERENCE_PRECISION_HINT": hint} if hint else {}
        if compile_cache:
            config["CACHE_DIR"] = str(paths.cache_dir() / "ov")  # the load that follows then hits the cache
        request = ov_core.compile_model(xml, device, config).create_infer_request()
        for _ in range(2):
            request.infer(inputs)
        requests[label] = request
    times: dict[str, list[float]] = {label: [] for label in configs}
    start = time.perf_counter()
    for i in range(max_runs):
        for label, request in requests.items():
            t = time.perf_counter()
            request.infer(inputs)
            times[label].append(time.perf_counter() - t)
        if i + 1 >= min_runs and time.perf_counter() - start > budget_s:
            break
    return {label: round(statistics.median(v) * 1000, 3) for label, v in times.items()}


@dataclass
class PartChoice:
    """Which file (precision folder) and hint a part runs with, and why."""

    precision: str
    hint: str | None
    source: str
    timings_ms: dict[str, float] = field(default_factory=dict)


def choose_part(
    model: ConvertedModel,
    precision: str,
    device: str,
    part: str,
    *,
    compile_cache: bool = True,
    ov_core: ov.Core | None = None,
) -> PartChoice:
    """The file and hint for one part. For INT8, the FP16 file where it measured faster on this machine.

    That keeps the rule "INT8 is never slower than FP16": on CPUs without VNNI, INT8 matrix products of the
    compute-bound parts (vision, text encoder) can be slower than FP16's, while the memory-bound decoder
    still gains. The comparison is made once per part and device, and remembered.
    """
    choice = choose_hint(model, precision, device, part, compile_cache=compile_cache, ov_core=ov_core)
    if precision != "int8" or not model.has("fp16") or env_hint()[0]:
        return PartChoice(precision, choice.hint, choice.source, choice.timings_ms)
    fp16 = choose_hint(model, "fp16", device, part, compile_cache=compile_cache, ov_core=ov_core)
    key = cache_key(model, precision, part, device, ov_core) + "|vs-fp16|" + cache_key(model, "fp16", part, device, ov_core)
    record = _load_cache().get(key)
    if isinstance(record, dict) and record.get("precision") in ("int8", "fp16") and record.get("hints") == [
        choice.hint, fp16.hint
    ]:
        winner = record["precision"]
        source, timings = "cached", dict(record.get("timings_ms", {}))
    else:
        configs = {
            "int8": (str(model.xml("int8", part)), choice.hint),
            "fp16": (str(model.xml("fp16", part)), fp16.hint),
        }
        inputs = representative_inputs(model, precision, part, ov_core)
        timings = measure_configs(device, configs, inputs, ov_core=ov_core, compile_cache=compile_cache)
        winner = "fp16" if timings["fp16"] < timings["int8"] * (1 - FALLBACK_MARGIN) else "int8"
        source = "measured"
        _remember(key, {"precision": winner, "hints": [choice.hint, fp16.hint], "timings_ms": timings,
                        "measured": time.strftime("%Y-%m-%dT%H:%M:%S")})
        log.info("%s %s on %s: int8 %.1f ms, fp16 %.1f ms -> %s", model.name, part, device,
                 timings["int8"], timings["fp16"], winner)
    if winner == "fp16":
        return PartChoice("fp16", fp16.hint, source, timings)
    return PartChoice("int8", choice.hint, source, timings)


def representative_inputs(
    model: ConvertedModel, precision: str, part: str, ov_core: ov.Core | None = None
) -> dict[str, np.ndarray]:
    """Inputs shaped like real use: one picture; an 8-token question; one decode step after 8 tokens."""
    ov_core = ov_core or core()
    m = model.manifest
    rng = np.random.default_rng(0)
    height, width = m["image"]["size"]
    text = m["text"]
    layers, heads, head_dim = int(text["layers"]), int(text["heads"]), int(text["head_dim"])
    vocab = int(text["vocab_size"])
    ids = rng.integers(5, max(6, vocab - 1), size=(1, QUESTION_TOKENS), dtype=np.int64)
    pixels = rng.standard_normal((1, 3, height, width), dtype=np.float32)
    if part == VISION:
        return {"pixel_values": pixels}
    seq, dim = image_embeds_shape(model, precision, ov_core)
    image_embeds = rng.standard_normal((1, seq, dim), dtype=np.float32)
    if part == TEXT_ENCODER:
        return {"input_ids": ids, "attention_mask": np.ones_like(ids), "image_embeds": image_embeds}
    # The decoder cross-attends to the question (VQA) or to the picture (captioning).
    cross = QUESTION_TOKENS if model.task == "vqa" else seq
    if part == CROSS_KV:
        states = (
            rng.standard_normal((1, cross, heads * head_dim), dtype=np.float32)
            if model.task == "vqa"
            else image_embeds
        )
        return {"encoder_hidden_states": states}
    if part == DECODER:
        feed: dict[str, np.ndarray] = {"input_ids": ids[:, :1]}
        for i in range(layers):
            for kind in ("key", "value"):
                feed[f"past_{kind}.{i}"] = rng.standard_normal(
                    (1, heads, PAST_TOKENS, head_dim), dtype=np.float32
                )
                feed[f"cross_{kind}.{i}"] = rng.standard_normal((1, heads, cross, head_dim), dtype=np.float32)
        return feed
    raise ValueError(f"unknown part {part}")


def image_embeds_shape(
    model: ConvertedModel, precision: str, ov_core: ov.Core | None = None
) -> tuple[int, int]:
    """(tokens, width) of the vision model's output for the manifest's picture size, by shape inference."""
    ov_core = ov_core or core()
    vision = ov_core.read_model(str(model.xml(precision, VISION)))
    height, width = model.manifest["image"]["size"]
    vision.reshape({vision.input(0).get_any_name(): [1, 3, height, width]})
    shape = vision.output(0).get_partial_shape()
    return int(shape[1].get_length()), int(shape[2].get_length())


# -- the remembered choices ----------------------------------------------------------------------------------


def _cache_file() -> Path:
    return paths.cache_dir() / CACHE_FILE


def _load_cache() -> dict[str, Any]:
    try:
        data = json.loads(_cache_file().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("version") != CACHE_VERSION:
        return {}
    choices = data.get("choices")
    return choices if isinstance(choices, dict) else {}


def _save_cache(choices: dict[str, Any]) -> None:
    try:
        write_json_atomic(_cache_file(), {"version": CACHE_VERSION, "choices": choices})
    except OSError:
        pass  # a read-only cache only costs a new measurement next time


def _remember(key: str, record: dict[str, Any]) -> None:
    with _lock:
        data = _load_cache()
        data[key] = record
        _save_cache(data)
