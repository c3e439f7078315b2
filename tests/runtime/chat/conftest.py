"""Fixtures of the chat runtime tests: the tiny LLaVA in transformers, as the reference."""

from __future__ import annotations

import shutil

import pytest


class Reference:
    """transformers' greedy `generate` on the tiny LLaVA checkpoint, prompted from a conversation."""

    def __init__(self, folder) -> None:
        import torch
        from transformers import AutoProcessor, LlavaForConditionalGeneration

        self.torch = torch
        self.model = LlavaForConditionalGeneration.from_pretrained(folder, dtype=torch.float32).eval()
        self.processor = AutoProcessor.from_pretrained(folder)

    def generate(self, turns, max_new_tokens: int) -> list[int]:
        """The answer's token ids to `turns` [(role, text, pictures)], the last one the user's."""
        messages, pictures = [], []
        for role, text, pics in turns:
            content = [{"type": "image"} for _ in pics] + [{"type": "text", "text": text}]
            messages.append({"role": role, "content": content})
            pictures += list(pics)
        prompt = self.processor.apply_chat_template(messages, add_generation_prompt=True)
        inputs = self.processor(images=pictures or None, text=prompt, return_tensors="pt")
        with self.torch.no_grad():
            out = self.model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False)
        return out[0, inputs["input_ids"].shape[1] :].tolist()


@pytest.fixture(scope="session")
def reference(tiny_chat_hf) -> Reference:
    return Reference(tiny_chat_hf)


@pytest.fixture
def chat_copy(tiny_chat_model, tmp_path):
    """A private copy of the tiny chat model, to damage."""
    target = tmp_path / "chat-copy"
    shutil.copytree(tiny_chat_model, target)
    return target
