"""Small LLaVA models built on the fly: a byte-level BPE tokenizer trained here and a small `LlavaConfig`.

A CLIP vision tower (32 px pictures in 8 px patches: 16 image tokens), a Llama language model (hidden 64,
2 layers, 4 heads, 2 key/value heads, untied embeddings) and a chat template in LLaVA-1.5's words. Used by
the tests (token-exact agreement between our export and transformers) and, with other sizes, by the
synthetic benchmark. torch, transformers and tokenizers are imported inside the functions that need them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from model_tools.runtime.images import CLIP_MEAN, CLIP_STD

PAD, BOS, EOS, IMAGE = "<pad>", "<s>", "</s>", "<image>"

# LLaVA-1.5's conversation format. `content` is text (openvino-genai puts the image tags in front of it) or a
# list of parts (transformers' processors); a picture stands as "<image>\n" before the words in both. The
# assistant's earlier answers are trimmed: genai's detokenizer gives an answer back with the leading space of
# its first token, and the history must read as a model is trained on ("ASSISTANT: The ...").
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] == 'system' %}{{ message['content'] }}{{ '\\n' }}"
    "{% elif message['role'] == 'user' %}USER: "
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for part in message['content'] %}"
    "{% if part['type'] == 'image' %}<image>{{ '\\n' }}"
    "{% elif part['type'] == 'text' %}{{ part['text'] }}{% endif %}"
    "{% endfor %}{% endif %}{{ '\\n' }}"
    "{% else %}ASSISTANT: "
    "{% if message['content'] is string %}{{ message['content'] | trim }}"
    "{% else %}{% for part in message['content'] %}{{ part['text'] | trim }}{% endfor %}{% endif %}"
    "</s>{{ '\\n' }}"
    "{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}ASSISTANT:{% endif %}"
)

CORPUS = (
    "USER: what is in the picture?\nASSISTANT: a red circle on a blue square.",
    "USER: describe this image in detail\nASSISTANT: there are two green triangles and a yellow star.",
    "what color is the shape? how many shapes are there? is it big or small?",
    "the dog is running on the grass next to a white car under the sky.",
)


def make_tokenizer(vocab_size: int = 300, corpus: list[str] | None = None, chat_template: str = CHAT_TEMPLATE) -> Any:
    """A byte-level BPE tokenizer (GPT-2 style) with `<image>` as one special token and the chat template.

    Trained on `corpus` (default: a few sentences about pictures, repeated)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[PAD, BOS, EOS, IMAGE],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(corpus if corpus is not None else list(CORPUS) * 20, trainer)
    hf = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token=BOS, eos_token=EOS, pad_token=PAD, extra_special_tokens={"image_token": IMAGE}
    )
    hf.chat_template = chat_template
    return hf


def tiny_llava_config(
    vocab_size: int,
    image_token_id: int,
    *,
    image_size: int = 32,
    patch_size: int = 8,
    vision_hidden: int = 32,
    hidden: int = 64,
    layers: int = 2,
    heads: int = 4,
    kv_heads: int = 2,
    vision_layers: int = 2,
    intermediate: int | None = None,
    vision_intermediate: int | None = None,
    initializer_range: float = 0.2,
    vision_feature_layer: int = -2,
) -> Any:
    """A LlavaConfig of a CLIP vision tower and a Llama language model of the given sizes.

    The default `initializer_range` 0.2 is wider than the 0.02 of real training starts, so that a random
    model gives varied answers rather than one token; a model to be trained starts from 0.02."""
    from transformers import CLIPVisionConfig, LlamaConfig, LlavaConfig

    vision = CLIPVisionConfig(
        image_size=image_size,
        patch_size=patch_size,
        hidden_size=vision_hidden,
        intermediate_size=vision_intermediate or 2 * vision_hidden,
        num_hidden_layers=vision_layers,
        num_attention_heads=4,
        projection_dim=vision_hidden,
    )
    text = LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=hidden,
        intermediate_size=intermediate or 2 * hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=kv_heads,
        max_position_embeddings=1024,
        initializer_range=initializer_range,
        tie_word_embeddings=False,
        pad_token_id=0,
        bos_token_id=1,
        eos_token_id=2,
    )
    return LlavaConfig(
        vision_config=vision,
        text_config=text,
        image_token_index=image_token_id,
        vision_feature_layer=vision_feature_layer,
        vision_feature_select_strategy="default",
        projector_hidden_act="gelu",
        image_seq_length=(image_size // patch_size) ** 2,
        tie_word_embeddings=False,
    )


def make_tiny_llava(folder: Path, *, seed: int = 0, image_size: int = 32, patch_size: int = 8) -> Path:
    """Save a random tiny LLaVA checkpoint (safetensors, tokenizer, processor, chat template) in `folder`."""
    import torch
    from transformers import LlavaForConditionalGeneration

    tokenizer = make_tokenizer()
    config = tiny_llava_config(
        len(tokenizer), tokenizer.convert_tokens_to_ids(IMAGE), image_size=image_size, patch_size=patch_size
    )
    torch.manual_seed(seed)
    model = LlavaForConditionalGeneration(config).eval()
    return save_llava(model, tokenizer, folder)


def save_llava(model: Any, tokenizer: Any, folder: Path) -> Path:
    """Write a LLaVA checkpoint as transformers loads it: safetensors, tokenizer, processor, chat template."""
    from transformers import CLIPImageProcessorPil, LlavaProcessor

    vision = model.config.vision_config
    image_size, patch_size = vision.image_size, vision.patch_size
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.bos_token_id = tokenizer.bos_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    images = CLIPImageProcessorPil(
        size={"shortest_edge": image_size},
        crop_size={"height": image_size, "width": image_size},
        image_mean=list(CLIP_MEAN),
        image_std=list(CLIP_STD),
    )
    processor = LlavaProcessor(
        image_processor=images,
        tokenizer=tokenizer,
        patch_size=patch_size,
        vision_feature_select_strategy="default",
        num_additional_image_tokens=1,
        chat_template=tokenizer.chat_template,
    )
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)  # safetensors
    processor.save_pretrained(folder)
    return folder
