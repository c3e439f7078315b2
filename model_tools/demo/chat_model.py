"""The demo chat model: a tiny LLaVA (CLIP vision tower + Llama) that talks about shape pictures.

Pictures are 96 px in 16 px patches (36 image tokens, CLS dropped), as the BLIP demo's vision tower sees
them. The vision tower (hidden 128, 4 layers) also learns, beside the language loss, which shape covers the
centre of each patch (`patch_labels`): the language model then reads features that already say "red
triangle here", which is what single-turn throwaway runs could not learn from the text loss alone. The
tokenizer is a byte-level BPE trained on the generated conversations (`<image>` one special token), with
`tiny_llava`'s chat template (LLaVA-1.5's, earlier answers trimmed).

torch and transformers are imported inside the functions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from model_tools.synthetic.conversations import Conversation, corpus
from model_tools.synthetic.shapes import COLORS, KINDS, Scene, Shape

IMAGE_SIZE = 96
PATCH_SIZE = 16
GRID = IMAGE_SIZE // PATCH_SIZE
IMAGE_TOKENS = GRID * GRID
VOCAB_SIZE = 400
TOKENIZER_CONVERSATIONS = 4000
TOKENIZER_SEED = 7
MODEL = dict(
    image_size=IMAGE_SIZE,
    patch_size=PATCH_SIZE,
    vision_hidden=128,
    vision_layers=4,
    vision_intermediate=512,
    hidden=128,
    layers=4,
    heads=4,
    kv_heads=2,
    intermediate=512,
    initializer_range=0.02,
    vision_feature_layer=-1,  # the tower is trained for this model: its last layer is the useful one
)
PATCH_CLASSES = 1 + len(COLORS) * len(KINDS)  # background, or one (colour, kind)
ANSWER_END = "</s>"

def make_tokenizer() -> Any:
    """The demo's byte-level BPE tokenizer, trained on generated conversations (the same every time)."""
    from model_tools.synthetic.tiny_llava import make_tokenizer as bpe

    return bpe(VOCAB_SIZE, corpus=corpus(TOKENIZER_CONVERSATIONS, TOKENIZER_SEED))


def make_model(tokenizer: Any, seed: int = 0) -> Any:
    """A fresh `LlavaForConditionalGeneration` of the demo's sizes."""
    import torch
    from transformers import LlavaForConditionalGeneration

    from model_tools.synthetic.tiny_llava import IMAGE, tiny_llava_config

    config = tiny_llava_config(len(tokenizer), tokenizer.convert_tokens_to_ids(IMAGE), **MODEL)
    torch.manual_seed(seed)
    return LlavaForConditionalGeneration(config)


# -- what the vision tower learns besides the text -------------------------------------------------------


def _covers(shape: Shape, x: float, y: float) -> bool:
    """Whether the point (fractions of the side) lies well inside `shape` (a core region: labels stay clean)."""
    dx, dy = x - shape.cx, y - shape.cy
    a = math.radians(-shape.rotation)
    u, v = dx * math.cos(a) - dy * math.sin(a), dx * math.sin(a) + dy * math.cos(a)
    half = shape.size / 2
    if shape.kind == "circle":
        return u * u + v * v <= half * half
    if shape.kind == "square":
        return max(abs(u), abs(v)) <= half
    # a triangle pointing up inside its box: the lower part is wider (the core: below the middle, within the
    # slanted sides)
    h = shape.size * math.sqrt(3) / 2
    if not -h / 2 <= v <= h / 2:
        return False
    return abs(u) <= half * (v + h / 2) / h


def patch_labels(scene: Scene, grid: int = GRID) -> np.ndarray:
    """For each patch (row-major), 0 for background or 1 + colour * 3 + kind of the shape at its centre."""
    labels = np.zeros(grid * grid, dtype=np.int64)
    for row in range(grid):
        for col in range(grid):
            x, y = (col + 0.5) / grid, (row + 0.5) / grid
            for shape in scene.shapes:
                if _covers(shape, x, y):
                    labels[row * grid + col] = 1 + COLORS.index(shape.color) * len(KINDS) + KINDS.index(shape.kind)
                    break
    return labels


# -- conversations as token ids --------------------------------------------------------------------------


@dataclass
class Encoded:
    """One conversation as the language model reads it: ids with every `<image>` expanded, labels on answers."""

    input_ids: list[int]
    labels: list[int]  # -100 outside the answers (and their `</s>`)
    answer_spans: list[tuple[int, int]]  # [start, end) of each answer's labelled tokens, turn by turn


def messages(conversation: Conversation, answers: list[str] | None = None) -> list[dict[str, Any]]:
    """The conversation as chat-template messages: pictures as image parts in the turn they came with."""
    out: list[dict[str, Any]] = []
    for i, turn in enumerate(conversation.turns):
        parts = [{"type": "image"} for _ in turn.pictures] + [{"type": "text", "text": turn.question}]
        out.append({"role": "user", "content": parts})
        out.append({"role": "assistant", "content": answers[i] if answers is not None else turn.answer})
    return out


def encode(conversation: Conversation, tokenizer: Any, image_tokens: int = IMAGE_TOKENS) -> Encoded:
    """Token ids of the whole conversation (the chat template's text), labels on each answer and its `</s>`."""
    text = tokenizer.apply_chat_template(messages(conversation), tokenize=False)
    spans, start = [], 0
    for turn in conversation.turns:
        at = text.index("ASSISTANT: " + turn.answer + ANSWER_END, start) + len("ASSISTANT:")
        end = at + len(" " + turn.answer + ANSWER_END)
        spans.append((at, end))
        start = end
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    image_id = tokenizer.convert_tokens_to_ids("<image>")
    ids: list[int] = []
    labels: list[int] = []
    answer_spans: list[tuple[int, int]] = []
    span_of_token = [next((k for k, (a, b) in enumerate(spans) if s < b and e > a), None)
                     for s, e in enc["offset_mapping"]]
    for token, k in zip(enc["input_ids"], span_of_token, strict=True):
        if token == image_id:
            ids += [image_id] * image_tokens
            labels += [-100] * image_tokens
            continue
        if k is not None:
            if len(answer_spans) <= k:
                answer_spans.append((len(ids), len(ids)))
            answer_spans[k] = (answer_spans[k][0], len(ids) + 1)
        ids.append(token)
        labels.append(token if k is not None else -100)
    return Encoded(ids, labels, answer_spans)


def forward(model: Any, aux_head: Any, batch: dict[str, Any]) -> tuple[Any, Any, Any]:
    """(logits, patch logits) of a batch: LLaVA's forward, with the vision features also given to `aux_head`.

    The same computation as `LlavaForConditionalGeneration.forward` for the "default" strategy and the
    config's `vision_feature_layer` (checked in the tests), done by hand to reach the features once.
    Returns (logits, patch_logits, image_features).
    """
    inner = model.model
    vision = inner.vision_tower(batch["pixel_values"], output_hidden_states=True)
    features = vision.hidden_states[model.config.vision_feature_layer][:, 1:]
    image_features = inner.multi_modal_projector(features)
    embeds = inner.get_input_embeddings()(batch["input_ids"])
    mask = (batch["input_ids"] == model.config.image_token_id).unsqueeze(-1).expand_as(embeds)
    embeds = embeds.masked_scatter(mask, image_features.to(embeds.dtype))
    hidden = inner.language_model(inputs_embeds=embeds, attention_mask=batch["attention_mask"]).last_hidden_state
    return model.lm_head(hidden), aux_head(features), image_features
