"""The benchmark runs end to end (on the small synthetic kind) and reports what the issue asks for."""

from __future__ import annotations

import pytest

from model_tools.measure.bench import CAPTION_TOKENS, VQA_TOKENS, build_synthetic, run_bench, table


@pytest.mark.slow
def test_bench_tiny_report(tmp_path):
    report = run_bench("tiny", runs=1, workdir=tmp_path, int8=False, log=lambda _: None)
    assert report["tokens"] == {"vqa": VQA_TOKENS, "caption": CAPTION_TOKENS}
    for task in ("vqa", "caption"):
        sec = report[task]
        assert sec["tokens_match_pytorch"], "OpenVINO f32 must pick PyTorch's exact tokens"
        assert sec["pytorch"]["total_s"] > 0 and sec["speedup_fp16_vs_pytorch"] > 0
        best = sec["openvino_fp16"][sec["best_fp16_hint"]]
        assert {"vision_s", "ttft_s", "tpot_s", "tokens_per_s", "total_s"} <= set(best)
    assert report["compile"]["load_no_cache_s"] > 0 and report["compile"]["load_warm_cache_s"] > 0
    assert report["memory"]["runtime_only_peak_rss_mb_vqa"] > 0
    assert "VQA (10 tokens)" in table(report)


def test_synthetic_model_never_ends_early(tmp_path):
    from transformers import BlipForConditionalGeneration, BlipProcessor

    folder = build_synthetic("tiny", "caption", tmp_path / "cap")
    model = BlipForConditionalGeneration.from_pretrained(folder).eval()
    processor = BlipProcessor.from_pretrained(folder)
    from model_tools.measure.bench import bench_picture

    out = model.generate(**processor(images=bench_picture(64), return_tensors="pt"), max_new_tokens=CAPTION_TOKENS)
    assert out.shape[1] == 1 + CAPTION_TOKENS
