"""A random LLaVA of a real small LLaVA's shapes (llava-interleave-qwen-0.5b's), built from a config.

SigLIP so400m-patch14-384 vision tower (hidden 1152, 27 layers, 16 heads: 384 px pictures in 14 px patches,
729 image tokens, every one kept: the "full" strategy, last layer), a gelu projector and a Qwen2 0.5B language
model (hidden 896, 24 layers, 14 heads, 2 key/value heads, intermediate 4864, attention biases, tied
embeddings, vocabulary 151646). The tokenizer is a byte-level BPE whose vocabulary is padded, with merges, to
the model's size, and a ChatML chat template: what the benchmark needs is the real shapes and bytes, not words.
The same builders with small sizes make a tiny SigLIP + Qwen2 LLaVA for the tests.

torch, transformers and tokenizers are imported inside the functions that need them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from model_tools.synthetic.tiny_llava import CORPUS

ENDOFTEXT, IM_START, IM_END, IMAGE = "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<image>"
SPECIALS = (ENDOFTEXT, IM_START, IM_END, IMAGE)  # after the BPE vocabulary, as in Qwen2's
SIGLIP_MEAN = SIGLIP_STD = (0.5, 0.5, 0.5)

# Qwen2's conversation format; a picture stands as "<image>\n" before the words (openvino-genai puts it there
# when the content is text; transformers' processors when it is a list of parts).
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' }}"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for part in message['content'] %}"
    "{% if part['type'] == 'image' %}<image>{{ '\\n' }}"
    "{% elif part['type'] == 'text' %}{{ part['text'] }}{% endif %}"
    "{% endfor %}{% endif %}"
    "{{ '<|im_end|>\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


@dataclass(frozen=True)
class LlavaShapes:
    """The sizes of a SigLIP + Qwen2 LLaVA."""

    image_size: int = 384
    patch_size: int = 14
    vision_hidden: int = 1152
    vision_intermediate: int = 4304
    vision_layers: int = 27
    vision_heads: int = 16
    hidden: int = 896
    intermediate: int = 4864
    layers: int = 24
    heads: int = 14
    kv_heads: int = 2
    vocab_size: int = 151646
    max_positions: int = 32768
    init_std: float = 0.02  # the language model's initializer_range (wider: varied answers from a tiny one)

    @property
    def image_tokens(self) -> int:
        return (self.image_size // self.patch_size) ** 2


LLAVA_INTERLEAVE_QWEN_05B = LlavaShapes()
# A tiny one of the same kinds (SigLIP, Qwen2 with biases and tied embeddings), for the tests.
TINY_SIGLIP_QWEN2 = LlavaShapes(
    image_size=28, patch_size=7, vision_hidden=32, vision_intermediate=64, vision_layers=2, vision_heads=4,
    hidden=64, intermediate=128, layers=2, heads=4, kv_heads=2, vocab_size=600, max_positions=2048,
    init_std=0.2,
)


def padded_tokenizer(vocab_size: int, seed: int = 0) -> Any:
    """A byte-level BPE tokenizer of exactly `vocab_size` tokens, the `SPECIALS` last, with a ChatML template.

    A few hundred merges are learnt from a small corpus; the rest of the vocabulary is made of merges of two
    tokens already there (drawn at random), so the tokenizer has the real one's size, vocabulary and merges.
    """
    import random

    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    bpe_size = vocab_size - len(SPECIALS)
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    learnt = min(bpe_size, 256 + 300)
    trainer = trainers.BpeTrainer(vocab_size=learnt, initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(list(CORPUS) * 20, trainer)
    data = json.loads(tok.to_str())
    vocab: dict[str, int] = data["model"]["vocab"]
    merges = [m if isinstance(m, list) else m.split(" ") for m in data["model"]["merges"]]
    if len(vocab) > bpe_size:
        raise ValueError(f"a vocabulary of {vocab_size} tokens is too small for the byte alphabet")
    rng = random.Random(seed)
    tokens = list(vocab)
    while len(vocab) < bpe_size:
        a, b = rng.choice(tokens), rng.choice(tokens)
        if a + b in vocab or len(a) + len(b) > 16:
            continue
        vocab[a + b] = len(vocab)
        tokens.append(a + b)
        merges.append([a, b])
    data["model"]["vocab"], data["model"]["merges"] = vocab, merges
    tok = Tokenizer.from_str(json.dumps(data))
    tok.add_special_tokens(list(SPECIALS))  # ids bpe_size, bpe_size + 1, ... in this order
    hf = PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token=IM_END, pad_token=ENDOFTEXT, extra_special_tokens={"image_token": IMAGE}
    )
    hf.chat_template = CHAT_TEMPLATE
    if len(hf) != vocab_size:
        raise AssertionError(f"tokenizer has {len(hf)} tokens, not {vocab_size}")
    return hf


def llava_config(shapes: LlavaShapes, image_token_id: int, pad_id: int, eos_id: int) -> Any:
    """A LlavaConfig of a SigLIP vision tower and a Qwen2 language model of `shapes`."""
    from transformers import LlavaConfig, Qwen2Config, SiglipVisionConfig

    vision = SiglipVisionConfig(
        image_size=shapes.image_size,
        patch_size=shapes.patch_size,
        hidden_size=shapes.vision_hidden,
        intermediate_size=shapes.vision_intermediate,
        num_hidden_layers=shapes.vision_layers,
        num_attention_heads=shapes.vision_heads,
        hidden_act="gelu_pytorch_tanh",
        layer_norm_eps=1e-6,
    )
    text = Qwen2Config(
        vocab_size=shapes.vocab_size,
        hidden_size=shapes.hidden,
        intermediate_size=shapes.intermediate,
        num_hidden_layers=shapes.layers,
        num_attention_heads=shapes.heads,
        num_key_value_heads=shapes.kv_heads,
        max_position_embeddings=shapes.max_positions,
        rope_theta=1000000.0,
        initializer_range=shapes.init_std,
        rms_norm_eps=1e-6,
        tie_word_embeddings=True,
        pad_token_id=pad_id,
        bos_token_id=None,
        eos_token_id=eos_id,
    )
    return LlavaConfig(
        vision_config=vision,
        text_config=text,
        image_token_index=image_token_id,
        vision_feature_layer=-1,
        vision_feature_select_strategy="full",
        projector_hidden_act="gelu",
        image_seq_length=shapes.image_tokens,
        tie_word_embeddings=True,
    )


def make_llava(folder: Path, shapes: LlavaShapes = LLAVA_INTERLEAVE_QWEN_05B, *, seed: int = 0) -> Path:
    """Save a random SigLIP + Qwen2 LLaVA of `shapes` (safetensors, tokenizer, processor) in `folder`."""
    import torch
    from transformers import CLIPImageProcessorPil, LlavaForConditionalGeneration, LlavaProcessor

    tokenizer = padded_tokenizer(shapes.vocab_size, seed=seed)
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in SPECIALS}
    config = llava_config(shapes, ids[IMAGE], ids[ENDOFTEXT], ids[IM_END])
    torch.manual_seed(seed)
    model = LlavaForConditionalGeneration(config).eval()
    gen = model.generation_config
    gen.pad_token_id, gen.bos_token_id, gen.eos_token_id = ids[ENDOFTEXT], None, ids[IM_END]
    images = CLIPImageProcessorPil(  # SigLIP's square pictures: the shortest edge resized, then a centre crop
        size={"shortest_edge": shapes.image_size},
        crop_size={"height": shapes.image_size, "width": shapes.image_size},
        image_mean=list(SIGLIP_MEAN),
        image_std=list(SIGLIP_STD),
    )
    processor = LlavaProcessor(
        image_processor=images,
        tokenizer=tokenizer,
        patch_size=shapes.patch_size,
        vision_feature_select_strategy="full",
        num_additional_image_tokens=0,  # SigLIP has no CLS token
        chat_template=CHAT_TEMPLATE,
    )
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)  # safetensors; the tied lm_head is not stored twice
    processor.save_pretrained(folder)
    return folder
