"""Hugging Face BLIP (id or local folder) -> a converted Glimpse model folder with FP16 OpenVINO IR.

    <out>/manifest.json  tokenizer.json  fp16/{vision_model,text_encoder,text_decoder_cross_kv,text_decoder}.xml/.bin

torch and transformers are imported inside the functions that use them. Weights load from safetensors only;
remote code is never trusted. What is not BLIP's own (finding and loading the source, the tokenizer, tracing a
part) is in `common`.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from model_tools.convert.common import (
    converted_folder,
    export_module,
    fp16_size_mb,
    image_settings,
    load_torch_model,
    open_source,
    read_config,
    require_safetensors,
    save_tokenizer,
    tool_versions,
    traced,
)
from model_tools.jobs.progress import OnProgress, check_cancel, report
from model_tools.jobs.requests import ConvertRequest, ModelResult
from model_tools.runtime.errors import ConversionError
from model_tools.runtime.model_folder import (
    CROSS_KV,
    DECODER,
    FORMAT_VERSION,
    MANIFEST,
    TEXT_ENCODER,
    TOKENIZER,
    VISION,
    components,
    file_record,
    write_json_atomic,
)

ARCHITECTURES = {"BlipForQuestionAnswering": "vqa", "BlipForConditionalGeneration": "caption"}
MODEL_TYPES = ("blip",)


def inspect_source(folder: Path) -> tuple[str, dict[str, Any]]:
    """Check that `folder` holds a BLIP model we can convert; return (architecture, config)."""
    config = read_config(folder)
    archs = config.get("architectures") or []
    arch = next((a for a in archs if a in ARCHITECTURES), None)
    if config.get("model_type") not in MODEL_TYPES or arch is None:
        found = ", ".join(archs) or config.get("model_type", "unknown")
        raise ConversionError(
            f"{folder.name} is not a BLIP question-answering or captioning model (it is {found}).",
            "Glimpse converts BlipForQuestionAnswering and BlipForConditionalGeneration models.",
        )
    require_safetensors(folder)
    return arch, config


def convert(
    request: ConvertRequest,
    *,
    on_progress: OnProgress | None = None,
    cancel: threading.Event | None = None,
    extra_manifest: dict[str, Any] | None = None,
) -> ModelResult:
    """Convert a BLIP model (Hugging Face id or local folder) into a model folder at `request.out`.

    The folder appears whole or not at all. `extra_manifest` is merged into its manifest (the demo models
    say what they are). runs in: a worker thread (minutes for the base models).
    """
    overwrite = request.overwrite
    out, folder, label = open_source(request, on_progress=on_progress, cancel=cancel)
    arch, config = inspect_source(folder)
    task = ARCHITECTURES[arch]
    check_cancel(cancel)
    stages = components(task)
    total = len(stages) + 2
    report(on_progress, "load", 0, total, message=f"Loading {label} with transformers")
    model = load_torch_model(folder, arch)
    with converted_folder(out, replace=overwrite, need_mb=fp16_size_mb(model, folder, TOKENIZER)) as tmp:
        report(on_progress, "tokenizer", 1, total, message="Writing tokenizer.json")
        save_tokenizer(folder, tmp / TOKENIZER)
        (tmp / "fp16").mkdir()
        for i, part in enumerate(stages):
            check_cancel(cancel)
            report(on_progress, part, 1 + i, total, message=f"Converting {part}")
            export_part(model, part, tmp / "fp16" / f"{part}.xml")
        check_cancel(cancel)
        report(on_progress, "manifest", total - 1, total, message="Writing manifest with checksums")
        manifest = _manifest(model, folder, request.source, request.revision, task, arch, request.name or out.name, tmp)
        manifest.update(extra_manifest or {})
        write_json_atomic(tmp / MANIFEST, manifest)
    report(on_progress, "done", total, total, message=f"Converted to {out}")
    return ModelResult.of(out)


def _manifest(
    model: Any, folder: Path, source_id: str, revision: str | None, task: str, arch: str, name: str, root: Path
) -> dict[str, Any]:
    tc, vc = model.config.text_config, model.config.vision_config
    size, mean, std = image_settings(folder, [vc.image_size, vc.image_size])
    files = {TOKENIZER: file_record(root, TOKENIZER)}
    fp16 = {f"fp16/{p}.{ext}": file_record(root, f"fp16/{p}.{ext}") for p in components(task) for ext in ("xml", "bin")}
    return {
        "format_version": FORMAT_VERSION,
        "family": "blip",
        "name": name,
        "task": task,
        "architecture": arch,
        "source": {"id": source_id, "revision": revision, "path": str(folder)},
        "tokens": {
            "decoder_start": int(tc.bos_token_id),  # [DEC]; not generation_config.json's value
            "end": int(tc.sep_token_id),
            "pad": int(tc.pad_token_id),
        },
        "image": {"size": size, "mean": mean, "std": std, "resample": "bicubic"},
        "text": {
            "layers": tc.num_hidden_layers,
            "heads": tc.num_attention_heads,
            "head_dim": tc.hidden_size // tc.num_attention_heads,
            "vocab_size": tc.vocab_size,
            "max_positions": tc.max_position_embeddings,
            "max_question_tokens": tc.max_position_embeddings,
        },
        "files": files,
        "precisions": {"fp16": {"files": fp16, "made_by": "convert"}},
        "tools": tool_versions(),
    }


# -- exporting each part -------------------------------------------------------------------------------------


def export_part(model: Any, part: str, xml: Path) -> None:
    """Trace one part of `model` to OpenVINO and save it with FP16 weights."""
    export_module(*_part_spec(model, part), xml)


def _part_spec(model: Any, part: str) -> tuple[Any, tuple[Any, ...], list[str], list[str]]:
    import torch

    tc, vc = model.config.text_config, model.config.vision_config
    layers, heads = tc.num_hidden_layers, tc.num_attention_heads
    head_dim = tc.hidden_size // heads
    seq = (vc.image_size // vc.patch_size) ** 2 + 1
    image_embeds = torch.randn(1, seq, vc.hidden_size)
    if part == VISION:
        return (
            traced(model.vision_model, _vision),
            (torch.randn(1, 3, vc.image_size, vc.image_size),),
            ["pixel_values"],
            ["image_embeds"],
        )
    if part == TEXT_ENCODER:
        ids = torch.randint(5, tc.vocab_size - 1, (1, 6))
        return (
            traced(model.text_encoder, _text_encoder),
            (ids, torch.ones_like(ids), image_embeds),
            ["input_ids", "attention_mask", "image_embeds"],
            ["question_embeds"],
        )
    kv_names = [f"{kind}.{i}" for i in range(layers) for kind in ("key", "value")]
    if part == CROSS_KV:
        return (
            traced(model.text_decoder, _cross_kv),
            (torch.randn(1, 7, tc.encoder_hidden_size),),
            ["encoder_hidden_states"],
            [f"cross_{n}" for n in kv_names],
        )
    if part == DECODER:
        beams, new, past, cross = 2, 3, 2, 7  # >1 everywhere so every dimension stays dynamic
        example = [torch.randint(5, tc.vocab_size - 1, (beams, new))]
        example += [torch.randn(beams, heads, past, head_dim) for _ in range(2 * layers)]
        example += [torch.randn(1, heads, cross, head_dim) for _ in range(2 * layers)]
        return (
            traced(model.text_decoder, _decoder),
            tuple(example),
            ["input_ids"] + [f"past_{n}" for n in kv_names] + [f"cross_{n}" for n in kv_names],
            ["logits"] + [f"present_{n}" for n in kv_names],
        )
    raise ValueError(f"unknown part {part}")


def _vision(vision: Any, pixel_values: Any) -> Any:
    return vision(pixel_values=pixel_values)[0]


def _text_encoder(encoder: Any, input_ids: Any, attention_mask: Any, image_embeds: Any) -> Any:
    import torch

    image_mask = torch.ones(image_embeds.shape[:-1], dtype=torch.long)
    return encoder(
        input_ids=input_ids,
        attention_mask=attention_mask,
        encoder_hidden_states=image_embeds,
        encoder_attention_mask=image_mask,
        return_dict=False,
    )[0]


def _cross_kv(decoder: Any, encoder_hidden_states: Any) -> Any:
    """Each decoder layer's cross-attention keys and values, [batch, heads, seq, head_dim]."""
    out = []
    b, s, _ = encoder_hidden_states.shape
    for layer in decoder.bert.encoder.layer:
        att = layer.crossattention.self
        shape = (b, s, -1, att.attention_head_size)
        out.append(att.key(encoder_hidden_states).view(shape).transpose(1, 2))
        out.append(att.value(encoder_hidden_states).view(shape).transpose(1, 2))
    return tuple(out)


def _decoder(decoder: Any, input_ids: Any, *flat: Any) -> Any:
    """BLIP's text decoder taking and returning flat past tensors (transformers 5.x keeps Cache objects).

    The caches' layers are filled directly: `Cache.update` would start from an empty tensor, which
    does not trace. Cross-attention K/V come precomputed and are marked as already updated, so the
    decoder never recomputes them from the encoder states.
    """
    from transformers.cache_utils import DynamicCache, EncoderDecoderCache

    n = len(flat) // 4
    self_cache = DynamicCache(config=decoder.config)
    cross_cache = DynamicCache(config=decoder.config)
    for cache, offset in ((self_cache, 0), (cross_cache, 2 * n)):
        for i in range(n):
            k, v = flat[offset + 2 * i], flat[offset + 2 * i + 1]
            layer = cache.layers[i]
            layer.lazy_initialization(k, v)
            layer.keys, layer.values = k, v
    cache = EncoderDecoderCache(self_cache, cross_cache)
    for i in range(n):
        cache.is_updated[i] = True
    # Cross-attention runs only when encoder states are given; they are not read (K/V are cached).
    placeholder = flat[2 * n][:, 0]
    out = decoder(
        input_ids=input_ids,
        encoder_hidden_states=placeholder,
        past_key_values=cache,
        use_cache=True,
        return_dict=True,
    )
    present = []
    for i in range(n):
        present += [self_cache.layers[i].keys, self_cache.layers[i].values]
    return (out.logits[:, -1, :], *present)
