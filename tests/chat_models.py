"""Tiny chat models for the tests: a random LLaVA exported as VLMPipeline reads it (what an OpenVINO `*-ov`
repository on Hugging Face holds)."""

from __future__ import annotations

from pathlib import Path


def export_ready(root: Path) -> Path:
    """Build a tiny LLaVA checkpoint in `root/hf` and export it into `root/ov`; returns the latter."""
    import torch
    from transformers import AutoProcessor, LlavaForConditionalGeneration

    from model_tools.convert import chat
    from model_tools.synthetic.tiny_llava import make_tiny_llava

    src = make_tiny_llava(root / "hf")
    model = LlavaForConditionalGeneration.from_pretrained(src, dtype=torch.float32).eval()
    processor = AutoProcessor.from_pretrained(src)
    out = root / "ov"
    out.mkdir()
    chat.export_parts(model, out)
    chat.write_tokenizers(processor.tokenizer, out)
    chat.write_configs(model, processor, out)
    return out
