"""The chat benchmark (`bench --synthetic llava-small`) runs its whole path on the tiny LLaVA and reports every
figure; the synthetic SigLIP + Qwen2 LLaVA it builds exports through our converter to the same greedy tokens."""

from __future__ import annotations

import json

import pytest

from model_tools.measure.bench_chat import OTHER_ATTENTION, PRECISIONS, memory_bandwidth, run_bench, table
from model_tools.runtime.chat.pipeline import ATTENTION_BACKEND

TOKENS = 4
SIDES = ("pytorch", *(f"openvino_{p}" for p in PRECISIONS))


@pytest.fixture(scope="module")
def report(tiny_chat_hf, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("bench-chat")
    return run_bench("tiny", runs=1, workdir=workdir, hf=tiny_chat_hf, new_tokens=TOKENS, picture_size=64,
                     bandwidth_mb=16, log=lambda _: None)


def test_every_side_answers_with_the_requested_tokens(report):
    assert report["new_tokens"] == TOKENS and report["runs"] == 1
    for side in SIDES:
        r = report[side]
        assert r["tokens"] == TOKENS, side
        assert r["ttft_s"] > 0 and r["tpot_s"] > 0 and r["total_s"] >= r["ttft_s"], side
        assert r["tokens_per_s"] == pytest.approx(TOKENS / r["total_s"]) and r["decode_tokens_per_s"] > 0
        assert r["load_s"] > 0 and r["peak_rss_mb"] > 0 and r["rss_before_mb"] > 0, side
    for key, r in report["openvino_by_hint"].items():  # the other hint this CPU offers, on the same files
        precision, hint = key.split("_")
        assert precision in PRECISIONS and r["tokens"] == TOKENS and set(r["hints"].values()) == {hint}
        assert report["ratios"][f"{key}_vs_pytorch"]["total_s"] > 0
    for key, r in report["openvino_by_attention"].items():  # the other attention backend, same files
        precision, backend = key.split("_")
        assert precision in PRECISIONS[1:] and backend == OTHER_ATTENTION == r["attention"] and r["tokens"] == TOKENS
        assert report["ratios"][f"{key}_vs_pytorch"]["total_s"] > 0
    assert sorted(report["openvino_by_attention"]) == [f"int4_{OTHER_ATTENTION}", f"int8_{OTHER_ATTENTION}"]
    assert {report[s]["attention"] for s in SIDES[1:]} == {ATTENTION_BACKEND} != {OTHER_ATTENTION}
    assert report["pytorch"]["image_tokens"] == 16 and report["pytorch"]["prompt_tokens"] > 16
    for p in PRECISIONS:
        assert report[f"openvino_{p}"]["setup"].startswith(p.upper())
    json.dumps(report)  # the CLI prints it


def test_ratios_and_the_bandwidth_limit(report):
    bw = report["memory_bandwidth"]
    assert bw["GBps"] > 0 and bw["one_thread_GBps"] > 0 and bw["all_threads_GBps"] > 0
    sizes = report["sizes_bytes"]
    assert set(sizes) == set(PRECISIONS)
    assert sizes["int4"]["language_model"] < sizes["int8"]["language_model"] < sizes["fp16"]["language_model"]
    ratios = report["ratios"]
    for p in PRECISIONS:
        assert all(v > 0 for v in ratios[f"{p}_vs_pytorch"].values()) and len(ratios[f"{p}_vs_pytorch"]) == 3
    assert ratios["int4_vs_pytorch_end_to_end"] == ratios["int4_vs_pytorch"]["total_s"] > 0
    assert isinstance(ratios["target_int4_vs_pytorch_ok"], bool)
    limit = report["int4_vs_bandwidth"]
    assert limit["lm_weight_bytes_per_token"] == sizes["int4"]["language_model"]
    assert limit["limit_ms_per_token"] == pytest.approx(limit["lm_weight_bytes_per_token"] / bw["GBps"] / 1e6)
    assert limit["tpot_over_limit"] == pytest.approx(report["openvino_int4"]["tpot_s"] * 1e3 / limit["limit_ms_per_token"])
    machine = report["machine"]
    assert machine["cores"] >= 1 and isinstance(machine["cpu_flags"], list) and machine["cpu"]
    text = table(report)
    for label in ("PyTorch eager", "OpenVINO FP16", "OpenVINO INT8", "OpenVINO INT4", "memory bandwidth",
                  "INT4 vs PyTorch end to end"):
        assert label in text


def test_a_second_run_reuses_the_model_folders(report, tiny_chat_hf):
    from pathlib import Path

    stages = report["stages"]
    assert "convert_s" in stages and "quantize_int4_s" in stages and "quantize_int8_s" in stages
    from model_tools.measure.bench_chat import prepare

    assert prepare(Path(report["workdir"]), tiny_chat_hf, PRECISIONS, log=lambda _: None) == {}


def test_memory_bandwidth_counts_read_and_write():
    bw = memory_bandwidth(size_mb=8, repeats=2, threads=2)
    assert bw["threads"] == 2 and bw["GBps"] == max(bw["one_thread_GBps"], bw["all_threads_GBps"]) > 0


def test_the_synthetic_siglip_qwen2_llava_exports_to_the_same_greedy_tokens(tmp_path):
    """The llava-small builder at tiny sizes: SigLIP (no CLS, all 16 patches kept), Qwen2 with attention biases
    and tied embeddings; our export through VLMPipeline (exact mode) picks transformers' tokens."""
    import numpy as np
    import torch
    from PIL import Image
    from transformers import AutoProcessor, LlavaForConditionalGeneration

    from model_tools.convert import convert
    from model_tools.jobs.requests import ConvertRequest
    from model_tools.runtime import load
    from model_tools.synthetic.llava_small import TINY_SIGLIP_QWEN2, make_llava

    hf = make_llava(tmp_path / "hf", TINY_SIGLIP_QWEN2)
    model = LlavaForConditionalGeneration.from_pretrained(hf, dtype=torch.float32).eval()
    text = model.model.language_model
    assert model.lm_head.weight.data_ptr() == text.embed_tokens.weight.data_ptr(), "tied embeddings"
    assert text.layers[0].self_attn.q_proj.bias is not None and model.config.text_config.vocab_size == 600
    processor = AutoProcessor.from_pretrained(hf)
    assert len(processor.tokenizer) == 600
    picture = Image.fromarray(np.random.default_rng(1).integers(0, 255, (40, 48, 3), dtype=np.uint8))
    question = "what is in the picture?"
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": question}]}]
    inputs = processor(images=picture, text=processor.apply_chat_template(messages, add_generation_prompt=True),
                       return_tensors="pt")
    assert int((inputs["input_ids"] == model.config.image_token_index).sum()) == TINY_SIGLIP_QWEN2.image_tokens
    with torch.no_grad():
        out = model.generate(**inputs, max_new_tokens=8, min_new_tokens=8, do_sample=False)
    theirs = out[0, inputs["input_ids"].shape[1]:].tolist()

    ir = convert(ConvertRequest(str(hf), tmp_path / "ir")).path
    pipe = load(ir, "fp16", exact=True)
    config = pipe.vlm.get_generation_config()
    config.max_new_tokens, config.ignore_eos = 8, True
    pipe.vlm.set_generation_config(config)
    assert pipe.ask(picture, question, max_new_tokens=8).token_ids == theirs
