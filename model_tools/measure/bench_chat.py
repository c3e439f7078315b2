"""`model-tools bench --synthetic llava-small`: PyTorch eager against our chat pipeline, FP16 / INT8 / INT4.

The synthetic model has llava-interleave-qwen-0.5b's shapes (SigLIP so400m at 384 px, 729 image tokens; Qwen2
0.5B) with random weights (`synthetic/llava_small.py`). It is built, converted with our converter and quantized
with our quantizer in a child process, once: the folders stay under the scratch folder and a second run reuses
them. Then, in one process, each side answers the same question about one picture with exactly `new_tokens`
tokens (PyTorch: `min_new_tokens`; VLMPipeline: `ignore_eos`): TTFT, TPOT, tokens/s, end-to-end time (medians
after a warm-up) and the peak resident memory of each side (the high-water mark is reset before each, where
Linux allows). The INT4 language model's step is set against this machine's memory-bandwidth limit: the bytes
of its weights (read once per token) over a bandwidth measured in the same run (numpy copies on every core).
"""

from __future__ import annotations

import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from model_tools.measure.bench import bench_picture, fp16_hints, peak_rss_mb, prepare_folders
from model_tools.runtime.chat.pipeline import ATTENTION_BACKEND

KIND = "llava-small"
NEW_TOKENS = 64
RUNS = 3
QUESTION = "describe this picture in detail"
PRECISIONS = ("fp16", "int8", "int4")
TARGET_LIMIT_RATIO = 1.5  # INT4 TPOT within 1.5x of the bandwidth limit
TARGET_SPEEDUP = 3.0  # INT4 at least 3x PyTorch eager end to end
LANGUAGE_BIN = "openvino_language_model.bin"
OTHER_ATTENTION = "SDPA" if ATTENTION_BACKEND == "PA" else "PA"
Log = Callable[[str], None]


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _median(values: list[float]) -> float:
    return float(statistics.median(values))


# -- the model folders ---------------------------------------------------------------------------------------


def prepare(workdir: Path, hf: Path | None = None, precisions: tuple[str, ...] = PRECISIONS,
            log: Log = _stderr) -> dict[str, Any]:
    """Build (unless `hf` is given), convert and quantize what is missing under `workdir`; seconds per stage.

    `workdir/hf` is the synthetic llava-small checkpoint, `workdir/ir` our chat model folder with each of
    `precisions`. A stage whose result is there already is reused (its time is then absent).
    """
    from model_tools.jobs.requests import QuantizeRequest

    def build(folder: Path) -> None:
        from model_tools.synthetic.llava_small import make_llava

        log(f"[{KIND}] building a random LLaVA of llava-interleave-qwen-0.5b's shapes in {folder}")
        make_llava(folder)

    def request(ir: Path, precision: str) -> QuantizeRequest:
        log(f"[{KIND}] quantizing the weights to {precision.upper()} with our quantizer")
        return QuantizeRequest(ir, weights=precision)

    return prepare_folders(workdir, hf, precisions, build=build, built=("model.safetensors", "processor_config.json"),
                           quantize_request=request, log=lambda msg: log(f"[{KIND}] {msg}"))


def prepare_in_child(workdir: Path, hf: Path | None, precisions: tuple[str, ...]) -> dict[str, Any]:
    """`prepare` in a child process, so that the bench process starts without the export's memory."""
    source = f"Path({str(hf)!r})" if hf is not None else "None"
    code = (
        "import json\nfrom pathlib import Path\nfrom model_tools.measure.bench_chat import prepare\n"
        f"print(json.dumps(prepare(Path({str(workdir)!r}), {source}, {tuple(precisions)!r})))"
    )
    done = subprocess.run([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, check=True)
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


# -- the machine -------------------------------------------------------------------------------------------


def memory_bandwidth(size_mb: int = 1024, repeats: int = 5, threads: int | None = None) -> dict[str, Any]:
    """Copy bandwidth in GB/s (bytes read + bytes written, as STREAM counts a copy), best of `repeats`.

    numpy releases the GIL while it copies, so `threads` threads (default: every core) each copy their slice.
    """
    import numpy as np

    threads = threads or os.cpu_count() or 1
    src = np.ones(size_mb * 2**20 // 8)
    dst = np.zeros_like(src)  # both touched: no page faults inside the timing
    bounds = np.linspace(0, src.size, threads + 1, dtype=np.int64)
    slices = [(dst[a:b], src[a:b]) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    result: dict[str, Any] = {"method": "numpy copy", "array_mb": size_mb}
    for n, label in ((1, "one_thread_GBps"), (threads, "all_threads_GBps")):
        best = float("inf")
        for _ in range(repeats):
            parts = slices if n > 1 else [(dst, src)]
            workers = [threading.Thread(target=np.copyto, args=pair) for pair in parts]
            t = time.perf_counter()
            for w in workers:
                w.start()
            for w in workers:
                w.join()
            best = min(best, time.perf_counter() - t)
        result[label] = 2 * src.nbytes / best / 1e9
    result["threads"] = threads
    result["GBps"] = max(result["one_thread_GBps"], result["all_threads_GBps"])
    return result


def reset_peak_rss() -> bool:
    """Reset this process's peak resident memory (Linux: `5` into /proc/self/clear_refs); False if it cannot."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def rss_mb() -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return peak_rss_mb()


def _release() -> None:
    """Give freed memory back to the system before the next side is measured."""
    gc.collect()
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def machine() -> dict[str, Any]:
    from model_tools.runtime.devices import core
    from model_tools.runtime.precision import REPORTED_FLAGS, capabilities, cpu_flags

    flags = cpu_flags()
    return {
        "cpu": str(core().get_property("CPU", "FULL_DEVICE_NAME")),
        "cores": os.cpu_count(),
        "cpu_flags": [f for f in REPORTED_FLAGS if f in flags],
        "openvino_capabilities": capabilities("CPU"),
        "python": platform.python_version(),
    }


# -- the two sides -----------------------------------------------------------------------------------------


def bench_pytorch(hf: Path, image: Any, new_tokens: int, runs: int, warmup: int = 1) -> dict[str, Any]:
    """Eager PyTorch (float32) `generate` with the processor, end to end; TTFT and TPOT from a streamer."""
    import torch
    from transformers import AutoProcessor, LlavaForConditionalGeneration
    from transformers.generation.streamers import BaseStreamer

    torch.set_num_threads(os.cpu_count() or 1)
    t = time.perf_counter()
    processor = AutoProcessor.from_pretrained(hf)
    model = LlavaForConditionalGeneration.from_pretrained(hf, dtype=torch.float32).eval()
    load_s = time.perf_counter() - t
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": QUESTION}]}]
    prompt = processor.apply_chat_template(messages, add_generation_prompt=True)

    class Clock(BaseStreamer):
        """The time of each `put`: the prompt first, then every new token."""

        def __init__(self) -> None:
            self.times: list[float] = []

        def put(self, value: Any) -> None:
            self.times.append(time.perf_counter())

        def end(self) -> None:
            pass

    rows = []
    for i in range(warmup + runs):
        clock = Clock()
        t0 = time.perf_counter()
        with torch.inference_mode():
            inputs = processor(images=image, text=prompt, return_tensors="pt")
            out = model.generate(
                **inputs, max_new_tokens=new_tokens, min_new_tokens=new_tokens, do_sample=False, streamer=clock
            )
        total = time.perf_counter() - t0
        n = out.shape[1] - inputs["input_ids"].shape[1]
        if n != new_tokens:
            raise AssertionError(f"PyTorch decoded {n} tokens, expected {new_tokens}")
        if i >= warmup:
            first, last = clock.times[1], clock.times[-1]
            rows.append({"ttft_s": first - t0, "tpot_s": (last - first) / max(1, n - 1), "total_s": total, "tokens": n})
    image_tokens = int((inputs["input_ids"] == model.config.image_token_index).sum())
    del model
    return {
        **_medians(rows),
        "load_s": load_s,
        "prompt_tokens": int(inputs["input_ids"].shape[1]),
        "image_tokens": image_tokens,
        "dtype": "float32",
        "threads": torch.get_num_threads(),
    }


def bench_openvino(ir: Path, precision: str, image: Any, new_tokens: int, runs: int, warmup: int = 1,
                   hints: dict[str, str] | None = None, attention: str | None = None) -> dict[str, Any]:
    """Our ChatPipeline (VLMPipeline) as the app runs it, each answer in a new conversation, EOS ignored.

    `hints` pins the precision hint (default: the policy's choice for this CPU); `attention` genai's
    attention backend (default: the app's)."""
    from model_tools.runtime import load

    t = time.perf_counter()
    pipe = load(ir, precision, "CPU", hints=hints, **({"attention": attention} if attention else {}))
    load_s = time.perf_counter() - t
    config = pipe.vlm.get_generation_config()
    config.max_new_tokens = new_tokens  # ignore_eos needs a length; ask() sets it again
    config.ignore_eos = True  # kept: ask() starts from the pipeline's generation config
    pipe.vlm.set_generation_config(config)
    rows = []
    for i in range(warmup + runs):
        pipe.reset()
        t0 = time.perf_counter()
        answer = pipe.ask(image, QUESTION, max_new_tokens=new_tokens)
        total = time.perf_counter() - t0
        n = len(answer.token_ids)
        if n != new_tokens:
            raise AssertionError(f"OpenVINO {precision} decoded {n} tokens, expected {new_tokens}")
        if i >= warmup:
            m = answer.metrics
            rows.append({"ttft_s": m.ttft_s, "tpot_s": m.tpot_s, "total_s": total, "vision_s": m.vision_s, "tokens": n})
    result = {**_medians(rows), "load_s": load_s, "setup": pipe.setup_label, "hints": pipe.hints,
              "attention": attention or ATTENTION_BACKEND}
    del pipe
    return result


def _medians(rows: list[dict[str, float]]) -> dict[str, Any]:
    out: dict[str, Any] = {k: _median([r[k] for r in rows]) for k in rows[0] if k != "tokens"}
    out["tokens"] = int(rows[0]["tokens"])
    out["tokens_per_s"] = out["tokens"] / out["total_s"]
    out["decode_tokens_per_s"] = 1.0 / out["tpot_s"] if out["tpot_s"] > 0 else 0.0
    return out


def measured(fn: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Run one side with the peak-RSS mark reset first; its peak and the resident memory it started from."""
    _release()
    before = rss_mb()
    reset = reset_peak_rss()
    result = fn()
    result["peak_rss_mb"] = peak_rss_mb()
    result["rss_before_mb"] = before
    result["peak_rss_is_this_side_only"] = reset
    _release()
    return result


# -- the report --------------------------------------------------------------------------------------------


def run_bench(
    kind: str = KIND,
    runs: int = RUNS,
    workdir: Path | None = None,
    *,
    hf: Path | None = None,
    new_tokens: int = NEW_TOKENS,
    precisions: tuple[str, ...] = PRECISIONS,
    picture_size: int = 480,
    bandwidth_mb: int = 1024,
    log: Log = _stderr,
) -> dict[str, Any]:
    """The whole benchmark; `hf` benchmarks another LLaVA checkpoint (the tests' tiny one) the same way."""
    from model_tools.runtime.model_folder import ConvertedModel
    from model_tools.runtime.paths import scratch_dir

    if kind != KIND and hf is None:
        raise ValueError(f"unknown synthetic chat model {kind!r}")
    workdir = Path(workdir) if workdir is not None else scratch_dir(f"bench-{kind}")
    t = time.perf_counter()
    stages = prepare_in_child(workdir, hf, precisions)
    stages["prepare_total_s"] = time.perf_counter() - t
    hf = hf or workdir / "hf"
    ir = workdir / "ir"
    image = bench_picture(picture_size)
    report: dict[str, Any] = {
        "synthetic": kind,
        "shapes": _shapes(hf),
        "runs": runs,
        "new_tokens": new_tokens,
        "question": QUESTION,
        "picture": [picture_size, picture_size],
        "machine": machine(),
        "workdir": str(workdir),
        "stages": stages,
    }
    log(f"[{kind}] memory bandwidth")
    report["memory_bandwidth"] = memory_bandwidth(bandwidth_mb)
    log(f"[{kind}] PyTorch eager, {runs} runs of {new_tokens} tokens")
    report["pytorch"] = measured(lambda: bench_pytorch(hf, image, new_tokens, runs))
    for precision in precisions:
        log(f"[{kind}] OpenVINO {precision.upper()}, {runs} runs of {new_tokens} tokens")
        report[f"openvino_{precision}"] = measured(lambda p=precision: bench_openvino(ir, p, image, new_tokens, runs))
    # What the policy's hint rests on: the quantized files with the other hint this CPU offers, same run.
    by_hint: dict[str, Any] = {}
    for precision in (p for p in precisions if p != "fp16"):
        chosen = set(report[f"openvino_{precision}"]["hints"].values())
        for hint in (h for h in fp16_hints() if h not in chosen):
            log(f"[{kind}] OpenVINO {precision.upper()} files, INFERENCE_PRECISION_HINT={hint}, {runs} runs")
            by_hint[f"{precision}_{hint}"] = measured(
                lambda p=precision, h=hint: bench_openvino(ir, p, image, new_tokens, runs, hints={"*": h})
            )
    report["openvino_by_hint"] = by_hint
    # The app's attention backend (PA) against the other one genai offers (SDPA), on the same files, same run.
    by_attention: dict[str, Any] = {}
    for precision in (p for p in precisions if p != "fp16"):
        log(f"[{kind}] OpenVINO {precision.upper()}, ATTENTION_BACKEND={OTHER_ATTENTION}, {runs} runs")
        by_attention[f"{precision}_{OTHER_ATTENTION}"] = measured(
            lambda p=precision: bench_openvino(ir, p, image, new_tokens, runs, attention=OTHER_ATTENTION)
        )
    report["openvino_by_attention"] = by_attention
    model = ConvertedModel.open(ir)
    report["sizes_bytes"] = {p: _sizes(model.path / p) for p in precisions}
    report["ratios"] = _ratios(report, precisions)
    if "int4" in precisions:
        report["int4_vs_bandwidth"] = _bandwidth_limit(report)
    report["bench_process_peak_rss_mb"] = peak_rss_mb()
    return report


def _shapes(hf: Path) -> dict[str, Any]:
    config = json.loads((Path(hf) / "config.json").read_text(encoding="utf-8"))
    v, t = config["vision_config"], config["text_config"]
    return {
        "vision": f"{v.get('model_type')} hidden {v.get('hidden_size')}, {v.get('num_hidden_layers')} layers, "
                  f"{v.get('num_attention_heads')} heads, {v.get('image_size')} px / {v.get('patch_size')} px patches",
        "text": f"{t.get('model_type')} hidden {t.get('hidden_size')}, {t.get('num_hidden_layers')} layers, "
                f"{t.get('num_attention_heads')} heads, {t.get('num_key_value_heads')} KV heads, "
                f"intermediate {t.get('intermediate_size')}, vocab {t.get('vocab_size')}, "
                f"tied {t.get('tie_word_embeddings', config.get('tie_word_embeddings'))}",
        "vision_feature_select_strategy": config.get("vision_feature_select_strategy"),
        "vision_feature_layer": config.get("vision_feature_layer"),
        "projector_hidden_act": config.get("projector_hidden_act"),
    }


def _sizes(folder: Path) -> dict[str, int]:
    """Bytes of each part's weights (.bin) in one precision folder, and their total."""
    sizes = {p.stem.removeprefix("openvino_"): p.stat().st_size for p in sorted(folder.glob("openvino_*_model.bin"))}
    sizes["total"] = sum(sizes.values())
    return sizes


def _ratios(report: dict[str, Any], precisions: tuple[str, ...]) -> dict[str, Any]:
    """How many times faster each precision is than PyTorch eager (its time over ours), and INT4 vs FP16."""
    pt = report["pytorch"]
    out: dict[str, Any] = {}
    for p in precisions:
        ov = report[f"openvino_{p}"]
        out[f"{p}_vs_pytorch"] = {k: pt[k] / ov[k] for k in ("total_s", "ttft_s", "tpot_s") if ov[k] > 0}
    if "int4" in precisions and "fp16" in precisions:
        fp16, int4 = report["openvino_fp16"], report["openvino_int4"]
        out["int4_vs_fp16"] = {k: fp16[k] / int4[k] for k in ("total_s", "ttft_s", "tpot_s") if int4[k] > 0}
    for key, r in {**report.get("openvino_by_hint", {}), **report.get("openvino_by_attention", {})}.items():
        out[f"{key}_vs_pytorch"] = {k: pt[k] / r[k] for k in ("total_s", "ttft_s", "tpot_s") if r[k] > 0}
    if "int4" in precisions:
        speedup = out["int4_vs_pytorch"]["total_s"]
        out["int4_vs_pytorch_end_to_end"] = speedup
        out["target_int4_vs_pytorch"] = TARGET_SPEEDUP
        out["target_int4_vs_pytorch_ok"] = speedup >= TARGET_SPEEDUP
    return out


def _bandwidth_limit(report: dict[str, Any]) -> dict[str, Any]:
    """The INT4 language-model step against reading its weights once at the measured bandwidth."""
    weights = report["sizes_bytes"]["int4"]["language_model"]
    gbps = report["memory_bandwidth"]["GBps"]
    limit_ms = weights / (gbps * 1e9) * 1e3
    tpot_ms = report["openvino_int4"]["tpot_s"] * 1e3
    return {
        "lm_weight_bytes_per_token": weights,
        "source": f"int4/{LANGUAGE_BIN}",
        "bandwidth_GBps": gbps,
        "limit_ms_per_token": limit_ms,
        "tpot_ms": tpot_ms,
        "tpot_over_limit": tpot_ms / limit_ms,
        "target_ratio": TARGET_LIMIT_RATIO,
        "target_ok": tpot_ms / limit_ms <= TARGET_LIMIT_RATIO,
    }


def _sides(report: dict[str, Any]) -> list[str]:
    return [k for k in report if k.startswith("openvino_") and k not in ("openvino_by_hint", "openvino_by_attention")]


def table(report: dict[str, Any]) -> str:
    """A plain-text summary of the report."""
    m = report["machine"]
    n = report["new_tokens"]
    lines = [
        f"Synthetic LLaVA ({report['synthetic']}), medians of {report['runs']} runs, {m['cpu']}, {m['cores']} cores",
        f"CPU flags: {', '.join(m['cpu_flags']) or 'none of ' + 'avx2/avx512/vnni/amx'}",
        f"vision: {report['shapes']['vision']}; text: {report['shapes']['text']}",
        f"{n}-token answer about one {report['picture'][0]} px picture "
        f"({report['pytorch']['image_tokens']} image tokens, {report['pytorch']['prompt_tokens']} prompt tokens)",
        "",
        f"{'':26}{'load':>9}{'TTFT':>10}{'TPOT':>10}{'tok/s':>8}{'total':>10}{'peak RSS':>10}{'speed-up':>10}",
    ]
    pt = report["pytorch"]
    rows = [("PyTorch eager (f32)", pt)]
    rows += [(f"OpenVINO {k.split('_')[1].upper()}", report[k]) for k in _sides(report)]
    for key, r in report.get("openvino_by_hint", {}).items():
        p, hint = key.split("_")
        rows.append((f"  {p.upper()} files, {hint}", r))
    for key, r in report.get("openvino_by_attention", {}).items():
        rows.append((f"  {key.split('_')[0].upper()}, attention {r['attention']}", r))
    for label, r in rows:
        lines.append(
            f"{label:26}{r['load_s']:>8.1f}s{r['ttft_s'] * 1e3:>8.0f}ms{r['tpot_s'] * 1e3:>8.1f}ms"
            f"{r['tokens_per_s']:>8.1f}{r['total_s']:>9.2f}s{r['peak_rss_mb']:>8.0f}MB{pt['total_s'] / r['total_s']:>9.2f}x"
        )
    for k in _sides(report):
        lines.append(f"  {k.split('_')[1].upper()} setup: {report[k]['setup']}")
    bw = report["memory_bandwidth"]
    lines += ["", f"memory bandwidth: {bw['GBps']:.1f} GB/s ({bw['method']}, {bw['all_threads_GBps']:.1f} on "
                  f"{bw['threads']} threads, {bw['one_thread_GBps']:.1f} on one)"]
    if "int4_vs_bandwidth" in report:
        b = report["int4_vs_bandwidth"]
        ok = "met" if b["target_ok"] else "not met"
        lines.append(
            f"INT4 language model: {b['lm_weight_bytes_per_token'] / 1e6:.1f} MB of weights a token -> limit "
            f"{b['limit_ms_per_token']:.2f} ms/token; TPOT {b['tpot_ms']:.1f} ms = {b['tpot_over_limit']:.2f}x the "
            f"limit (target <= {b['target_ratio']}x: {ok})"
        )
        r = report["ratios"]
        ok = "met" if r["target_int4_vs_pytorch_ok"] else "not met"
        lines.append(f"INT4 vs PyTorch end to end: {r['int4_vs_pytorch_end_to_end']:.2f}x "
                     f"(target >= {r['target_int4_vs_pytorch']}x: {ok})")
    s = report["stages"]
    done = ", ".join(f"{k.removesuffix('_s')} {v:.0f}s" for k, v in s.items() if k != "prepare_total_s")
    lines.append(f"model folders: {done or 'all reused'} (prepare {s['prepare_total_s']:.0f}s) in {report['workdir']}")
    return "\n".join(lines)
