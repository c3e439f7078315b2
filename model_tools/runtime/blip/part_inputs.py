"""Inputs shaped like real use, for timing one model part (Compare, benchmarks). Imports only openvino and numpy.

(Which file and precision hint each part runs with is not measured: `policy` decides it from the hardware.)
"""

from __future__ import annotations

import numpy as np
import openvino as ov

from model_tools.runtime.devices import core
from model_tools.runtime.model_folder import CROSS_KV, DECODER, TEXT_ENCODER, VISION, ConvertedModel

# Representative lengths: a short question, a few decoded tokens.
QUESTION_TOKENS = 8
PAST_TOKENS = 8


def representative_inputs(
    model: ConvertedModel, precision: str, part: str, ov_core: ov.Core | None = None
) -> dict[str, np.ndarray]:
    """Inputs shaped like real use: one picture; an 8-token question; one decode step after 8 tokens."""
    ov_core = ov_core or core()
    rng = np.random.default_rng(0)
    height, width = model.spec.image.size
    text = model.spec.text
    layers, heads, head_dim, vocab = text.layers, text.heads, text.head_dim, text.vocab_size
    ids = rng.integers(5, max(6, vocab - 1), size=(1, QUESTION_TOKENS), dtype=np.int64)
    pixels = rng.standard_normal((1, 3, height, width), dtype=np.float32)
    if part == VISION:
        return {"pixel_values": pixels}
    seq, dim = image_embeds_shape(model, precision, ov_core)
    image_embeds = rng.standard_normal((1, seq, dim), dtype=np.float32)
    if part == TEXT_ENCODER:
        return {"input_ids": ids, "attention_mask": np.ones_like(ids), "image_embeds": image_embeds}
    # The decoder cross-attends to the question (VQA) or to the picture (captioning).
    cross = QUESTION_TOKENS if model.task == "vqa" else seq
    if part == CROSS_KV:
        states = (
            rng.standard_normal((1, cross, heads * head_dim), dtype=np.float32)
            if model.task == "vqa"
            else image_embeds
        )
        return {"encoder_hidden_states": states}
    if part == DECODER:
        feed: dict[str, np.ndarray] = {"input_ids": ids[:, :1]}
        for i in range(layers):
            for kind in ("key", "value"):
                feed[f"past_{kind}.{i}"] = rng.standard_normal(
                    (1, heads, PAST_TOKENS, head_dim), dtype=np.float32
                )
                feed[f"cross_{kind}.{i}"] = rng.standard_normal((1, heads, cross, head_dim), dtype=np.float32)
        return feed
    raise ValueError(f"unknown part {part}")


def image_embeds_shape(
    model: ConvertedModel, precision: str, ov_core: ov.Core | None = None
) -> tuple[int, int]:
    """(tokens, width) of the vision model's output for the manifest's picture size, by shape inference."""
    ov_core = ov_core or core()
    vision = ov_core.read_model(str(model.xml(precision, VISION)))
    height, width = model.spec.image.size
    vision.reshape({vision.input(0).get_any_name(): [1, 3, height, width]})
    shape = vision.output(0).get_partial_shape()
    return int(shape[1].get_length()), int(shape[2].get_length())
