"""What each model part runs with on this machine: which file (precision folder) and which precision hint.

The choice is a rule over what the hardware can do, never a timing race, so the same machine gives the same
answer every time (a race between near-equal timings flipped from load to load and changed answers):

* CPU hint (OpenVINO's INFERENCE_PRECISION_HINT): parts from FP16 files run `bf16` where the CPU has BF16
  (OpenVINO's own default there, about 2.5x faster than f32), else `f32`. Parts from INT8 files run `f32`:
  with bf16 the ops around the INT8 matrix products convert back and forth, and INT8 becomes slower than FP16.
* INT8 files on CPU: every part where the CPU has 8-bit dot-product instructions (AVX-512 VNNI, AVX-VNNI or
  AMX-INT8). Without them (AVX2 only) INT8 matrix products of the compute-bound parts (vision, question
  encoder, a segment model's image encoder) are slower than FP16's, so those run their FP16 files; the
  memory-bound decoder keeps INT8 (a segment model's prompt decoder is FP16 in int8/ too).
* GPU: f16, the precision's own files. Other devices: their defaults.
* AUTO, MULTI and HETERO: the rule of each device they may use, passed through DEVICE_PROPERTIES; the files
  follow the device AUTO picks (or MULTI/HETERO list first), and AUTO's CPU start-up fallback is off, so
  AUTO on a CPU-only machine answers exactly as CPU does.
* `exact=True` ("exact precision" in the settings, and Compare): every part from the precision's own files,
  at full precision (f32 on CPU). `hints` (tests, benchmarks) pin the hint per part, files as `exact`.
* GLIMPSE_PRECISION_HINT=f32|bf16|f16 overrides the hint of every part (for experiments).

`plan()` returns the choice with the reason for each part; `setup_label()` says it in a few words, e.g.
"INT8 · vision, question encoder FP16 on this CPU". Imports only the standard library (and openvino via
`devices.core()` when asked about a device).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from model_tools.runtime.model_folder import (
    CROSS_KV,
    DECODER,
    SEGMENT_DECODER,
    SEGMENT_ENCODER,
    TEXT_ENCODER,
    VISION,
)

log = logging.getLogger("glimpse.policy")

ENV_VAR = "GLIMPSE_PRECISION_HINT"
HINTS = ("f32", "bf16", "f16")
VNNI_FLAGS = ("avx512_vnni", "avx_vnni", "amx_int8")
REPORTED_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_bf16", "amx_int8")
COMPUTE_BOUND = (VISION, TEXT_ENCODER, SEGMENT_ENCODER)  # parts whose INT8 gains need 8-bit dot products
PART_LABELS = {
    VISION: "vision",
    TEXT_ENCODER: "question encoder",
    CROSS_KV: "cross-attention",
    DECODER: "decoder",
    SEGMENT_ENCODER: "image encoder",
    SEGMENT_DECODER: "prompt decoder",
}


@dataclass(frozen=True)
class Hardware:
    """What one device can do, as far as the policy cares."""

    family: str  # CPU | GPU | NPU | ...
    bf16: bool = False  # OpenVINO lists BF16 among the device's OPTIMIZATION_CAPABILITIES
    int8_dot: bool = True  # 8-bit dot-product instructions (VNNI / AMX); True off CPU


@dataclass(frozen=True)
class PartSetup:
    """How one part runs: the precision folder its file comes from, its hint (None: the device's default)."""

    part: str
    source: str
    hint: str | None
    why: str


# -- the hardware ----------------------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags from /proc/cpuinfo (empty where there is none: not Linux)."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith(("flags", "Features")):
            return frozenset(line.split(":", 1)[1].split())
    return frozenset()


def capabilities(device: str) -> list[str]:
    """OpenVINO's OPTIMIZATION_CAPABILITIES of a hardware device (empty if it cannot say)."""
    from model_tools.runtime.devices import core

    try:
        return [str(c).upper() for c in core().get_property(device, "OPTIMIZATION_CAPABILITIES")]
    except RuntimeError:
        return []


def hardware(device: str) -> Hardware:
    """The policy's view of a hardware device such as CPU or GPU.0."""
    family = device.split(".")[0]
    if family != "CPU":
        return Hardware(family)
    flags = cpu_flags()
    # Without /proc/cpuinfo we cannot tell; INT8 everywhere is then the plain reading of "INT8".
    int8_dot = not flags or any(f in flags for f in VNNI_FLAGS)
    return Hardware("CPU", bf16="BF16" in capabilities(device), int8_dot=int8_dot)


def targets(device: str) -> list[str]:
    """The hardware devices behind `device`, the one whose rule decides the files first.

    AUTO picks a GPU where there is one, else the CPU (AUTO:A,B and MULTI:/HETERO: name theirs, in order).
    """
    if ":" in device:
        return [d.strip() for d in device.split(":", 1)[1].split(",") if d.strip()]
    if device != "AUTO":
        return [device]
    from model_tools.runtime.devices import core

    found = [str(d) for d in core().available_devices]
    gpus = [d for d in found if d.startswith("GPU")]
    return gpus + [d for d in found if d.startswith("CPU")] or found


def is_virtual(device: str) -> bool:
    return device.split(":")[0] in ("AUTO", "MULTI", "HETERO")


# -- the rule ------------------------------------------------------------------------------------------------


def env_hint() -> str | None:
    """GLIMPSE_PRECISION_HINT if it names a hint; anything else is ignored, with a warning."""
    raw = os.environ.get(ENV_VAR, "").strip().lower()
    if not raw or raw in ("auto", "default"):
        return None
    if raw in HINTS:
        return raw
    log.warning("Ignoring %s=%s: use one of %s.", ENV_VAR, raw, ", ".join(HINTS))
    return None


def check_hints(hints: dict[str, str]) -> None:
    """Refuse a hint OpenVINO does not know, naming it (OpenVINO's own message blames the device)."""
    for part, hint in hints.items():
        if hint not in HINTS:
            raise ValueError(f"Unknown precision hint {hint!r} for {part}: use one of {', '.join(HINTS)}.")


def hint_for(hw: Hardware, source: str, exact: bool) -> str | None:
    if hw.family == "CPU":
        return "bf16" if hw.bf16 and source == "fp16" and not exact else "f32"
    if hw.family == "GPU":
        return "f32" if exact else "f16"
    return None


def part_setup(hw: Hardware, precision: str, part: str, has_fp16: bool, exact: bool) -> PartSetup:
    """The rule for one part on one hardware device."""
    source, file_why = precision, "its own file"
    if exact:
        file_why = "exact precision"
    elif precision == "int8" and hw.family == "CPU" and not hw.int8_dot and part in COMPUTE_BOUND and has_fp16:
        source, file_why = "fp16", "no VNNI on this CPU: INT8 matrix products are slower than FP16 here"
    hint = hint_for(hw, source, exact)
    if hw.family != "CPU":
        hint_why = "the device's precision"
    elif exact:
        hint_why = "full precision"
    elif hint == "bf16":
        hint_why = "the CPU has BF16"
    elif source == "int8" and hw.bf16:
        hint_why = "INT8 is slower with bf16 around it"
    else:
        hint_why = "the CPU has no BF16"
    return PartSetup(part, source, hint, f"{file_why}; {hint or 'default'}: {hint_why}")


def plan(
    precision: str,
    device: str,
    parts: list[str],
    *,
    has_fp16: bool = True,
    exact: bool = False,
    hints: dict[str, str] | None = None,
) -> tuple[dict[str, PartSetup], dict[str, dict[str, object]]]:
    """Per part, its setup; and the compile config per part for `device` (DEVICE_PROPERTIES for AUTO & co).

    The files follow the first of `targets(device)`; every target gets its own hint rule.
    """
    if hints:
        check_hints(hints)
    forced = env_hint()
    devices = targets(device)
    machines = {d: hardware(d) for d in devices}
    lead = machines[devices[0]] if devices else Hardware(device)
    setups: dict[str, PartSetup] = {}
    configs: dict[str, dict[str, object]] = {}
    for part in parts:
        pinned = (hints or {}).get(part) or (hints or {}).get("*")
        setup = part_setup(lead, precision, part, has_fp16, exact or bool(pinned))
        hint_of = {d: pinned or forced or hint_for(hw, setup.source, exact) for d, hw in machines.items()}
        if pinned:
            setup = PartSetup(part, precision, pinned, "pinned by the caller")
        elif forced:
            setup = PartSetup(part, setup.source, forced, f"{ENV_VAR}={forced}")
        else:
            setup = PartSetup(part, setup.source, hint_of.get(devices[0]) if devices else None, setup.why)
        setups[part] = setup
        if is_virtual(device):
            config: dict[str, object] = {
                "DEVICE_PROPERTIES": {d: {"INFERENCE_PRECISION_HINT": h} for d, h in hint_of.items() if h}
            }
            if device.startswith("AUTO"):
                config["ENABLE_STARTUP_FALLBACK"] = False  # a CPU start while the GPU compiles answers otherwise
        else:
            config = {"INFERENCE_PRECISION_HINT": setup.hint} if setup.hint else {}
        configs[part] = config
    return setups, configs


def setup_label(precision: str, device: str, setups: dict[str, PartSetup], exact: bool = False) -> str:
    """A few words for the window and the CLI, e.g. "INT8 · vision, question encoder FP16 on this CPU"."""
    words = [precision.upper()]
    others = [PART_LABELS.get(p, p) for p, s in setups.items() if s.source != precision]
    if others:
        where = "this CPU" if targets(device)[:1] == ["CPU"] or device == "CPU" else device
        words.append(f"{', '.join(others)} {setups_source(setups, precision).upper()} on {where}")
    if exact:
        words.append("exact")
    found = sorted({s.hint for s in setups.values() if s.hint})
    if found:
        words.append(" / ".join(found))
    return " · ".join(words)


def setups_source(setups: dict[str, PartSetup], precision: str) -> str:
    return next((s.source for s in setups.values() if s.source != precision), precision)


def report(device: str = "CPU") -> dict[str, object]:
    """What the policy sees and chooses on `device`, for `model-tools doctor` and the test header."""
    flags = cpu_flags()
    out: dict[str, object] = {
        "cpu_flags": [f for f in REPORTED_FLAGS if f in flags],
        "devices": {d: {"capabilities": capabilities(d), **vars(hardware(d))} for d in targets(device)},
        "env": env_hint(),
    }
    rules: dict[str, dict[str, str]] = {}
    for precision in ("fp16", "int8"):
        setups, _ = plan(precision, device, [VISION, TEXT_ENCODER, CROSS_KV, DECODER])
        rules[precision] = {p: f"{s.source.upper()} file, {s.hint or 'default'} ({s.why})" for p, s in setups.items()}
        rules[precision]["label"] = setup_label(precision, device, setups)
    out["policy"] = rules
    return out
