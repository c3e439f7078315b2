"""Inputs shaped like real use for timing one part of a chat model on its own (Compare, benchmarks).

The language model is stateful (its past keys and values live in the infer request): the inputs are a
prefill of `PROMPT_TOKENS` tokens into an empty state, so reset the request's state (`reset_state()`)
before each timed run. Imports only openvino and numpy.
"""

from __future__ import annotations

import json

import numpy as np
import openvino as ov

from model_tools.runtime.devices import core
from model_tools.runtime.model_folder import CHAT_LANGUAGE, CHAT_TEXT_EMBEDDINGS, CHAT_VISION, ConvertedModel

PROMPT_TOKENS = 32  # a short question with its template


def representative_inputs(
    model: ConvertedModel, precision: str, part: str, ov_core: ov.Core | None = None
) -> dict[str, np.ndarray]:
    """Inputs of one part: a picture at the model's size; a prompt's token ids; a prefill of their embeddings."""
    rng = np.random.default_rng(0)
    if part == CHAT_VISION:
        height, width = picture_size(model, precision)
        return {"pixel_values": rng.standard_normal((1, 3, height, width), dtype=np.float32)}
    if part == CHAT_TEXT_EMBEDDINGS:
        return {"input_ids": rng.integers(5, 100, size=(1, PROMPT_TOKENS), dtype=np.int64)}
    if part == CHAT_LANGUAGE:
        language = (ov_core or core()).read_model(str(model.xml(precision, CHAT_LANGUAGE)))
        hidden = language.input("inputs_embeds").get_partial_shape()[2].get_length()
        return {
            "inputs_embeds": rng.standard_normal((1, PROMPT_TOKENS, hidden), dtype=np.float32),
            "attention_mask": np.ones((1, PROMPT_TOKENS), dtype=np.int64),
            "position_ids": np.arange(PROMPT_TOKENS, dtype=np.int64)[None],
            "beam_idx": np.zeros((1,), dtype=np.int32),
        }
    raise ValueError(f"unknown part {part}")


def picture_size(model: ConvertedModel, precision: str) -> tuple[int, int]:
    """(height, width) the vision part takes: the manifest's, else preprocessor_config.json's crop or size."""
    if model.spec.chat is not None and model.spec.chat.image is not None:
        return model.spec.chat.image.size
    config = json.loads((model.path / precision / "preprocessor_config.json").read_text(encoding="utf-8"))
    size = config.get("crop_size") or config.get("size") or {}
    if isinstance(size, dict):
        side = int(size.get("shortest_edge") or size.get("height") or 336)
        return int(size.get("height") or side), int(size.get("width") or side)
    return int(size), int(size)
