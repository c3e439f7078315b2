"""Small BLIP models built on the fly: a generated WordPiece vocabulary and a small `BlipConfig`.

Used by the tests (fidelity against PyTorch), the synthetic benchmark and the demo model.
torch and transformers are imported inside the functions that need them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from model_tools.runtime.images import CLIP_MEAN, CLIP_STD

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
DEC_TOKEN = "[DEC]"

# Words of the tiny test vocabulary: enough for questions and for varied answers.
TEST_WORDS = (
    "a an the is are there what color shape how many of in on and with picture photo image "
    "red green blue yellow white black circle square triangle object shapes one two three zero "
    "yes no dog cat man woman sitting standing table room street car tree sky"
).split()
TEST_PIECES = ["##s", "##ing", "##ed", "##er", "##ly", "?", ".", ",", "!"]

# The OpenAI CLIP normalisation every BLIP checkpoint uses.


def build_vocab(words: list[str], pieces: list[str] = TEST_PIECES) -> list[str]:
    """Return a WordPiece vocabulary: BERT's special tokens, the words, `##` pieces, then BLIP's [DEC]."""
    vocab = list(SPECIAL_TOKENS)
    for token in [*words, *pieces]:
        if token not in vocab:
            vocab.append(token)
    vocab.append(DEC_TOKEN)
    return vocab


def save_tokenizer(vocab: list[str], folder: Path, model_max_length: int = 512) -> None:
    """Write a BERT-style tokenizer (vocab.txt, tokenizer.json, configs) that transformers and tokenizers load."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    ids = {tok: i for i, tok in enumerate(vocab)}
    tok = Tokenizer(models.WordPiece(ids, unk_token="[UNK]", max_input_chars_per_word=100))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True, clean_text=True, handle_chinese_chars=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", ids["[CLS]"]), ("[SEP]", ids["[SEP]"])],
    )
    tok.decoder = decoders.WordPiece(prefix="##")
    from tokenizers import AddedToken

    specials = [t for t in vocab if t in SPECIAL_TOKENS or t in (DEC_TOKEN, "[ENC]")]
    tok.add_special_tokens([AddedToken(t, special=True) for t in specials])
    tok.save(str(folder / "tokenizer.json"))
    config = {
        "tokenizer_class": "BertTokenizer",
        "do_lower_case": True,
        "model_max_length": model_max_length,
        "unk_token": "[UNK]",
        "sep_token": "[SEP]",
        "pad_token": "[PAD]",
        "cls_token": "[CLS]",
        "mask_token": "[MASK]",
        "bos_token": DEC_TOKEN,
    }
    (folder / "tokenizer_config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
    special = {k: v for k, v in config.items() if k.endswith("_token")}
    (folder / "special_tokens_map.json").write_text(json.dumps(special, indent=2), encoding="utf-8")


def tiny_blip_config(
    vocab: list[str],
    *,
    hidden: int = 32,
    vision_layers: int = 2,
    text_layers: int = 2,
    heads: int = 4,
    image_size: int = 32,
    patch_size: int = 8,
    intermediate: int | None = None,
    max_positions: int = 64,
) -> Any:
    """A small `BlipConfig` whose token ids point into `vocab`.

    transformers forces the text side's encoder_hidden_size to the vision hidden size, so both share `hidden`.
    """
    from transformers import BlipConfig

    ids = {tok: i for i, tok in enumerate(vocab)}
    intermediate = intermediate or 4 * hidden
    text = dict(
        vocab_size=len(vocab),
        hidden_size=hidden,
        encoder_hidden_size=hidden,
        intermediate_size=intermediate,
        num_hidden_layers=text_layers,
        num_attention_heads=heads,
        max_position_embeddings=max_positions,
        pad_token_id=ids["[PAD]"],
        bos_token_id=ids[DEC_TOKEN],
        eos_token_id=ids["[SEP]"],
        sep_token_id=ids["[SEP]"],
    )
    vision = dict(
        hidden_size=hidden,
        intermediate_size=intermediate,
        num_hidden_layers=vision_layers,
        num_attention_heads=heads,
        image_size=image_size,
        patch_size=patch_size,
        initializer_range=0.02,  # transformers' default for BLIP vision is 1e-10
    )
    return BlipConfig(text_config=text, vision_config=vision, projection_dim=hidden)


def redraw_weights(model: Any, std: float = 0.02, seed: int = 0) -> None:
    """Re-draw Linear/Conv/Embedding weights from N(0, std) so activations look like a trained model's.

    Then round every parameter to float16 values, so an FP16 IR holds exactly the weights PyTorch uses.
    """
    import torch

    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.Linear | torch.nn.Conv2d | torch.nn.Embedding):
                w = module.weight
                w.copy_(torch.randn(w.shape, generator=gen) * std)
                bias = getattr(module, "bias", None)
                if bias is not None:
                    bias.copy_(torch.randn(bias.shape, generator=gen) * std)
        for p in model.parameters():
            p.copy_(p.to(torch.float16).to(torch.float32))


def save_image_processor(folder: Path, image_size: int) -> None:
    """Write preprocessor_config.json as BlipImageProcessor expects it."""
    cfg = {
        "image_processor_type": "BlipImageProcessor",
        "do_resize": True,
        "size": {"height": image_size, "width": image_size},
        "resample": 3,
        "do_rescale": True,
        "rescale_factor": 1 / 255,
        "do_normalize": True,
        "image_mean": list(CLIP_MEAN),
        "image_std": list(CLIP_STD),
        "do_convert_rgb": True,
    }
    (folder / "preprocessor_config.json").write_text(json.dumps(cfg, indent=2), encoding="utf-8")


def make_tiny_blip(
    folder: Path,
    task: str = "vqa",
    *,
    seed: int = 0,
    std: float = 0.02,
    words: list[str] | None = None,
    **config_kwargs: Any,
) -> Path:
    """Build a random tiny BLIP (task "vqa" or "caption") and save it as a Hugging Face folder (safetensors)."""
    import torch
    from transformers import BlipForConditionalGeneration, BlipForQuestionAnswering

    vocab = build_vocab(words or TEST_WORDS)
    config = tiny_blip_config(vocab, **config_kwargs)
    torch.manual_seed(seed)
    cls = BlipForQuestionAnswering if task == "vqa" else BlipForConditionalGeneration
    model = cls(config).eval()
    redraw_weights(model, std=std, seed=seed)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder, safe_serialization=True)
    save_tokenizer(vocab, folder)
    save_image_processor(folder, config.vision_config.image_size)
    return folder


def bert_sized_vocab(words: list[str] = TEST_WORDS, size: int = 30522) -> list[str]:
    """A vocabulary laid out like BERT's (and so like BLIP's): [PAD]=0, [UNK]=100, [CLS]=101, [SEP]=102,
    [MASK]=103, filler up to `size`, then [DEC] (30522 for the real models) and [ENC]."""
    vocab = ["[PAD]"] + [f"[unused{i}]" for i in range(99)] + ["[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    vocab += [w for w in [*words, *TEST_PIECES] if w not in vocab]
    vocab += [f"w{i}" for i in range(size - len(vocab))]
    return [*vocab, DEC_TOKEN, "[ENC]"]


def blip_base_config(vocab: list[str]) -> Any:
    """Salesforce/blip-vqa-base's architecture (also blip-image-captioning-base's)."""
    from transformers import BlipConfig

    text = dict(
        vocab_size=len(vocab), hidden_size=768, encoder_hidden_size=768, intermediate_size=3072,
        num_hidden_layers=12, num_attention_heads=12, max_position_embeddings=512,
        pad_token_id=0, bos_token_id=vocab.index(DEC_TOKEN), eos_token_id=2, sep_token_id=vocab.index("[SEP]"),
    )
    vision = dict(
        hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12,
        image_size=384, patch_size=16, initializer_range=0.02,
    )
    return BlipConfig(text_config=text, vision_config=vision, projection_dim=512)
