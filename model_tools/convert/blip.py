"""Hugging Face BLIP (id or local folder) -> a converted Glimpse model folder with FP16 OpenVINO IR.

    <out>/manifest.json  tokenizer.json  fp16/{vision_model,text_encoder,text_decoder_cross_kv,text_decoder}.xml/.bin

torch and transformers are imported inside the functions that use them. Weights load from safetensors only;
remote code is never trusted.
"""

from __future__ import annotations

import json
import math
import shutil
import threading
import warnings
from pathlib import Path
from typing import Any

from model_tools import __version__
from model_tools.jobs.progress import (
    OnProgress,
    atomic_folder,
    check_cancel,
    check_target,
    is_disk_full,
    report,
)
from model_tools.runtime.errors import ConversionError
from model_tools.runtime.images import CLIP_MEAN, CLIP_STD
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


def inspect_source(folder: Path) -> tuple[str, dict[str, Any]]:
    """Check that `folder` holds a BLIP model we can convert; return (architecture, config)."""
    cfg_path = folder / "config.json"
    if not cfg_path.is_file():
        raise ConversionError(f"{folder} has no config.json, so it is not a Hugging Face model folder.")
    try:
        config = json.loads(cfg_path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ConversionError(f"{folder}/config.json is not valid JSON ({exc}).") from None
    archs = config.get("architectures") or []
    arch = next((a for a in archs if a in ARCHITECTURES), None)
    if config.get("model_type") != "blip" or arch is None:
        found = ", ".join(archs) or config.get("model_type", "unknown")
        raise ConversionError(
            f"{folder.name} is not a BLIP question-answering or captioning model (it is {found}).",
            "Glimpse converts BlipForQuestionAnswering and BlipForConditionalGeneration models.",
        )
    if not list(folder.glob("*.safetensors")):
        raise ConversionError(
            f"{folder.name} has no .safetensors weights.",
            "Glimpse loads weights only from safetensors (pickled .bin files can run code).",
        )
    return arch, config


def convert(
    source: str | Path,
    out: str | Path,
    *,
    revision: str | None = None,
    name: str | None = None,
    overwrite: bool = False,
    on_progress: OnProgress | None = None,
    cancel: threading.Event | None = None,
    extra_manifest: dict[str, Any] | None = None,
) -> Path:
    """Convert a BLIP model (Hugging Face id or local folder) into a model folder at `out`; return `out`.

    The folder appears whole or not at all. runs in: a worker thread (minutes for the base models).
    """
    out = Path(out).expanduser()
    check_target(out, replace=overwrite, model=True)  # before loading or downloading anything
    source_id = str(source)
    src = Path(source_id).expanduser()
    if src.is_dir():
        folder = src
    elif src.exists():
        raise ConversionError(f"{src} is a file; give a model folder or a Hugging Face id.")
    elif looks_like_path(source_id):
        raise ConversionError(
            f"There is no folder {src}.",
            "Check the path, or give a Hugging Face id such as Salesforce/blip-vqa-base.",
        )
    else:
        from model_tools.library.hub import download

        folder = download(source_id, revision=revision, on_progress=on_progress, cancel=cancel)
    arch, config = inspect_source(folder)
    task = ARCHITECTURES[arch]
    check_cancel(cancel)
    stages = components(task)
    total = len(stages) + 2
    label = folder.name if src.is_dir() else source_id  # a download sits in a folder named after its commit
    report(on_progress, "load", 0, total, message=f"Loading {label} with transformers")
    model = _load_torch_model(folder, arch)
    try:
        with atomic_folder(out, replace=overwrite, model=True) as tmp:
            report(on_progress, "tokenizer", 1, total, message="Writing tokenizer.json")
            _save_tokenizer(folder, tmp / TOKENIZER)
            (tmp / "fp16").mkdir()
            for i, part in enumerate(stages):
                check_cancel(cancel)
                report(on_progress, part, 1 + i, total, message=f"Converting {part}")
                export_part(model, part, tmp / "fp16" / f"{part}.xml")
            check_cancel(cancel)
            report(on_progress, "manifest", total - 1, total, message="Writing manifest with checksums")
            manifest = _manifest(model, folder, source_id, revision, task, arch, name or out.name, tmp)
            manifest.update(extra_manifest or {})
            write_json_atomic(tmp / MANIFEST, manifest)
    except (OSError, RuntimeError) as exc:
        if not is_disk_full(exc):
            raise
        raise ConversionError(
            f"Could not write the converted model: the disk is full (need about "
            f"{_needed_mb(model, folder)} MB at {out.parent}).",
            "Free some space there, or convert into a folder on another disk.",
        ) from None
    report(on_progress, "done", total, total, message=f"Converted to {out}")
    return out


def looks_like_path(text: str) -> bool:
    """A local path rather than a Hugging Face id (owner/name, which never starts with a dot or holds two
    slashes)."""
    return (
        text.startswith(("/", ".", "~"))
        or "\\" in text
        or text.count("/") > 1
        or Path(text).is_absolute()
        or (len(text) > 1 and text[1] == ":")  # C:
    )


def _needed_mb(model: Any, folder: Path) -> int:
    """About how much a conversion writes: FP16 weights (two bytes a parameter), the tokenizer, the XML."""
    need = 2 * sum(p.numel() for p in model.parameters()) + 2**20
    tokenizer = folder / TOKENIZER
    if tokenizer.is_file():
        need += tokenizer.stat().st_size
    return max(1, math.ceil(need / 1e6))


def _load_torch_model(folder: Path, arch: str) -> Any:
    import torch
    import transformers
    from safetensors import SafetensorError  # a damaged or truncated weights file

    cls = getattr(transformers, arch)
    try:
        model = cls.from_pretrained(folder, use_safetensors=True, dtype=torch.float32)
    except (OSError, ValueError, RuntimeError, SafetensorError) as exc:
        raise ConversionError(
            f"transformers could not load {folder.name}: {str(exc).splitlines()[0]}",
            "Its files may be damaged or incomplete: download or copy the model again.",
        ) from exc
    return model.eval()


def _save_tokenizer(folder: Path, target: Path) -> None:
    """Write a `tokenizers` JSON: copy the model's own if it loads, else build one with transformers."""
    from tokenizers import Tokenizer

    own = folder / TOKENIZER
    if own.is_file():
        try:
            Tokenizer.from_file(str(own))
            shutil.copyfile(own, target)
            return
        except Exception:  # noqa: BLE001 - fall back to transformers' conversion below
            pass
    from transformers import AutoTokenizer

    try:
        tok = AutoTokenizer.from_pretrained(folder)
        tok.backend_tokenizer.save(str(target))
    except (OSError, ValueError, AttributeError) as exc:
        raise ConversionError(f"{folder.name} has no usable tokenizer ({exc}).") from exc


def _manifest(
    model: Any, folder: Path, source_id: str, revision: str | None, task: str, arch: str, name: str, root: Path
) -> dict[str, Any]:
    import openvino
    import torch
    import transformers

    tc, vc = model.config.text_config, model.config.vision_config
    size, mean, std = [vc.image_size, vc.image_size], list(CLIP_MEAN), list(CLIP_STD)
    pre = folder / "preprocessor_config.json"
    if pre.is_file():
        p = json.loads(pre.read_text(encoding="utf-8"))
        s = p.get("size", {})
        if isinstance(s, dict) and "height" in s:
            size = [s["height"], s["width"]]
        elif isinstance(s, int):
            size = [s, s]
        mean, std = p.get("image_mean", mean), p.get("image_std", std)
    files = {TOKENIZER: file_record(root, TOKENIZER)}
    fp16 = {f"fp16/{p}.{ext}": file_record(root, f"fp16/{p}.{ext}") for p in components(task) for ext in ("xml", "bin")}
    return {
        "format_version": FORMAT_VERSION,
        "name": name,
        "task": task,
        "architecture": arch,
        "source": {"id": source_id, "revision": revision, "path": str(folder)},
        "tokens": {
            "decoder_start": int(tc.bos_token_id),  # [DEC]; not generation_config.json's value
            "end": int(tc.sep_token_id),
            "pad": int(tc.pad_token_id),
        },
        "image": {"size": size, "mean": list(mean), "std": list(std), "resample": "bicubic"},
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
        "tools": {
            "glimpse": __version__,
            "openvino": openvino.__version__,
            "torch": torch.__version__,
            "transformers": transformers.__version__,
        },
    }


# -- exporting each part -------------------------------------------------------------------------------------


def export_part(model: Any, part: str, xml: Path) -> None:
    """Trace one part of `model` to OpenVINO and save it with FP16 weights."""
    import openvino as ov
    import torch

    module, example, in_names, out_names = _part_spec(model, part)
    with torch.no_grad(), warnings.catch_warnings():
        # Tracing warns about Python branches on shapes; the cache wrapper fixes those branches on purpose.
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        ov_model = ov.convert_model(module, example_input=example)
    for port, n in zip(ov_model.inputs, in_names, strict=True):
        port.get_tensor().set_names({n})
    for port, n in zip(ov_model.outputs, out_names, strict=True):
        port.get_tensor().set_names({n})
    ov.save_model(ov_model, xml, compress_to_fp16=True)


def _part_spec(model: Any, part: str) -> tuple[Any, tuple[Any, ...], list[str], list[str]]:
    import torch

    tc, vc = model.config.text_config, model.config.vision_config
    layers, heads = tc.num_hidden_layers, tc.num_attention_heads
    head_dim = tc.hidden_size // heads
    seq = (vc.image_size // vc.patch_size) ** 2 + 1
    image_embeds = torch.randn(1, seq, vc.hidden_size)
    if part == VISION:
        return (
            _Vision(model.vision_model),
            (torch.randn(1, 3, vc.image_size, vc.image_size),),
            ["pixel_values"],
            ["image_embeds"],
        )
    if part == TEXT_ENCODER:
        ids = torch.randint(5, tc.vocab_size - 1, (1, 6))
        return (
            _TextEncoder(model.text_encoder),
            (ids, torch.ones_like(ids), image_embeds),
            ["input_ids", "attention_mask", "image_embeds"],
            ["question_embeds"],
        )
    kv_names = [f"{kind}.{i}" for i in range(layers) for kind in ("key", "value")]
    if part == CROSS_KV:
        return (
            _CrossKV(model.text_decoder),
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
            _Decoder(model.text_decoder),
            tuple(example),
            ["input_ids"] + [f"past_{n}" for n in kv_names] + [f"cross_{n}" for n in kv_names],
            ["logits"] + [f"present_{n}" for n in kv_names],
        )
    raise ValueError(f"unknown part {part}")


def _Vision(vision: Any) -> Any:  # noqa: N802 - reads like a class at the call site
    import torch

    class Vision(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.vision = vision

        def forward(self, pixel_values: Any) -> Any:
            return self.vision(pixel_values=pixel_values)[0]

    return Vision()


def _TextEncoder(encoder: Any) -> Any:  # noqa: N802
    import torch

    class TextEncoder(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.encoder = encoder

        def forward(self, input_ids: Any, attention_mask: Any, image_embeds: Any) -> Any:
            image_mask = torch.ones(image_embeds.shape[:-1], dtype=torch.long)
            return self.encoder(
                input_ids=input_ids,
                attention_mask=attention_mask,
                encoder_hidden_states=image_embeds,
                encoder_attention_mask=image_mask,
                return_dict=False,
            )[0]

    return TextEncoder()


def _CrossKV(decoder: Any) -> Any:  # noqa: N802
    import torch

    class CrossKV(torch.nn.Module):
        """Each decoder layer's cross-attention keys and values, [batch, heads, seq, head_dim]."""

        def __init__(self) -> None:
            super().__init__()
            self.decoder = decoder

        def forward(self, encoder_hidden_states: Any) -> Any:
            out = []
            b, s, _ = encoder_hidden_states.shape
            for layer in self.decoder.bert.encoder.layer:
                att = layer.crossattention.self
                shape = (b, s, -1, att.attention_head_size)
                out.append(att.key(encoder_hidden_states).view(shape).transpose(1, 2))
                out.append(att.value(encoder_hidden_states).view(shape).transpose(1, 2))
            return tuple(out)

    return CrossKV()


def _Decoder(decoder: Any) -> Any:  # noqa: N802
    import torch
    from transformers.cache_utils import DynamicCache, EncoderDecoderCache

    class Decoder(torch.nn.Module):
        """BLIP's text decoder taking and returning flat past tensors (transformers 5.x keeps Cache objects).

        The caches' layers are filled directly: `Cache.update` would start from an empty tensor, which
        does not trace. Cross-attention K/V come precomputed and are marked as already updated, so the
        decoder never recomputes them from the encoder states.
        """

        def __init__(self) -> None:
            super().__init__()
            self.decoder = decoder

        def forward(self, input_ids: Any, *flat: Any) -> Any:
            n = len(flat) // 4
            self_cache = DynamicCache(config=self.decoder.config)
            cross_cache = DynamicCache(config=self.decoder.config)
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
            out = self.decoder(
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

    return Decoder()
