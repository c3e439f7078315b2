"""`model_tools.library.compare_report`: a comparison report as chart data, a headline and CSV rows."""

from __future__ import annotations

import copy

from model_tools.library import compare_report as compare_files

REPORT = {
    "model": "m",
    "task": "vqa",
    "device": "CPU",
    "baseline": "fp16",
    "candidate": "int8",
    "runs": 3,
    "sizes_bytes": {
        "fp16": {
            "vision_model": 2_000_000,
            "text_encoder": 1_000_000,
            "text_decoder_cross_kv": 500_000,
            "text_decoder": 3_000_000,
            "total": 6_500_000,
        },
        "int8": {
            "vision_model": 1_000_000,
            "text_encoder": 500_000,
            "text_decoder_cross_kv": 250_000,
            "text_decoder": 800_000,
            "total": 2_550_000,
        },
    },
    "compression": {
        "vision_model": 2.0,
        "text_encoder": 2.0,
        "text_decoder_cross_kv": 2.0,
        "text_decoder": 3.75,
        "total": 2.549,
    },
    "latency_ms": {
        "vqa": {
            p: {
                "vision": 10.0,
                "text_encoder": 2.0,
                "first_token": 15.0,
                "per_token": 3.0,
                "end_to_end": 40.0 if p == "fp16" else 25.0,
            }
            for p in ("fp16", "int8")
        }
    },
    "speedup": {
        "vqa": {"vision": 1.0, "text_encoder": 1.0, "first_token": 1.0, "per_token": 1.0, "end_to_end": 1.6}
    },
    "tokens": {"vqa": {"fp16": 4.0, "int8": 4.0}},
    "agreement": 0.5,
    "compared": 2,
    "answers": [
        {"image": "a.png", "question": "what?", "baseline": "red", "candidate": "Red"},
        {"image": "b.png", "question": "how many?", "baseline": "two", "candidate": "three"},
    ],
    "differing": [{"image": "b.png", "question": "how many?", "baseline": "two", "candidate": "three"}],
    "weights": {"fp16": {}, "int8": {"vision_model": "int8", "text_decoder": "int4"}},
}


def test_chart_data_and_labels_say_where_int4_is():
    data = compare_files.chart_data(REPORT)
    sizes, latency = data["sizes"], data["latency"]
    assert sizes["unit"] == "MB" and sizes["categories"] == [
        "vision",
        "text enc.",
        "cross K/V",
        "decoder (INT4)",
    ]
    assert [s[0] for s in sizes["series"]] == ["FP16", "INT8 (INT4 decoder)"]
    assert sizes["series"][1][2] == [1.0, 0.5, 0.25, 0.8]
    assert latency["series"][0][2][-1] == 40.0 and latency["categories"][-1] == "end to end"
    assert "1.60x faster" in compare_files.headline(
        REPORT
    ) and "same answer on 1 of 2" in compare_files.headline(REPORT)
    small = copy.deepcopy(REPORT)
    small["sizes_bytes"]["fp16"]["vision_model"] = 200_000
    for p in ("fp16", "int8"):
        for part in small["sizes_bytes"][p]:
            small["sizes_bytes"][p][part] //= 100
    assert compare_files.chart_data(small)["sizes"]["unit"] == "kB"


def test_csv_rows_put_answers_side_by_side():
    rows = compare_files.csv_rows(REPORT)
    assert rows[0] == ["section", "item", "question", "fp16", "int8", "ratio", "same"]
    answers = [r for r in rows if r[0] == "answer"]
    assert answers == [
        ["answer", "a.png", "what?", "red", "Red", "", "yes"],
        ["answer", "b.png", "how many?", "two", "three", "", "no"],
    ]
