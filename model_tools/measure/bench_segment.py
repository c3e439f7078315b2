"""`model-tools bench --synthetic slimsam`: PyTorch eager against our segment pipeline, FP16 and INT8.

The synthetic model has nielsr/slimsam-50-uniform's shapes (SAM ViT-B pruned by half: a 384-wide, 12-layer
image encoder over 1024 px pictures; SAM's prompt encoder and mask decoder) with random weights
(`synthetic/slimsam.py`). It is built, converted with our converter and its image encoder quantized to INT8
with our quantizer in a child process, once: the folders stay under the scratch folder and a second run reuses
them. Then, in one process, each side encodes the same 1024 x 768 picture and is clicked at the same fixed
points (`quantize.segment.CLICKS`), a warm-up round first:

* PyTorch eager (float32): `SamProcessor` preprocessing, `get_image_embeddings`, then per click `SamModel` on
  the embeddings and `post_process_masks` to the picture's size;
* our `SegmentPipeline`, FP16 and INT8 as the app runs them (the precision policy's files and hints on this
  CPU), then the same files with each other hint this CPU offers, where the policy chose otherwise (INT8 files
  pinned so: its INT8 encoder even on a CPU where the app would run the FP16 one).

Per side: the encoder per picture, the decoder per click, click to mask (decoder and upsampling to the
picture's size: what the window waits for after a click; target under 100 ms), a new picture's first mask,
medians over the runs (the decoder's over every click of every run), and the peak resident memory (reset
before each side where Linux allows). The masks: the mean IoU of the best masks, click by click, INT8 against
FP16 and each of ours against PyTorch's. Ratios come from the same run.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from model_tools.measure.bench import bench_picture, fp16_hints, peak_rss_mb, prepare_folders
from model_tools.measure.bench_chat import machine, measured
from model_tools.quantize.segment import CLICKS, iou

KIND = "slimsam"
RUNS = 5
PICTURE = (1024, 768)  # width, height: a landscape photo's shape, the longer side SAM's 1024
PRECISIONS = ("fp16", "int8")
SUBSET_SIZE = 32  # calibration pictures for the INT8 encoder (random weights: the numbers are about speed)
TARGET_CLICK_TO_MASK_MS = 100.0
TIMES = ("encoder_ms", "decoder_ms", "click_to_mask_ms", "first_mask_ms")
Log = Callable[[str], None]


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _median(values: list[float]) -> float:
    return float(statistics.median(values))


# -- the model folders ---------------------------------------------------------------------------------------


def prepare(workdir: Path, hf: Path | None = None, precisions: tuple[str, ...] = PRECISIONS,
            subset_size: int = SUBSET_SIZE, log: Log = _stderr) -> dict[str, Any]:
    """Build (unless `hf` is given), convert and quantize what is missing under `workdir`; seconds per stage.

    `workdir/hf` is the synthetic SlimSAM checkpoint, `workdir/ir` our segment model folder with each of
    `precisions`. A stage whose result is there already is reused (its time is then absent).
    """
    from model_tools.jobs.requests import QuantizeRequest

    def build(folder: Path) -> None:
        from model_tools.synthetic.slimsam import SOURCE, make_sam

        log(f"[{KIND}] building a random SamModel of {SOURCE}'s shapes in {folder}")
        make_sam(folder)

    def request(ir: Path, precision: str) -> QuantizeRequest:
        log(f"[{KIND}] quantizing the image encoder to {precision.upper()} with our quantizer "
            f"({subset_size} built-in calibration pictures)")
        return QuantizeRequest(ir, subset_size=subset_size)

    return prepare_folders(workdir, hf, precisions, build=build,
                           built=("model.safetensors", "preprocessor_config.json"), quantize_request=request,
                           log=lambda msg: log(f"[{KIND}] {msg}"))


def prepare_in_child(workdir: Path, hf: Path | None, precisions: tuple[str, ...], subset_size: int) -> dict[str, Any]:
    """`prepare` in a child process, so that the bench process starts without the export's memory."""
    source = f"Path({str(hf)!r})" if hf is not None else "None"
    code = (
        "import json\nfrom pathlib import Path\nfrom model_tools.measure.bench_segment import prepare\n"
        f"print(json.dumps(prepare(Path({str(workdir)!r}), {source}, {tuple(precisions)!r}, {int(subset_size)})))"
    )
    done = subprocess.run([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, check=True)
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


# -- the picture and the clicks ------------------------------------------------------------------------------


def picture(width: int, height: int) -> Any:
    """The benchmark's picture at `width` x `height` (the blip bench's gradient and noise, cropped)."""
    return bench_picture(max(width, height)).crop((0, 0, width, height))


def clicks(width: int, height: int) -> list[tuple[float, float]]:
    """The fixed clicks (fractions of the picture, as accuracy control and Compare click) in pixels."""
    return [(fx * width, fy * height) for fx, fy in CLICKS]


# -- the sides -----------------------------------------------------------------------------------------------


def bench_pytorch(hf: Path, image: Any, runs: int, warmup: int = 1) -> dict[str, Any]:
    """Eager PyTorch (float32): the processor and the image encoder per picture; per click the prompt encoder
    and mask decoder on the embeddings, then `post_process_masks` to the picture's size."""
    import os

    import torch
    from transformers import SamModel, SamProcessor

    torch.set_num_threads(os.cpu_count() or 1)
    t = time.perf_counter()
    processor = SamProcessor.from_pretrained(hf)
    model = SamModel.from_pretrained(hf, dtype=torch.float32, use_safetensors=True).eval()
    load_s = time.perf_counter() - t
    points = clicks(image.width, image.height)
    rows: dict[str, list[float]] = {k: [] for k in ("preprocess_ms", "postprocess_ms", *TIMES)}
    best: list[Any] = []
    for i in range(warmup + runs):
        keep, last = i >= warmup, i == warmup + runs - 1
        with torch.inference_mode():
            t0 = time.perf_counter()
            inputs = processor(images=image, return_tensors="pt")
            t1 = time.perf_counter()
            embeddings = model.get_image_embeddings(inputs["pixel_values"])
            t2 = time.perf_counter()
            (height, width), (rh, rw) = inputs["original_sizes"][0].tolist(), inputs["reshaped_input_sizes"][0].tolist()
            for k, (x, y) in enumerate(points):
                c0 = time.perf_counter()
                prompt = torch.tensor([[[[x * rw / width, y * rh / height]]]], dtype=torch.float32)
                out = model(image_embeddings=embeddings, input_points=prompt,
                            input_labels=torch.ones((1, 1, 1), dtype=torch.int64), multimask_output=True)
                c1 = time.perf_counter()
                masks = processor.post_process_masks(out.pred_masks, inputs["original_sizes"],
                                                     inputs["reshaped_input_sizes"])[0][0]
                c2 = time.perf_counter()
                if keep:
                    rows["decoder_ms"].append((c1 - c0) * 1e3)
                    rows["postprocess_ms"].append((c2 - c1) * 1e3)
                    rows["click_to_mask_ms"].append((c2 - c0) * 1e3)
                    if k == 0:
                        rows["first_mask_ms"].append((c2 - t0) * 1e3)
                if last:
                    best.append(masks[int(out.iou_scores[0, 0].argmax())].numpy().astype(bool))
        if keep:
            rows["preprocess_ms"].append((t1 - t0) * 1e3)
            rows["encoder_ms"].append((t2 - t1) * 1e3)
    parameters = {
        "image_encoder": sum(p.numel() for p in model.vision_encoder.parameters()),
        "total": sum(p.numel() for p in model.parameters()),
    }
    del model
    return {
        **{k: _median(v) for k, v in rows.items()},
        "load_s": load_s,
        "dtype": "float32",
        "threads": torch.get_num_threads(),
        "parameters": parameters,
        "best_masks": best,
    }


def bench_openvino(ir: Path, precision: str, image: Any, runs: int, warmup: int = 1,
                   hints: dict[str, str] | None = None) -> dict[str, Any]:
    """Our SegmentPipeline as the app runs it: `encode` once per picture, `segment` per click.

    `hints` pins the precision hint of every part (and so `precision`'s own files); default: the precision
    policy's files and hints for this CPU."""
    from model_tools.runtime.segment.pipeline import load

    t = time.perf_counter()
    pipe = load(ir, precision, "CPU", hints=hints)
    load_s = time.perf_counter() - t
    points = clicks(image.width, image.height)
    rows: dict[str, list[float]] = {k: [] for k in ("preprocess_ms", "upsample_ms", *TIMES)}
    best: list[Any] = []
    for i in range(warmup + runs):
        keep, last = i >= warmup, i == warmup + runs - 1
        t0 = time.perf_counter()
        embedding = pipe.encode(image)
        for k, point in enumerate(points):
            c0 = time.perf_counter()
            masks = pipe.segment(embedding, [point])
            c1 = time.perf_counter()
            if keep:
                rows["decoder_ms"].append(masks.decoder_ms)
                rows["upsample_ms"].append(masks.upsample_ms)
                rows["click_to_mask_ms"].append((c1 - c0) * 1e3)
                if k == 0:
                    rows["first_mask_ms"].append((c1 - t0) * 1e3)
            if last:
                best.append(masks.best_mask)
        if keep:
            rows["preprocess_ms"].append(embedding.preprocess_ms)
            rows["encoder_ms"].append(embedding.encoder_ms)
    result = {
        **{k: _median(v) for k, v in rows.items()},
        "load_s": load_s,
        "setup": pipe.setup_label,
        "hints": dict(pipe.hints),
        "files": dict(pipe.sources),  # part -> the precision folder its file came from
        "best_masks": best,
    }
    del pipe
    return result


# -- the report ----------------------------------------------------------------------------------------------


def run_bench(
    kind: str = KIND,
    runs: int = RUNS,
    workdir: Path | None = None,
    *,
    hf: Path | None = None,
    precisions: tuple[str, ...] = PRECISIONS,
    picture_size: tuple[int, int] = PICTURE,
    subset_size: int = SUBSET_SIZE,
    log: Log = _stderr,
) -> dict[str, Any]:
    """The whole benchmark; `hf` benchmarks another SamModel checkpoint (the tests' tiny one) the same way."""
    from model_tools.library.store import component_sizes
    from model_tools.runtime.model_folder import ConvertedModel
    from model_tools.runtime.paths import scratch_dir

    if kind != KIND and hf is None:
        raise ValueError(f"unknown synthetic segment model {kind!r}")
    workdir = Path(workdir) if workdir is not None else scratch_dir(f"bench-{kind}")
    t = time.perf_counter()
    stages = prepare_in_child(workdir, hf, precisions, subset_size)
    stages["prepare_total_s"] = time.perf_counter() - t
    hf = hf or workdir / "hf"
    ir = workdir / "ir"
    width, height = picture_size
    image = picture(width, height)
    report: dict[str, Any] = {
        "synthetic": kind,
        "shapes": _shapes(hf, kind),
        "runs": runs,
        "picture": [width, height],
        "clicks": [[round(x, 1), round(y, 1)] for x, y in clicks(width, height)],
        "machine": machine(),
        "workdir": str(workdir),
        "stages": stages,
    }
    n = len(CLICKS)
    log(f"[{kind}] PyTorch eager, {runs} runs of a picture and {n} clicks")
    report["pytorch"] = measured(lambda: bench_pytorch(hf, image, runs))
    for precision in precisions:
        log(f"[{kind}] OpenVINO {precision.upper()}, {runs} runs of a picture and {n} clicks")
        report[f"openvino_{precision}"] = measured(partial(bench_openvino, ir, precision, image, runs))
    # What the policy rests on: each precision's own files with the hints it did not choose here, same run.
    by_hint: dict[str, Any] = {}
    for precision in precisions:
        side = report[f"openvino_{precision}"]
        for hint in fp16_hints():
            if set(side["hints"].values()) == {hint} and set(side["files"].values()) == {precision}:
                continue
            log(f"[{kind}] OpenVINO {precision.upper()} files, INFERENCE_PRECISION_HINT={hint}, {runs} runs")
            by_hint[f"{precision}_{hint}"] = measured(
                partial(bench_openvino, ir, precision, image, runs, hints={"*": hint})
            )
    report["openvino_by_hint"] = by_hint
    masks = {side: report[side].pop("best_masks") for side in ("pytorch", *_sides(report))}
    masks |= {key: r.pop("best_masks") for key, r in by_hint.items()}
    report["mask_iou"] = _mask_iou(masks, precisions)
    model = ConvertedModel.open(ir)
    report["sizes_bytes"] = {p: component_sizes(model, p) for p in precisions}
    if "int8" in precisions:
        sizes = report["sizes_bytes"]
        report["compression"] = {part: sizes["fp16"][part] / sizes["int8"][part] for part in sizes["fp16"]}
        entry = model.manifest["precisions"]["int8"]
        report["int8"] = {"parts": entry.get("parts"), "calibration": entry.get("calibration")}
    report["ratios"] = _ratios(report, precisions)
    report["bench_process_peak_rss_mb"] = peak_rss_mb()
    return report


def _shapes(hf: Path, kind: str) -> dict[str, Any]:
    from model_tools.synthetic.slimsam import SOURCE

    config = json.loads((Path(hf) / "config.json").read_text(encoding="utf-8"))
    v = config.get("vision_config") or {}
    m = config.get("mask_decoder_config") or {}

    def get(key: str, default: Any) -> Any:  # config.json leaves out what equals SamVisionConfig's default
        return v.get(key, default)

    return {
        "like": SOURCE if kind == KIND else str(hf),
        "vision": f"SAM ViT hidden {get('hidden_size', 768)}, MLP {get('mlp_dim', 3072)}, "
                  f"{get('num_hidden_layers', 12)} layers, {get('num_attention_heads', 12)} heads, "
                  f"{get('image_size', 1024)} px / {get('patch_size', 16)} px patches, window "
                  f"{get('window_size', 14)}, global attention at {get('global_attn_indexes', [2, 5, 8, 11])}, "
                  f"{get('output_channels', 256)} output channels",
        "decoder": f"mask decoder hidden {m.get('hidden_size', 256)}, MLP {m.get('mlp_dim', 2048)}, "
                   f"{m.get('num_attention_heads', 8)} heads",
    }


def _sides(report: dict[str, Any]) -> list[str]:
    return [k for k in report if k.startswith("openvino_") and k != "openvino_by_hint"]


def _mask_iou(masks: dict[str, list[Any]], precisions: tuple[str, ...]) -> dict[str, Any]:
    """Mean (and lowest) IoU of the best masks, click by click: INT8 against FP16, every OpenVINO side
    against PyTorch."""
    pairs = [(f"openvino_{p}", "pytorch", f"{p}_vs_pytorch") for p in precisions]
    if "int8" in precisions and "fp16" in precisions:
        pairs.insert(0, ("openvino_int8", "openvino_fp16", "int8_vs_fp16"))
    pairs += [(key, "pytorch", f"{key}_vs_pytorch") for key in masks if key not in ("pytorch", *_names(precisions))]
    out = {}
    for a, b, name in pairs:
        ious = [iou(x, y) for x, y in zip(masks[a], masks[b], strict=True)]
        out[name] = {"mean": float(sum(ious) / len(ious)), "min": min(ious), "per_click": ious}
    return out


def _names(precisions: tuple[str, ...]) -> list[str]:
    return [f"openvino_{p}" for p in precisions]


def _ratios(report: dict[str, Any], precisions: tuple[str, ...]) -> dict[str, Any]:
    """How many times faster each OpenVINO side is than PyTorch eager (its time over ours), INT8 against FP16,
    and click to mask against its target."""
    pt = report["pytorch"]
    out: dict[str, Any] = {}
    for p in precisions:
        ov = report[f"openvino_{p}"]
        out[f"{p}_vs_pytorch"] = {k: pt[k] / ov[k] for k in TIMES if ov[k] > 0}
    if "int8" in precisions and "fp16" in precisions:
        fp16, int8 = report["openvino_fp16"], report["openvino_int8"]
        out["int8_vs_fp16"] = {k: fp16[k] / int8[k] for k in TIMES if int8[k] > 0}
    for key, r in report.get("openvino_by_hint", {}).items():
        out[f"{key}_vs_pytorch"] = {k: pt[k] / r[k] for k in TIMES if r[k] > 0}
    worst = max(report[f"openvino_{p}"]["click_to_mask_ms"] for p in precisions)
    out["click_to_mask_ms"] = {p: report[f"openvino_{p}"]["click_to_mask_ms"] for p in precisions}
    out["target_click_to_mask_ms"] = TARGET_CLICK_TO_MASK_MS
    out["target_click_to_mask_ok"] = worst < TARGET_CLICK_TO_MASK_MS
    return out


def table(report: dict[str, Any]) -> str:
    """A plain-text summary of the report."""
    m = report["machine"]
    width, height = report["picture"]
    pt = report["pytorch"]
    params = pt["parameters"]
    lines = [
        f"Synthetic SAM ({report['synthetic']}: {report['shapes']['like']}'s shapes), medians of {report['runs']} "
        f"runs, {m['cpu']}, {m['cores']} cores",
        f"CPU flags: {', '.join(m['cpu_flags']) or 'none of avx2/avx512/vnni/amx'}",
        f"vision: {report['shapes']['vision']}; {report['shapes']['decoder']}",
        f"{params['total'] / 1e6:.1f}M parameters ({params['image_encoder'] / 1e6:.1f}M the image encoder); a "
        f"{width} x {height} picture, {len(report['clicks'])} clicks a run",
        "",
        f"{'':26}{'load':>8}{'encoder':>10}{'decoder':>10}{'click>mask':>11}{'1st mask':>10}{'peak RSS':>10}"
        f"{'enc. x':>8}",
    ]
    rows = [("PyTorch eager (f32)", pt)]
    rows += [(f"OpenVINO {k.split('_')[1].upper()}", report[k]) for k in _sides(report)]
    for key, r in report.get("openvino_by_hint", {}).items():
        p, hint = key.split("_")
        rows.append((f"  {p.upper()} files, {hint}", r))
    for label, r in rows:
        lines.append(
            f"{label:26}{r['load_s']:>7.1f}s{r['encoder_ms']:>8.0f}ms{r['decoder_ms']:>8.1f}ms"
            f"{r['click_to_mask_ms']:>9.1f}ms{r['first_mask_ms']:>8.0f}ms{r['peak_rss_mb']:>8.0f}MB"
            f"{pt['encoder_ms'] / r['encoder_ms']:>7.2f}x"
        )
    for k in _sides(report):
        r = report[k]
        lines.append(f"  {k.split('_')[1].upper()} setup: {r['setup']} (upsampling {r['upsample_ms']:.1f} ms)")
    lines.append(f"  PyTorch post_process_masks: {pt['postprocess_ms']:.1f} ms")
    ious = ", ".join(f"{name.replace('_vs_', ' vs ').replace('_', ' ')} {v['mean']:.3f} (lowest {v['min']:.3f})"
                     for name, v in report["mask_iou"].items())
    lines += ["", f"mask IoU of the best masks: {ious}"]
    r = report["ratios"]
    ok = "met" if r["target_click_to_mask_ok"] else "not met"
    clicks_ms = ", ".join(f"{p.upper()} {ms:.1f} ms" for p, ms in r["click_to_mask_ms"].items())
    lines.append(f"click to mask at {width} x {height}: {clicks_ms} (target < {r['target_click_to_mask_ms']:.0f} ms: "
                 f"{ok})")
    if "int8_vs_fp16" in r:
        x = r["int8_vs_fp16"]
        lines.append(f"INT8 vs FP16: encoder {x['encoder_ms']:.2f}x, first mask {x['first_mask_ms']:.2f}x; INT8 vs "
                     f"PyTorch: encoder {r['int8_vs_pytorch']['encoder_ms']:.2f}x, click to mask "
                     f"{r['int8_vs_pytorch']['click_to_mask_ms']:.2f}x")
    if "compression" in report:
        sizes, c = report["sizes_bytes"], report["compression"]
        lines.append(f"image encoder {sizes['fp16']['image_encoder'] / 1e6:.1f} MB FP16, "
                     f"{sizes['int8']['image_encoder'] / 1e6:.1f} MB INT8 ({c['image_encoder']:.2f}x smaller); "
                     f"prompt decoder {sizes['fp16']['prompt_decoder'] / 1e6:.1f} MB (FP16 in both)")
    s = report["stages"]
    done = ", ".join(f"{k.removesuffix('_s')} {v:.0f}s" for k, v in s.items() if k != "prepare_total_s")
    lines.append(f"model folders: {done or 'all reused'} (prepare {s['prepare_total_s']:.0f}s) in {report['workdir']}")
    return "\n".join(lines)
