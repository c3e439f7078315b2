"""A comparison report (`CompareReport.to_dict()`) as files and as chart data.

    write_json(data, "report.json")    write_csv(data, "report.csv")    chart_data(data)    headline(data)

Plain data in, no measuring code: the desktop app charts and exports reports with this module without
loading `compare` (and what it pulls in), and the CLI writes the same files.
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from typing import Any

from model_tools.library.store import modes_label
from model_tools.runtime.model_folder import (
    CHAT_LANGUAGE,
    CHAT_TEXT_EMBEDDINGS,
    CHAT_VISION,
    CROSS_KV,
    DECODER,
    SEGMENT_DECODER,
    SEGMENT_ENCODER,
    TEXT_ENCODER,
    VISION,
)

PART_LABELS = {
    VISION: "vision",
    TEXT_ENCODER: "text enc.",
    CROSS_KV: "cross K/V",
    DECODER: "decoder",
    CHAT_VISION: "vision",
    CHAT_TEXT_EMBEDDINGS: "text emb.",
    CHAT_LANGUAGE: "language",
    SEGMENT_ENCODER: "image enc.",
    SEGMENT_DECODER: "prompt dec.",
}
STAGE_LABELS = {
    "vision": "vision",
    "text_encoder": "text encoder",
    "first_token": "first token",
    "per_token": "per token",
    "end_to_end": "end to end",
}
CHAT_STAGE_LABELS = {"vision": "first image"}  # genai times the encoding of a turn's first image
# A segment model: the encoder once per picture, the decoder per click, a click's masks at the picture's size,
# and a new picture's first mask (preprocessing, encoder, one click).
SEGMENT_STAGE_LABELS = {
    "encoder": "encoder",
    "decoder": "decoder",
    "click_to_mask": "click to mask",
    "end_to_end": "picture to mask",
}
MODE_STAGE_LABELS = {"chat": CHAT_STAGE_LABELS, "segment": SEGMENT_STAGE_LABELS}
SAME_MASK_IOU = 0.9  # a click's two best masks count as the same mask from this IoU on
CSV_COLUMNS = ("section", "item", "question")


def stage_label(mode: str, stage: str) -> str:
    """How a latency stage of `mode` ("vqa", "caption", "chat", "segment") is named on charts and in
    summaries."""
    return MODE_STAGE_LABELS.get(mode, {}).get(stage) or STAGE_LABELS.get(stage, stage)


def normalise_answer(text: str) -> str:
    """An answer as Compare compares it: case and spacing do not count ("A  Dog" is "a dog")."""
    return " ".join(text.lower().split())


def same_answer(a: str, b: str) -> bool:
    return normalise_answer(a) == normalise_answer(b)


def pair_agrees(pair: dict[str, Any]) -> bool:
    """Whether the two sides of an answer pair (plain data) agree: the same answer text, or for a segment
    model's click masks whose IoU is at least `SAME_MASK_IOU`."""
    iou = pair.get("iou")
    if iou is not None:
        return float(iou) >= SAME_MASK_IOU
    return same_answer(pair["baseline"], pair["candidate"])


def is_segment(data: dict[str, Any]) -> bool:
    return data.get("task") == "segment"


def same_count(data: dict[str, Any]) -> int:
    """How many compared inputs agree (a segment model: clicks whose masks' IoU reaches `SAME_MASK_IOU`)."""
    if is_segment(data):
        return int(data["compared"]) - len(data.get("differing") or [])
    return round(data["agreement"] * data["compared"])


def agreement_text(data: dict[str, Any]) -> tuple[str, str]:
    """The agreement in a sentence, and a sentence on the inputs that differ (highlighted in the table)."""
    same, compared = same_count(data), data["compared"]
    differ = compared - same
    if is_segment(data):
        base = series_label(data, data["baseline"])
        return (
            f"Masks overlap {base}'s by {data['agreement']:.0%} on average "
            f"(mean IoU of the best masks, {compared} clicks).",
            f"{differ} below IoU {SAME_MASK_IOU:.2g} (highlighted)." if differ
            else f"Every mask has an IoU of at least {SAME_MASK_IOU:.2g}.",
        )
    return (
        f"Same answer on {same} of {compared} inputs ({data['agreement']:.0%}).",
        f"{differ} differ (highlighted)." if differ else "No answer changed.",
    )


def series_label(data: dict[str, Any], precision: str) -> str:
    """The label of a precision of the report: "FP16", "INT8", or "INT8 (INT4 decoder)"."""
    return modes_label(precision, (data.get("weights") or {}).get(precision) or {})


def size_unit(largest: float) -> tuple[str, float]:
    """The unit to show byte counts in: MB from a megabyte on, else kB."""
    return ("MB", 1e6) if largest >= 1e6 else ("kB", 1e3)


def chart_data(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """What the charts show: per chart a title, unit, category labels and keys, and series
    (label, precision, values). "sizes": bytes per component in `unit`; "latency": median ms per stage."""
    base, cand = data["baseline"], data["candidate"]
    precisions = [base] if base == cand else [base, cand]
    parts = [p for p in data["sizes_bytes"][base] if p != "total"]
    largest = max(data["sizes_bytes"][p][c] for p in precisions for c in parts)
    unit, scale = size_unit(largest)
    cand_modes = (data.get("weights") or {}).get(cand) or {}
    size_labels = [PART_LABELS.get(c, c) + (" (INT4)" if cand_modes.get(c) == "int4" else "") for c in parts]
    mode = next(iter(data["latency_ms"]))
    latency = data["latency_ms"][mode]
    stages = list(latency[base])
    return {
        "sizes": {
            "title": "File size per component",
            "unit": unit,
            "scale": scale,
            "keys": parts,
            "categories": size_labels,
            "series": [
                (series_label(data, p), p, [data["sizes_bytes"][p][c] / scale for c in parts])
                for p in precisions
            ],
        },
        "latency": {
            "title": f"Latency on {data['device']} (median of {data['runs']} runs)",
            "unit": "ms",
            "scale": 1.0,
            "keys": stages,
            "categories": [stage_label(mode, s) for s in stages],
            "series": [
                (series_label(data, p), p, [float(latency[p][s]) for s in stages]) for p in precisions
            ],
        },
    }


def headline(data: dict[str, Any]) -> str:
    """One sentence: how much smaller and faster the candidate is, and how often it answers the same."""
    cand = series_label(data, data["candidate"])
    mode = next(iter(data["speedup"]))
    smaller = data["compression"]["total"]
    faster = data["speedup"][mode].get("end_to_end", 0.0)
    same = same_count(data)
    size = f"{smaller:.2f}x smaller" if smaller >= 1 else f"{1 / smaller:.2f}x larger" if smaller else "?"
    speed = f"{faster:.2f}x faster" if faster >= 1 else f"{1 / faster:.2f}x slower" if faster else "?"
    if is_segment(data):
        encoder = data["speedup"][mode].get("encoder", 0.0)
        return (
            f"{cand} is {size} and {speed} from picture to mask (encoder {encoder:.2f}x) than "
            f"{data['baseline'].upper()} on {data['device']}; mean mask IoU {data['agreement']:.2f}, "
            f"{same} of {data['compared']} clicks at {SAME_MASK_IOU:.2g} or more."
        )
    return (
        f"{cand} is {size} and {speed} end to end than {data['baseline'].upper()} on {data['device']}; "
        f"same answer on {same} of {data['compared']} inputs ({data['agreement']:.0%})."
    )


def write_json(data: dict[str, Any], path: str | os.PathLike[str]) -> Path:
    """The whole report, as `model-tools compare --json` writes it."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return out


def csv_rows(data: dict[str, Any]) -> list[list[Any]]:
    """A flat table: section, item, question, <baseline>, <candidate>, ratio (baseline / candidate), same.

    Sections: size_bytes (per component and total), latency_ms (per stage, median), tokens (median new
    tokens in the timed runs, and tokens per second: candidate / baseline for its ratio), agreement, and answer
    (one row per input, both answers side by side). A segment model: agreement is the mean mask IoU, and each
    answer row (a click) has its masks' IoU in the ratio column.
    """
    base, cand = data["baseline"], data["candidate"]
    rows: list[list[Any]] = [[*CSV_COLUMNS, base, cand, "ratio", "same"]]
    for part, size in data["sizes_bytes"][base].items():
        rows.append(
            ["size_bytes", part, "", size, data["sizes_bytes"][cand][part], data["compression"][part], ""]
        )
    for mode, table in data["latency_ms"].items():
        for stage, ms in table[base].items():
            rows.append(
                [f"latency_ms_{mode}", stage, "", ms, table[cand][stage], data["speedup"][mode][stage], ""]
            )
        tokens = data.get("tokens", {}).get(mode)
        if tokens:
            rows.append([f"tokens_{mode}", "median new tokens", "", tokens[base], tokens[cand], "", ""])
        rate = data.get("tokens_per_s", {}).get(mode)
        if rate:
            ratio = round(rate[cand] / rate[base], 3) if rate[base] else ""
            rows.append([f"tokens_{mode}", "tokens per second", "", rate[base], rate[cand], ratio, ""])
    same = same_count(data)
    item = "mean mask IoU" if is_segment(data) else "same answer"
    rows.append(["agreement", item, "", "", "", round(data["agreement"], 4), f"{same}/{data['compared']}"])
    pairs = data.get("answers") or data.get("differing") or []
    for pair in pairs:
        iou = pair.get("iou")
        rows.append(
            [
                "answer",
                pair["image"],
                pair["question"],
                pair["baseline"],
                pair["candidate"],
                "" if iou is None else round(float(iou), 4),
                "yes" if pair_agrees(pair) else "no",
            ]
        )
    return rows


def write_csv(data: dict[str, Any], path: str | os.PathLike[str]) -> Path:
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows(csv_rows(data))
    return out
