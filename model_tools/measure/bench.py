"""`model-tools bench --synthetic base`: PyTorch eager against our OpenVINO pipeline, in one process.

The synthetic models have blip-vqa-base's (and blip-image-captioning-base's) real architecture with random
weights drawn from N(0, 0.02). The end token's output bias is pushed far down, so both sides decode exactly
10 tokens for VQA and 20 for captions. Every figure is a median after warm-up; ratios come from one run.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from model_tools.synthetic.tiny_blip import (
    TEST_WORDS,
    bert_sized_vocab,
    blip_base_config,
    build_vocab,
    redraw_weights,
    save_image_processor,
    save_tokenizer,
    tiny_blip_config,
)

VQA_TOKENS = 10
CAPTION_TOKENS = 20
QUESTION = "what is the man sitting on in the picture?"
Log = Callable[[str], None]


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def median(values: list[float]) -> float:
    return float(statistics.median(values))


def build_synthetic(kind: str, task: str, folder: Path, seed: int = 0) -> Path:
    """Save a random BLIP with the real base architecture ("base") or a small one ("tiny")."""
    import torch
    from transformers import BlipForConditionalGeneration, BlipForQuestionAnswering

    if kind == "base":
        vocab = bert_sized_vocab()
        config = blip_base_config(vocab)
    else:
        vocab = build_vocab(TEST_WORDS)
        config = tiny_blip_config(vocab, hidden=64, image_size=64, patch_size=16, max_positions=64)
    torch.manual_seed(seed)
    cls = BlipForQuestionAnswering if task == "vqa" else BlipForConditionalGeneration
    model = cls(config).eval()
    redraw_weights(model, std=0.02, seed=seed)
    with torch.no_grad():
        # Never predict the end token: every run decodes exactly the requested number of tokens.
        model.text_decoder.cls.predictions.bias[config.text_config.sep_token_id] = -1.0e4
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder, safe_serialization=True)
    save_tokenizer(vocab, folder)
    save_image_processor(folder, config.vision_config.image_size)
    return folder


def bench_picture(size: int = 480) -> Any:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:size, 0:size]
    base = np.stack([x, y, (x + y) // 2], axis=-1) % 256
    noise = rng.integers(0, 40, (size, size, 3))
    return Image.fromarray((base + noise).clip(0, 255).astype("uint8"))


def _time(fn: Callable[[], Any], runs: int, warmup: int = 2) -> list[float]:
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def bench_pytorch(hf: Path, task: str, runs: int, image: Any) -> dict[str, Any]:
    """Eager PyTorch `generate` with preprocessing, end to end, plus its parts timed separately."""
    import torch
    from transformers import BlipForConditionalGeneration, BlipForQuestionAnswering, BlipProcessor

    torch.set_num_threads(os.cpu_count() or 1)
    processor = BlipProcessor.from_pretrained(hf)
    cls = BlipForQuestionAnswering if task == "vqa" else BlipForConditionalGeneration
    model = cls.from_pretrained(hf).eval()
    n = VQA_TOKENS if task == "vqa" else CAPTION_TOKENS
    tokens: list[int] = []

    def end_to_end() -> None:
        with torch.inference_mode():
            if task == "vqa":
                inputs = processor(images=image, text=QUESTION, return_tensors="pt")
            else:
                inputs = processor(images=image, return_tensors="pt")
            out = model.generate(**inputs, max_new_tokens=n)
        tokens[:] = out[0, 1:].tolist()

    total = _time(end_to_end, runs)
    assert len(tokens) == n, f"PyTorch decoded {len(tokens)} tokens, expected {n}"
    inputs = processor(images=image, text=QUESTION if task == "vqa" else None, return_tensors="pt")
    with torch.inference_mode():
        vision = _time(lambda: model.vision_model(pixel_values=inputs["pixel_values"]), runs)
        result: dict[str, Any] = {"vision_s": median(vision)}
        if task == "vqa":
            embeds = model.vision_model(pixel_values=inputs["pixel_values"])[0]
            enc = _time(
                lambda: model.text_encoder(input_ids=inputs["input_ids"], encoder_hidden_states=embeds), runs
            )
            result["text_encoder_s"] = median(enc)
    result["total_s"] = median(total)
    result["decode_s"] = result["total_s"] - result["vision_s"] - result.get("text_encoder_s", 0.0)
    result["tokens"] = tokens
    return result


def bench_openvino(
    folder: Path, task: str, runs: int, image: Any, precision: str, hints: dict[str, str] | None
) -> dict[str, Any]:
    """Our pipeline end to end (preprocessing included), with its own per-stage metrics."""
    from model_tools.runtime import load

    pipe = load(folder, precision, "CPU", hints=hints)
    n = VQA_TOKENS if task == "vqa" else CAPTION_TOKENS
    answers = []

    def ask() -> None:
        if task == "vqa":
            answers.append(pipe.ask(image, QUESTION, max_new_tokens=n))
        else:
            answers.append(pipe.caption(image, max_new_tokens=n))

    _time(ask, runs)
    measured = answers[-runs:]
    assert all(len(a.token_ids) == n for a in measured)
    m = [a.metrics for a in measured]
    return {
        "hints": pipe.hints,
        "setup": pipe.setup_label,
        "files": pipe.sources,
        "vision_s": median([x.vision_s for x in m]),
        "text_encoder_s": median([x.text_encoder_s for x in m]),
        "ttft_s": median([x.ttft_s for x in m]),
        "tpot_s": median([x.tpot_s for x in m]),
        "tokens_per_s": median([x.tokens_per_s for x in m]),
        "total_s": median([x.total_s for x in m]),
        "tokens": measured[-1].token_ids,
    }


def compile_times(folder: Path, precision: str = "fp16") -> dict[str, float]:
    """Load time without a compile cache, then with a warm one (fresh cache folder, filled once)."""
    from model_tools.runtime import load

    cold = time.perf_counter()
    load(folder, precision, cache=False)
    cold = time.perf_counter() - cold
    old = os.environ.get("GLIMPSE_CACHE_DIR")
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["GLIMPSE_CACHE_DIR"] = tmp
        try:
            load(folder, precision)  # fills the cache
            warm = time.perf_counter()
            load(folder, precision)
            warm = time.perf_counter() - warm
        finally:
            if old is None:
                os.environ.pop("GLIMPSE_CACHE_DIR", None)
            else:
                os.environ["GLIMPSE_CACHE_DIR"] = old
    return {"load_no_cache_s": cold, "load_warm_cache_s": warm, "cache_speedup": cold / warm}


def runtime_rss(folder: Path, task: str) -> float:
    """Peak resident memory (MB) of a fresh process that only loads our runtime and answers once."""
    code = (
        "from model_tools.measure.bench import bench_picture\nfrom model_tools.runtime import load\n"
        f"p = load({str(folder)!r})\n"
        + (f"p.ask(bench_picture(), {QUESTION!r}, max_new_tokens={VQA_TOKENS})\n" if task == "vqa"
           else f"p.caption(bench_picture(), max_new_tokens={CAPTION_TOKENS})\n")
        + "print(peak_rss_mb())"
    )
    out = subprocess.run([sys.executable, "-c", "from model_tools.measure.bench import peak_rss_mb\n" + code],
                         capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def peak_rss_mb() -> float:
    """This process's peak resident memory. Linux keeps ru_maxrss across exec, so read VmHWM there."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def fp16_hints() -> list[str]:
    from model_tools.runtime.devices import core

    caps = core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    return ["f32", "bf16"] if "BF16" in caps else ["f32"]


def run_bench(
    kind: str = "base", runs: int = 10, workdir: Path | None = None, int8: bool = True, log: Log = _stderr
) -> dict[str, Any]:
    from model_tools.convert.blip import convert
    from model_tools.jobs.requests import ConvertRequest
    from model_tools.runtime.devices import core

    tmp = None
    if workdir is None:
        tmp = tempfile.TemporaryDirectory(prefix="glimpse-bench-")
        workdir = Path(tmp.name)
    workdir = Path(workdir)
    image = bench_picture()
    report: dict[str, Any] = {
        "synthetic": kind,
        "runs": runs,
        "machine": {
            "cpu": str(core().get_property("CPU", "FULL_DEVICE_NAME")),
            "cores": os.cpu_count(),
            "python": platform.python_version(),
        },
        "tokens": {"vqa": VQA_TOKENS, "caption": CAPTION_TOKENS},
    }
    try:
        for task in ("vqa", "caption"):
            hf = workdir / f"{task}-hf"
            ir = workdir / f"{task}-ir"
            if not (hf / "config.json").is_file():
                log(f"[{task}] building a synthetic {kind} model")
                build_synthetic(kind, task, hf)
            if not (ir / "manifest.json").is_file():
                log(f"[{task}] converting with our converter")
                t = time.perf_counter()
                convert(ConvertRequest(str(hf), ir, overwrite=True))
                report.setdefault("convert_s", {})[task] = time.perf_counter() - t
            log(f"[{task}] PyTorch eager, {runs} runs")
            torch_result = bench_pytorch(hf, task, runs, image)
            section: dict[str, Any] = {"pytorch": torch_result, "openvino_fp16": {}}
            for hint in fp16_hints():
                log(f"[{task}] OpenVINO FP16, INFERENCE_PRECISION_HINT={hint}, {runs} runs")
                section["openvino_fp16"][hint] = bench_openvino(ir, task, runs, image, "fp16", {"*": hint})
            best = min(section["openvino_fp16"], key=lambda h: section["openvino_fp16"][h]["total_s"])
            section["best_fp16_hint"] = best
            fp16 = section["openvino_fp16"][best]
            section["tokens_match_pytorch"] = section["openvino_fp16"]["f32"]["tokens"] == torch_result["tokens"]
            section["speedup_fp16_vs_pytorch"] = torch_result["total_s"] / fp16["total_s"]
            if int8:
                section.update(_int8_section(ir, task, runs, image, torch_result, fp16, log))
            report[task] = section
        log("compile times and memory")
        report["compile"] = compile_times(workdir / "vqa-ir")
        report["memory"] = {
            "bench_process_peak_rss_mb": peak_rss_mb(),
            "runtime_only_peak_rss_mb_vqa": runtime_rss(workdir / "vqa-ir", "vqa"),
        }
    finally:
        if tmp is not None:
            tmp.cleanup()
    for task in ("vqa", "caption"):
        for sec in report[task]["openvino_fp16"].values():
            sec.pop("tokens", None)
        report[task]["pytorch"].pop("tokens", None)
        report[task].get("openvino_int8", {}).pop("tokens", None)
    return report


def _int8_section(
    ir: Path, task: str, runs: int, image: Any, torch_result: dict[str, Any], fp16: dict[str, Any], log: Log
) -> dict[str, Any]:
    """Quantize with our own code on synthetic calibration data, then time INT8 like FP16."""
    try:
        import model_tools.quantize.blip  # noqa: F401
    except ImportError:
        log("INT8: model_tools.quantize.blip is not available; skipped")
        return {}
    return dict(bench_int8(ir, task, runs, image, torch_result, fp16, log))


BENCH_SUBSET_SIZE = 32


def bench_int8(
    ir: Path,
    task: str,
    runs: int,
    image: Any,
    torch_result: dict[str, Any],
    fp16: dict[str, Any],
    log: Log = print,
    *,
    subset_size: int = BENCH_SUBSET_SIZE,
    requantize: bool = False,
) -> dict[str, Any]:
    """INT8 rows for `model-tools bench`: quantize the converted synthetic model `ir` with our own code on
    built-in synthetic calibration data (generated shape pictures), then time it like FP16.

    `torch_result` and `fp16` are `run_bench`'s PyTorch and best-FP16 results from the same run (seconds).
    Returns keys to merge into the task's section: "openvino_int8" (same fields as the FP16 rows),
    "int8_quantize", "sizes_bytes", "compression", "parts_ms", "parts_speedup", "head_to_head",
    "speedup_int8_vs_fp16", "speedup_int8_vs_pytorch", "targets".
    """
    from model_tools.jobs.requests import QuantizeRequest
    from model_tools.library.store import component_sizes
    from model_tools.measure.compare import head_to_head, part_latencies
    from model_tools.quantize.blip import PRECISION, quantize
    from model_tools.runtime.model_folder import ConvertedModel

    ir = Path(ir)
    model = ConvertedModel.open(ir)
    made = model.spec.precisions[PRECISION].made if model.has(PRECISION) else {}
    reuse = not requantize and made.get("calibration", {}).get("samples") == subset_size
    t = time.perf_counter()
    if reuse:
        log(f"[{task}] INT8: reusing {ir / PRECISION}")
    else:
        log(
            f"[{task}] INT8: quantizing with our code on {subset_size} built-in synthetic calibration samples"
        )
        request = QuantizeRequest(ir, calibration="builtin", subset_size=subset_size)
        quantize(request, on_progress=_stage_logger(log, task))
    quantize_s = time.perf_counter() - t
    model = ConvertedModel.open(ir)

    log(f"[{task}] OpenVINO INT8 (files and hints as this CPU's policy chooses), {runs} runs")
    int8 = bench_openvino(ir, task, runs, image, PRECISION, None)
    # What the policy's rule rests on: INT8 files with each hint this CPU offers, in the same run.
    by_hint = {}
    for hint in fp16_hints():
        log(f"[{task}] OpenVINO INT8 files, INFERENCE_PRECISION_HINT={hint}, {runs} runs")
        timed = bench_openvino(ir, task, runs, image, PRECISION, {"*": hint})
        by_hint[hint] = {k: timed[k] for k in ("vision_s", "text_encoder_s", "tpot_s", "total_s")}
    sizes = {p: component_sizes(model, p) for p in ("fp16", PRECISION)}
    compression = {c: round(sizes["fp16"][c] / sizes[PRECISION][c], 3) for c in sizes["fp16"]}

    log(f"[{task}] each part alone, FP16 vs INT8, {runs} runs")
    parts = {
        "fp16": part_latencies(ir, "fp16", fp16.get("hints") or {"*": "f32"}, runs=runs),
        PRECISION: part_latencies(ir, PRECISION, int8["hints"], runs=runs),
    }
    parts_speedup = {p: round(parts["fp16"][p] / parts[PRECISION][p], 3) for p in parts["fp16"]}

    n = VQA_TOKENS if task == "vqa" else CAPTION_TOKENS
    log(f"[{task}] head to head, FP16 and INT8 taking turns, {runs} runs each")
    h2h = head_to_head(
        ir,
        image,
        QUESTION if task == "vqa" else None,
        n,
        runs,
        {"fp16": fp16.get("hints") or {"*": "f32"}, PRECISION: int8["hints"]},
    )
    speedup = fp16["total_s"] / int8["total_s"]
    targets = {
        "compression_min": min(v for k, v in compression.items() if k != "total"),
        "compression_ok": all(v >= 1.95 for v in compression.values()),
        "speedup_vs_fp16_goal": 1.7 if task == "vqa" else 1.5,
        "speedup_vs_fp16_ok": speedup >= (1.7 if task == "vqa" else 1.5),
    }
    if task == "vqa":
        targets["speedup_vs_pytorch_goal"] = 8.0
        targets["speedup_vs_pytorch_ok"] = torch_result["total_s"] / int8["total_s"] >= 8.0
    return {
        "openvino_int8": int8,
        "openvino_int8_by_hint": by_hint,
        "int8_quantize": {
            "seconds": round(quantize_s, 1),
            "reused": reuse,
            "calibration": "builtin (shapes)",
            "subset_size": subset_size,
        },
        "sizes_bytes": sizes,
        "compression": compression,
        "parts_ms": parts,
        "parts_speedup": parts_speedup,
        "head_to_head": h2h,
        "speedup_int8_vs_fp16": speedup,
        "speedup_int8_vs_pytorch": torch_result["total_s"] / int8["total_s"],
        "targets": targets,
    }


def _stage_logger(log: Log, task: str) -> Callable[[Any], None]:
    """Log each stage once, with its duration, instead of every sample."""
    state: dict[str, Any] = {"stage": None, "t": time.perf_counter()}

    def on_progress(p: Any) -> None:
        if p.stage != state["stage"]:
            now = time.perf_counter()
            if state["stage"] is not None:
                log(f"[{task}]   {state['stage']}: {now - state['t']:.1f}s")
            state.update(stage=p.stage, t=now)

    return on_progress


def table(report: dict[str, Any]) -> str:
    """A plain-text summary of the report."""
    lines = [f"Synthetic BLIP ({report['synthetic']}), medians of {report['runs']} runs, {report['machine']['cpu']}"]
    head = f"{'':28}{'vision':>10}{'text enc':>10}{'TTFT':>10}{'total':>10}{'speed-up':>10}"
    for task in ("vqa", "caption"):
        sec = report[task]
        n = report["tokens"][task]
        lines += ["", f"{task.upper()} ({n} tokens)", head]
        pt = sec["pytorch"]
        rows = [("PyTorch eager", pt, 1.0)]
        for hint, r in sec["openvino_fp16"].items():
            rows.append((f"OpenVINO FP16 ({hint})", r, pt["total_s"] / r["total_s"]))
        if "openvino_int8" in sec:
            rows.append(("OpenVINO INT8", sec["openvino_int8"], pt["total_s"] / sec["openvino_int8"]["total_s"]))
        for hint, r in sec.get("openvino_int8_by_hint", {}).items():
            rows.append((f"  INT8 files, {hint}", r, pt["total_s"] / r["total_s"]))
        for label, r, speed in rows:
            ms = [r.get("vision_s", 0) * 1e3, r.get("text_encoder_s", 0) * 1e3, r.get("ttft_s", 0) * 1e3, r["total_s"] * 1e3]
            lines.append(f"{label:28}" + "".join(f"{v:>8.1f}ms" for v in ms) + f"{speed:>9.2f}x")
        lines.append(f"tokens identical to PyTorch (f32): {sec['tokens_match_pytorch']}")
    c = report["compile"]
    lines += ["", f"compile: {c['load_no_cache_s']:.2f}s without cache, {c['load_warm_cache_s']:.2f}s with "
                  f"({c['cache_speedup']:.1f}x)",
              f"peak RSS: runtime only {report['memory']['runtime_only_peak_rss_mb_vqa']:.0f} MB, "
              f"bench process {report['memory']['bench_process_peak_rss_mb']:.0f} MB"]
    return "\n".join(lines)


def dump(report: dict[str, Any]) -> str:
    return json.dumps(report, indent=2)


def prepare_folders(
    workdir: Path,
    hf: Path | None,
    precisions: tuple[str, ...],
    *,
    build: Callable[[Path], Any],
    built: tuple[str, ...],
    quantize_request: Callable[[Path, str], Any],
    log: Callable[[str], None],
) -> dict[str, float]:
    """What the synthetic benches share: build the checkpoint `workdir/hf` with `build` (unless `hf` is given,
    or its `built` files are there), convert it into `workdir/ir`, add each quantized precision with
    `quantize_request(ir, precision)`. A stage whose result is there already is reused (its time is then
    absent); returns seconds per stage run."""
    from model_tools.convert import convert
    from model_tools.jobs.requests import ConvertRequest
    from model_tools.quantize import quantize
    from model_tools.runtime.model_folder import ConvertedModel

    workdir = Path(workdir)
    stages: dict[str, float] = {}
    if hf is None:
        hf = workdir / "hf"
        if not all((hf / name).is_file() for name in built):
            t = time.perf_counter()
            build(hf)
            stages["build_s"] = time.perf_counter() - t
    ir = workdir / "ir"
    if not (ir / "manifest.json").is_file():
        log(f"converting with our converter into {ir}")
        t = time.perf_counter()
        convert(ConvertRequest(str(hf), ir, overwrite=True))
        stages["convert_s"] = time.perf_counter() - t
    for precision in precisions:
        if precision == "fp16" or ConvertedModel.open(ir).has(precision):
            continue
        t = time.perf_counter()
        quantize(quantize_request(ir, precision))
        stages[f"quantize_{precision}_s"] = time.perf_counter() - t
    return stages
