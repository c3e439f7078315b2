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
}
STAGE_LABELS = {
    "vision": "vision",
    "text_encoder": "text encoder",
    "first_token": "first token",
    "per_token": "per token",
    "end_to_end": "end to end",
}
CHAT_STAGE_LABELS = {"vision": "first image"}  # genai times the encoding of a turn's first image
CSV_COLUMNS = ("section", "item", "question")


def stage_label(mode: str, stage: str) -> str:
    """How a latency stage of `mode` ("vqa", "caption", "chat") is named on charts and in summaries."""
    return (CHAT_STAGE_LABELS.get(stage) if mode == "chat" else None) or STAGE_LABELS.get(stage, stage)


def normalise_answer(text: str) -> str:
    """An answer as Compare compares it: case and spacing do not count ("A  Dog" is "a dog")."""
    return " ".join(text.lower().split())


def same_answer(a: str, b: str) -> bool:
    return normalise_answer(a) == normalise_answer(b)


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
    same = round(data["agreement"] * data["compared"])
    size = f"{smaller:.2f}x smaller" if smaller >= 1 else f"{1 / smaller:.2f}x larger" if smaller else "?"
    speed = f"{faster:.2f}x faster" if faster >= 1 else f"{1 / faster:.2f}x slower" if faster else "?"
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
    tokens in the timed runs, and tokens per second: candidate / baseline for its ratio), agreement, and answer (one row per input, both answers side by side).
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
    same = round(data["agreement"] * data["compared"])
    rows.append(
        ["agreement", "same answer", "", "", "", round(data["agreement"], 4), f"{same}/{data['compared']}"]
    )
    pairs = data.get("answers") or data.get("differing") or []
    for pair in pairs:
        equal = same_answer(pair["baseline"], pair["candidate"])
        rows.append(
            [
                "answer",
                pair["image"],
                pair["question"],
                pair["baseline"],
                pair["candidate"],
                "",
                "yes" if equal else "no",
            ]
        )
    return rows


def write_csv(data: dict[str, Any], path: str | os.PathLike[str]) -> Path:
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows(csv_rows(data))
    return out
