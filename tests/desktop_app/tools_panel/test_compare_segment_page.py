"""The Compare page with a segment model's report: its clicks in the question column, a row highlighted when the
two best masks' IoU is below `SAME_MASK_IOU` (not when the texts differ), the mean IoU above the table."""

from __future__ import annotations

import pytest

from model_tools.library import compare_report as compare_files

pytestmark = pytest.mark.usefixtures("private_models")

PARTS = ("image_encoder", "prompt_decoder")
STAGES = ("encoder", "decoder", "click_to_mask", "end_to_end")


def segment_report() -> dict:
    """A report as `compare` writes one for a segment model (plain data): two pictures, two clicks each."""
    answers = []
    for picture, ious in (("samples/red-circle.png", (0.97, 0.95)), ("shapes #0", (0.99, 0.62))):
        for k, overlap in enumerate(ious):
            answers.append({
                "image": picture, "question": f"click at {30 + 40 * k}%, 50%",
                "baseline": "12.0% of the picture · score 0.91",
                "candidate": f"12.4% of the picture · score 0.90 · IoU {overlap:.2f}", "iou": overlap,
            })  # fmt: skip
    return {
        "model": "sam", "path": "/m/sam", "task": "segment", "device": "CPU", "baseline": "fp16",
        "candidate": "int8", "runs": 2, "max_new_tokens": 20,
        "sizes_bytes": {"fp16": {"image_encoder": 20_000_000, "prompt_decoder": 8_000_000, "total": 28_000_000},
                        "int8": {"image_encoder": 10_000_000, "prompt_decoder": 8_000_000, "total": 18_000_000}},
        "compression": {"image_encoder": 2.0, "prompt_decoder": 1.0, "total": 1.556},
        "latency_ms": {"segment": {"fp16": dict(zip(STAGES, (900.0, 8.0, 30.0, 950.0), strict=True)),
                                   "int8": dict(zip(STAGES, (450.0, 8.0, 30.0, 500.0), strict=True))}},
        "speedup": {"segment": {"encoder": 2.0, "decoder": 1.0, "click_to_mask": 1.0, "end_to_end": 1.9}},
        "tokens": {}, "tokens_per_s": {}, "hints": {"fp16": {}, "int8": {}},
        "agreement": round(sum(a["iou"] for a in answers) / len(answers), 4), "compared": len(answers),
        "differing": [a for a in answers if a["iou"] < compare_files.SAME_MASK_IOU], "answers": answers,
        "setup": {"fp16": "FP16 · exact · f32", "int8": "INT8 · exact · f32"},
        "files": {p: {part: f"{p}/openvino_{part}.xml" for part in PARTS} for p in ("fp16", "int8")},
        "weights": {"fp16": {}, "int8": {}}, "thumbnails": {},
    }  # fmt: skip


def test_a_segment_report_shows_clicks_and_highlights_masks_that_differ(qtbot, tools):
    page = tools.show_page("compare")
    report = segment_report()
    page.show_report(report)
    qtbot.waitUntil(lambda: page.answers.isVisible())
    table = page.answers
    assert table.rowCount() == 4 and not table.isColumnHidden(1)
    assert [table.item(r, 1).text() for r in range(4)] == [a["question"] for a in report["answers"]]
    base = table.item(0, 0).background().color()
    highlighted = [r for r in range(4) if table.item(r, 2).background().color() != base]
    assert highlighted == [3], "only the click whose masks' IoU is below 0.9, though every text differs"
    assert "Masks overlap FP16's by 88% on average" in page.agreement.text()
    assert "1 below IoU 0.9 (highlighted)" in page.agreement.text()
    assert "mean mask IoU 0.88" in page.headline.text() and "from picture to mask" in page.headline.text()
    assert page.size_chart.categories() == ["image enc.", "prompt dec."]
    assert page.latency_chart.categories() == ["encoder", "decoder", "click to mask", "picture to mask"]
    page.only_differing.setChecked(True)
    assert table.rowCount() == 1 and table.item(0, 1).text() == report["answers"][3]["question"]
