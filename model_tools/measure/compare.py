"""FP16 against INT8 (or any two precisions, e.g. a chat model's INT4) of one model: sizes, latencies, answers.

    report = compare(CompareRequest("models/blip-vqa-base", device="CPU", runs=10))
    report.to_dict()              # plain data: the GUI plots it, the CLI writes it as JSON
    save_chart(report, "c.png")   # a matplotlib chart (Agg, no window)

Each precision runs exactly its own files at full precision (`load(..., exact=True)`: f32 on CPU), so the
comparison measures what quantization changed and nothing else; the report names the files and set-up.
Latencies are medians after one warm-up call per precision, measured in the same process with the two
precisions taking turns, so a neighbour's load burst hurts both about equally. Agreement is the share of
(picture, question) pairs on which both precisions give the same answer text; a chat model answers each
in a new conversation. A segment model is timed per picture (encoder) and per click (decoder; click to
mask: the decoder and the masks' upsampling to the picture), and its agreement is the mean IoU of both
precisions' best masks for fixed clicks (`quantize.segment.CLICKS`) on each picture. matplotlib is imported
inside `save_chart` only.
"""

from __future__ import annotations

import base64
import io
import os
import statistics
import threading
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from model_tools import __version__
from model_tools.jobs.progress import OnProgress, check_cancel, report
from model_tools.jobs.requests import AnswerPair, CompareError, CompareReport, CompareRequest
from model_tools.library.compare_report import (
    PART_LABELS,
    SAME_MASK_IOU,
    agreement_text,
    is_segment,
    pair_agrees,
    same_answer,
    stage_label,
)
from model_tools.library.store import component_sizes, weight_modes
from model_tools.quantize.calibration import Sample, builtin_samples, folder_samples
from model_tools.runtime.errors import Cancelled
from model_tools.runtime.model_folder import ConvertedModel, components, part_file

BUILTIN_PICTURES = 8
THUMBNAIL_SIDE = 160
STAGES = ("vision", "text_encoder", "first_token", "per_token", "end_to_end")


def compare(
    request: CompareRequest,
    *,
    on_progress: OnProgress | None = None,
    cancel: threading.Event | None = None,
) -> CompareReport:
    """Compare two precisions of the model `request` names on its device (options checked on creation).

    A model that answers (BLIP, chat) is timed and compared on its answers (`_measure_answers`); a segment
    model on its masks for fixed clicks (`_measure_masks`). runs in: a worker thread (loading compiles both
    precisions; then `runs` timed answers, or pictures and clicks, each).
    """
    from model_tools.runtime import load
    from model_tools.runtime.devices import check_device

    baseline, candidate = request.baseline, request.candidate
    images = request.images
    model = ConvertedModel.open(request.model)
    for precision in (baseline, candidate):
        model.verify(precision)  # names a missing precision or damaged file before any work
    if model.task == "segment" and request.questions is not None:
        raise CompareError(f"{model.name} is a Segment Anything model: it takes no questions.",
                           "Leave out the questions; it is compared on clicks.")
    device = check_device(request.device)
    skipped: list[str] = []
    samples = _samples(model.task, images, request.questions, skipped)
    check_cancel(cancel)

    precisions = [baseline] if baseline == candidate else [baseline, candidate]
    report(on_progress, "load", 0, len(precisions), "models", f"Compiling {model.name} for {device}")
    pipes = {}
    for i, precision in enumerate(precisions):
        check_cancel(cancel)
        # Exactly the files it names, at full precision: what quantization itself changed, nothing else.
        pipes[precision] = load(model.path, precision, device, exact=True)
        report(on_progress, "load", i + 1, len(precisions), "models", f"Compiled {precision.upper()}")
    pipes.setdefault(candidate, pipes[baseline])
    measure = _measure_masks if model.task == "segment" else _measure_answers
    measured = measure(request, model.task, pipes, samples, on_progress, cancel)

    sizes = {p: component_sizes(model, p) for p in (baseline, candidate)}
    compression = {c: _ratio(sizes[baseline][c], sizes[candidate][c]) for c in sizes[baseline]}
    import openvino as ov

    result = CompareReport(
        model=model.name,
        path=str(model.path),
        task=model.task,
        device=device,
        baseline=baseline,
        candidate=candidate,
        runs=request.runs,
        max_new_tokens=request.max_new_tokens,
        sizes_bytes=sizes,
        compression=compression,
        hints={p: dict(pipes[p].hints) for p in (baseline, candidate)},
        images=str(Path(images).resolve()) if images else "builtin",
        skipped_images=skipped,
        created=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        tools={"glimpse": __version__, "openvino": str(ov.__version__)},
        weights={p: weight_modes(model, p) for p in (baseline, candidate)},
        setup={p: pipes[p].setup_label for p in (baseline, candidate)},
        files={
            p: {part: part_file(model.spec.family, src, part) for part, src in pipes[p].sources.items()}
            for p in (baseline, candidate)
        },
        **measured,
    )
    report(on_progress, "done", 1, 1, "steps", agreement_text(result.to_dict())[0])
    return result


def _measure_answers(
    request: CompareRequest,
    mode: str,
    pipes: dict[str, Any],
    samples: list[Sample],
    on_progress: OnProgress | None,
    cancel: threading.Event | None,
) -> dict[str, Any]:
    """Latencies and answers of a model that answers (`mode`: "vqa", "caption" or "chat"): the report's
    latency_ms, speedup, tokens, tokens_per_s, agreement, compared, differing, answers and thumbnails."""
    baseline, candidate = request.baseline, request.candidate
    runs, max_new_tokens = request.runs, request.max_new_tokens
    precisions = list(dict.fromkeys([baseline, candidate]))

    def answer(precision: str, sample: Sample) -> Any:
        pipe = pipes[precision]
        if mode == "chat":  # each input its own conversation: the answer depends on nothing before it
            pipe.reset()
        if mode in ("vqa", "chat"):
            a = pipe.ask(sample.image, sample.question, max_new_tokens=max_new_tokens, cancel=cancel)
        else:
            a = pipe.caption(sample.image, max_new_tokens=max_new_tokens, cancel=cancel)
        if a.cancelled:
            raise Cancelled()
        return a

    # Latency: one warm-up each, then the precisions take turns on the same inputs.
    total = runs * len(precisions)
    report(on_progress, "latency", 0, total, "runs", "Warming up")
    for precision in precisions:
        answer(precision, samples[0])
    metrics: dict[str, list[Any]] = {p: [] for p in precisions}
    done = 0
    for r in range(runs):
        for precision in precisions:
            check_cancel(cancel)
            metrics[precision].append(answer(precision, samples[r % len(samples)]).metrics)
            done += 1
            report(
                on_progress, "latency", done, total, "runs", f"Timing {precision.upper()} ({r + 1}/{runs})"
            )
    metrics.setdefault(candidate, metrics[baseline])
    latency = {mode: {p: _stage_medians(metrics[p], mode) for p in (baseline, candidate)}}
    tokens = {
        mode: {p: float(statistics.median(m.new_tokens for m in metrics[p])) for p in (baseline, candidate)}
    }
    tokens_per_s = {mode: {p: _tokens_per_s(metrics[p]) for p in (baseline, candidate)}}

    # Agreement: every sample answered by both.
    report(on_progress, "agreement", 0, len(samples), "samples", "Comparing answers")
    differing = []
    answers = []
    thumbnails: dict[str, str] = {}
    for i, sample in enumerate(samples):
        check_cancel(cancel)
        a, b = answer(baseline, sample).text, answer(candidate, sample).text
        pair = AnswerPair(sample.origin, sample.question if mode != "caption" else "", a, b)
        answers.append(pair)
        if sample.origin not in thumbnails:
            thumbnails[sample.origin] = thumbnail(sample.image)
        if not same_answer(a, b):
            differing.append(pair)
        report(on_progress, "agreement", i + 1, len(samples), "samples", f"{len(differing)} different so far")
    return {
        "latency_ms": latency,
        "speedup": _speedup(latency, baseline, candidate),
        "tokens": tokens,
        "tokens_per_s": tokens_per_s,
        "agreement": 1.0 - len(differing) / len(samples),
        "compared": len(samples),
        "differing": differing,
        "answers": answers,
        "thumbnails": thumbnails,
    }


def _measure_masks(
    request: CompareRequest,
    mode: str,
    pipes: dict[str, Any],
    samples: list[Sample],
    on_progress: OnProgress | None,
    cancel: threading.Event | None,
) -> dict[str, Any]:
    """Latencies and masks of a segment model: the encoder per picture, the decoder per click (each of
    `quantize.segment.CLICKS`), a click's masks at the picture's size, a new picture to its first mask; the
    agreement is the mean IoU of the two precisions' best masks for every click on every picture."""
    from model_tools.quantize.segment import CLICKS, iou

    baseline, candidate, runs = request.baseline, request.candidate, request.runs
    precisions = list(dict.fromkeys([baseline, candidate]))

    def clicks(image: Any) -> list[tuple[float, float]]:
        return [(fx * image.width, fy * image.height) for fx, fy in CLICKS]

    def timed(precision: str, image: Any) -> dict[str, list[float]]:
        """One picture encoded and clicked at every click: ms of each stage (the decoder's per click)."""
        pipe = pipes[precision]
        t0 = time.perf_counter()
        embedding = pipe.encode(image)
        out: dict[str, list[float]] = {"encoder": [embedding.encoder_ms], "decoder": [], "click_to_mask": []}
        for k, click in enumerate(clicks(image)):
            t = time.perf_counter()
            masks = pipe.segment(embedding, [click])
            now = time.perf_counter()
            out["decoder"].append(masks.decoder_ms)
            out["click_to_mask"].append((now - t) * 1e3)
            if k == 0:
                out["end_to_end"] = [(now - t0) * 1e3]
        return out

    # Latency: one warm-up each, then the precisions take turns on the same pictures.
    total = runs * len(precisions)
    report(on_progress, "latency", 0, total, "runs", "Warming up")
    for precision in precisions:
        timed(precision, samples[0].image)
    times: dict[str, dict[str, list[float]]] = {p: {} for p in precisions}
    done = 0
    for r in range(runs):
        for precision in precisions:
            check_cancel(cancel)
            for stage, values in timed(precision, samples[r % len(samples)].image).items():
                times[precision].setdefault(stage, []).extend(values)
            done += 1
            report(
                on_progress, "latency", done, total, "runs", f"Timing {precision.upper()} ({r + 1}/{runs})"
            )
    times.setdefault(candidate, times[baseline])
    stages = ("encoder", "decoder", "click_to_mask", "end_to_end")
    latency = {
        mode: {
            p: {s: round(float(statistics.median(times[p][s])), 3) for s in stages} for p in (baseline, candidate)
        }
    }

    # Agreement: every picture encoded by both, the best masks of each click side by side.
    report(on_progress, "agreement", 0, len(samples), "pictures", "Comparing masks")
    answers, differing, ious = [], [], []
    thumbnails: dict[str, str] = {}
    for i, sample in enumerate(samples):
        check_cancel(cancel)
        image = sample.image
        embeddings = {p: pipes[p].encode(image) for p in precisions}
        for (fx, fy), click in zip(CLICKS, clicks(image), strict=True):
            masks = {p: pipes[p].segment(embeddings[p], [click]) for p in precisions}
            a, b = masks[baseline], masks.get(candidate, masks[baseline])
            overlap = round(iou(a.best_mask, b.best_mask), 4)
            ious.append(overlap)
            pair = AnswerPair(
                sample.origin, f"click at {fx:.0%}, {fy:.0%}", _mask_text(a), f"{_mask_text(b)} · IoU {overlap:.2f}",
                iou=overlap,
            )
            answers.append(pair)
            if not pair_agrees(asdict(pair)):
                differing.append(pair)
        if sample.origin not in thumbnails:
            thumbnails[sample.origin] = thumbnail(image)
        report(on_progress, "agreement", i + 1, len(samples), "pictures",
               f"mean mask IoU {float(np.mean(ious)):.3f} so far")
    return {
        "latency_ms": latency,
        "speedup": _speedup(latency, baseline, candidate),
        "tokens": {},
        "tokens_per_s": {},
        "agreement": round(float(np.mean(ious)), 4),
        "compared": len(answers),
        "differing": differing,
        "answers": answers,
        "thumbnails": thumbnails,
    }


def _mask_text(masks: Any) -> str:
    """A precision's answer to a click: how much of the picture its best mask covers, and its IoU score."""
    best = masks.best
    return f"{float(masks.masks[best].mean()):.1%} of the picture · score {float(masks.iou[best]):.2f}"


def _speedup(latency: dict[str, dict[str, dict[str, float]]], baseline: str, candidate: str) -> dict[str, Any]:
    return {
        mode: {s: _ratio(table[baseline][s], table[candidate][s]) for s in table[baseline]}
        for mode, table in latency.items()
    }


def thumbnail(image: Any, side: int = THUMBNAIL_SIDE) -> str:
    """A picture at most `side` pixels wide and high, as base64 JPEG (the page shows what was asked)."""
    small = image.convert("RGB")
    small.thumbnail((side, side))
    buffer = io.BytesIO()
    small.save(buffer, "JPEG", quality=88)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _samples(task: str, images: Any, questions: Any, skipped: list[str]) -> list[Sample]:
    """Agreement inputs: each picture of the folder with two questions (VQA, chat) or once (captions, a
    segment model's clicks); the built-in pictures once each, with a question."""
    from model_tools.quantize.calibration import CalibrationError, image_files, read_questions

    qlist = read_questions(questions) if questions else None
    per_picture = 1 if task in ("caption", "segment") else 2
    try:
        if images:
            folder = Path(images)
            files = image_files(folder)
            if qlist is None and (folder / "questions.txt").is_file():
                qlist = read_questions(folder / "questions.txt")
            it = folder_samples(folder, qlist, skipped=skipped)
            count = len(files) - len(skipped)
        else:
            it = builtin_samples(0, qlist)
            count = BUILTIN_PICTURES
    except CalibrationError as exc:
        raise CompareError(exc.message, exc.fix) from None
    # folder_samples asks picture i question (i + pass) on each pass over the pictures.
    return [next(it) for _ in range(count * per_picture)] if images else [next(it) for _ in range(count)]


def _stage_medians(metrics: list[Any], mode: str) -> dict[str, float]:
    def med(values: list[float]) -> float:
        return round(float(statistics.median(values)) * 1000, 3)

    out = {"vision": med([m.vision_s for m in metrics])}
    if mode == "vqa":
        out["text_encoder"] = med([m.text_encoder_s for m in metrics])
    out["first_token"] = med([m.ttft_s for m in metrics])
    out["per_token"] = med([m.tpot_s for m in metrics])
    out["end_to_end"] = med([m.total_s for m in metrics])
    return out


def _tokens_per_s(metrics: list[Any]) -> float:
    """Median of new tokens / end-to-end seconds over the timed answers."""
    return round(float(statistics.median(m.new_tokens / m.total_s if m.total_s else 0.0 for m in metrics)), 2)


def _ratio(a: float, b: float) -> float:
    return round(a / b, 3) if b else 0.0


# -- chart ---------------------------------------------------------------------------------------------------


def save_chart(report_: CompareReport, path: str | os.PathLike[str]) -> Path:
    """Draw sizes, latencies and agreement side by side into a PNG (matplotlib's Agg canvas, no window)."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise CompareError("Charts need matplotlib.", "Install it with `pip install matplotlib`.") from None

    base, cand = report_.baseline, report_.candidate
    colors = {base: "#8c9bab", cand: "#2a7ab9"} if base != cand else {base: "#8c9bab"}
    fig = Figure(figsize=(14, 4.8), dpi=110, layout="constrained")
    FigureCanvasAgg(fig)
    ax_size, ax_lat, ax_agree = fig.subplots(1, 3, width_ratios=[1.2, 1.4, 0.6])
    fig.suptitle(f"{report_.model}: {base.upper()} vs {cand.upper()} on {report_.device}", fontsize=13)

    parts = [c for c in report_.sizes_bytes[base] if c != "total"]
    labels = [_short(c) for c in parts]
    x = np.arange(len(parts))
    width = 0.38
    for k, precision in enumerate(dict.fromkeys([base, cand])):
        mb = [report_.sizes_bytes[precision][c] / 1e6 for c in parts]
        bars = ax_size.bar(x + (k - 0.5) * width, mb, width, label=precision.upper(), color=colors[precision])
        if precision == cand and base != cand:
            ax_size.bar_label(
                bars, labels=[f"{report_.compression[c]:.2f}x" for c in parts], fontsize=8, padding=2
            )
    ax_size.set_xticks(x, labels)
    ax_size.set_ylabel("MB on disk")
    ax_size.set_title(f"Size (total {report_.compression['total']:.2f}x smaller)")
    ax_size.legend(frameon=False)
    ax_size.margins(y=0.15)

    mode = report_.modes[0]
    lat = report_.latency_ms[mode]
    stages = list(lat[base])
    x = np.arange(len(stages))
    for k, precision in enumerate(dict.fromkeys([base, cand])):
        ms = [lat[precision][s] for s in stages]
        bars = ax_lat.bar(x + (k - 0.5) * width, ms, width, label=precision.upper(), color=colors[precision])
        if precision == cand and base != cand:
            ax_lat.bar_label(
                bars, labels=[f"{report_.speedup[mode][s]:.2f}x" for s in stages], fontsize=8, padding=2
            )
    ax_lat.set_xticks(x, [stage_label(mode, s) for s in stages])
    ax_lat.set_ylabel("median ms")
    length = "" if mode == "segment" else f", up to {report_.max_new_tokens} tokens"
    ax_lat.set_title(f"Latency, {mode.upper()} ({report_.runs} runs{length})")
    ax_lat.legend(frameon=False)
    ax_lat.margins(y=0.15)

    pct = report_.agreement * 100
    ax_agree.bar([0], [pct], color="#3a9a5b", width=0.6)
    ax_agree.bar([0], [100 - pct], bottom=[pct], color="#d9d9d9", width=0.6)
    ax_agree.text(0, min(pct, 92) + 3, f"{pct:.0f}%", ha="center", fontsize=14, weight="bold")
    ax_agree.set_ylim(0, 105)
    ax_agree.set_xticks([])
    if is_segment(report_.to_dict()):
        ax_agree.set_ylabel("mean mask IoU (%)")
        below = f"{len(report_.differing)} below IoU {SAME_MASK_IOU:.2g}"
        ax_agree.set_title(f"Agreement ({report_.compared} clicks,\n{below})")
    else:
        ax_agree.set_ylabel("same answer (%)")
        ax_agree.set_title(f"Agreement ({report_.compared} inputs,\n{len(report_.differing)} differ)")

    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, format="png")
    return out


def summary(report_: CompareReport) -> str:
    """A few lines of plain text: sizes, latencies, agreement."""
    base, cand = report_.baseline.upper(), report_.candidate.upper()
    lines = [f"{report_.model} ({report_.task}) on {report_.device}: {base} vs {cand}"]
    for precision in dict.fromkeys([report_.baseline, report_.candidate]):
        folders = sorted({f.split("/")[0] + "/" for f in report_.files.get(precision, {}).values()})
        lines.append(f"  {report_.setup.get(precision, precision.upper())}: {', '.join(folders)} files")
    lines += ["", "size (MB)"]
    for part, size in report_.sizes_bytes[report_.baseline].items():
        other = report_.sizes_bytes[report_.candidate][part]
        lines.append(f"  {part:24}{size / 1e6:>10.1f}{other / 1e6:>10.1f}   {report_.compression[part]:.2f}x")
    for mode, table in report_.latency_ms.items():
        lines += ["", f"latency, {mode} (median ms of {report_.runs} runs)"]
        for stage, ms in table[report_.baseline].items():
            cand_ms = table[report_.candidate][stage]
            label = stage_label(mode, stage)
            lines.append(f"  {label:24}{ms:>10.1f}{cand_ms:>10.1f}   {report_.speedup[mode][stage]:.2f}x")
        rate = report_.tokens_per_s.get(mode)
        if rate:
            base_rate, cand_rate = rate[report_.baseline], rate[report_.candidate]
            ratio = f"   {cand_rate / base_rate:.2f}x" if base_rate else ""
            lines.append(f"  {'tokens/s':24}{base_rate:>10.1f}{cand_rate:>10.1f}{ratio}")
    data = report_.to_dict()
    if is_segment(data):
        lead, rest = agreement_text(data)
        lines += ["", f"{lead} {rest}"]
    else:
        lines += ["", f"same answer: {report_.agreement:.0%} of {report_.compared} inputs"]
    for pair in report_.differing[:10]:
        q = f" {pair.question!r}" if pair.question else ""
        lines.append(f"  {pair.image}{q}: {pair.baseline!r} vs {pair.candidate!r}")
    if len(report_.differing) > 10:
        lines.append(f"  ... and {len(report_.differing) - 10} more (see the JSON)")
    return "\n".join(lines)


def _short(part: str) -> str:
    return PART_LABELS.get(part, part)


# -- per-part timing (benchmarks) ----------------------------------------------------------------------------


def part_latencies(
    model_dir: str | os.PathLike[str],
    precision: str,
    hints: dict[str, str | None],
    device: str = "CPU",
    runs: int = 10,
) -> dict[str, float]:
    """Median ms of each part on its own, on representative inputs (the family's compare hook)."""
    from model_tools.runtime import families
    from model_tools.runtime.compile_cache import compile_cache_dir
    from model_tools.runtime.devices import core

    model = ConvertedModel.open(model_dir)
    part_inputs = families.hook(model.spec.family, "compare")
    out = {}
    for part in components(model.task):
        hint = hints.get(part, hints.get("*"))
        config: dict[str, Any] = {"INFERENCE_PRECISION_HINT": hint} if hint else {}
        cache = compile_cache_dir(model, precision, part, device, config, [])
        if cache is not None:
            config["CACHE_DIR"] = str(cache)
        request = core().compile_model(str(model.xml(precision, part)), device, config).create_infer_request()
        feed = part_inputs.representative_inputs(model, precision, part)
        for _ in range(2):
            request.infer(feed)
        times = []
        for _ in range(runs):
            t = time.perf_counter()
            request.infer(feed)
            times.append(time.perf_counter() - t)
        out[part] = round(float(statistics.median(times)) * 1000, 3)
    return out


def head_to_head(
    model_dir: str | os.PathLike[str],
    image: Any,
    question: str | None,
    max_new_tokens: int,
    runs: int,
    hints: dict[str, dict[str, str] | None],
    device: str = "CPU",
) -> dict[str, Any]:
    """End-to-end seconds of each precision (keys of `hints`) answering the same input, taking turns.

    On a shared machine a burst of load then hurts every precision about equally, so the ratio holds.
    """
    from model_tools.runtime import load

    pipes = {p: load(Path(model_dir), p, device, hints=h) for p, h in hints.items()}

    def run(precision: str) -> Any:
        pipe = pipes[precision]
        if question is None:
            return pipe.caption(image, max_new_tokens=max_new_tokens)
        return pipe.ask(image, question, max_new_tokens=max_new_tokens)

    for precision in pipes:
        run(precision)
    totals: dict[str, list[float]] = {p: [] for p in pipes}
    tokens: dict[str, int] = {}
    for _ in range(runs):
        for precision in pipes:
            answer = run(precision)
            totals[precision].append(answer.metrics.total_s)
            tokens[precision] = len(answer.token_ids)
    out: dict[str, Any] = {
        "median_s": {p: round(float(statistics.median(v)), 4) for p, v in totals.items()},
        "min_s": {p: round(min(v), 4) for p, v in totals.items()},
        "tokens": tokens,
        "hints": {p: dict(pipes[p].hints) for p in pipes},
    }
    names = list(pipes)
    if len(names) == 2:
        a, b = names
        out["speedup_median"] = round(out["median_s"][a] / out["median_s"][b], 3)
        out["speedup_min"] = round(out["min_s"][a] / out["min_s"][b], 3)
    return out
