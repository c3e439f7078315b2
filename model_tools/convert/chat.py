"""LLaVA checkpoints -> the folder layout openvino-genai's VLMPipeline reads (the `chat` family).

optimum-intel does not import with transformers 5.x, so the export is ours. Three parts, traced from small
wrapper modules:

- `openvino_text_embeddings_model`: token ids -> `inputs_embeds`;
- `openvino_vision_embeddings_model`: `pixel_values` -> image features after the projector (the model's
  `vision_feature_layer`, CLS dropped for the "default" strategy);
- `openvino_language_model`: stateful; inputs `inputs_embeds`, `attention_mask`, `position_ids`, `beam_idx`,
  output `logits`; past keys/values live in states, each read through a `beam_idx` Gather.

plus `openvino_tokenizer` / `openvino_detokenizer` (openvino-tokenizers; they carry the chat template), the
Hugging Face configs VLMPipeline reads, and our manifest with checksums:

    <out>/manifest.json  fp16/{openvino_*_model, openvino_tokenizer, openvino_detokenizer}.xml|.bin  fp16/*.json

torch, transformers, openvino and openvino-tokenizers are imported inside the functions that use them. Weights
load from safetensors only; remote code is never trusted.
"""

from __future__ import annotations

import json
import threading
import warnings
from pathlib import Path, PurePosixPath
from typing import Any

from model_tools.convert.common import (
    converted_folder,
    fp16_size_mb,
    load_torch_model,
    open_source,
    read_config,
    require_safetensors,
    tool_versions,
)
from model_tools.jobs.progress import OnProgress, check_cancel, report
from model_tools.jobs.requests import ConvertRequest, ModelResult
from model_tools.runtime.errors import ConversionError
from model_tools.runtime.images import CLIP_MEAN, CLIP_STD
from model_tools.runtime.model_folder import (
    CHAT_CONFIGS,
    CHAT_LANGUAGE,
    CHAT_PARTS,
    CHAT_TEXT_EMBEDDINGS,
    CHAT_TOKENIZERS,
    CHAT_VISION,
    FORMAT_VERSION,
    MANIFEST,
    file_record,
    write_json_atomic,
)
from model_tools.runtime.model_folder import part_file as folder_part_file

ARCHITECTURES = {"LlavaForConditionalGeneration": "llava"}
MODEL_TYPES = ("llava",)
# The folder layout is the runtime's (`model_folder`); these short names are what the quantizer and tests use.
LANGUAGE, TEXT_EMBEDDINGS, VISION_EMBEDDINGS = CHAT_LANGUAGE, CHAT_TEXT_EMBEDDINGS, CHAT_VISION
PARTS = CHAT_PARTS
TOKENIZERS = CHAT_TOKENIZERS
# What VLMPipeline (and a person reading the folder) needs besides the IR files; copied into each precision.
CONFIGS = CHAT_CONFIGS


def part_file(part: str) -> str:
    """The file name of one part's .xml inside a precision folder ("openvino_language_model.xml")."""
    return PurePosixPath(folder_part_file("chat", "fp16", part)).name


def inspect_source(folder: Path) -> tuple[str, dict[str, Any]]:
    """Check that `folder` holds a LLaVA model we can export; return (architecture, config)."""
    config = read_config(folder)
    archs = config.get("architectures") or []
    arch = next((a for a in archs if a in ARCHITECTURES), None)
    if arch is None:
        found = ", ".join(archs) or config.get("model_type", "unknown")
        raise ConversionError(
            f"{folder.name} is not a LLaVA model (it is {found}).",
            "Glimpse exports LlavaForConditionalGeneration checkpoints; for other chat models, download a "
            "converted OpenVINO version from the catalog.",
        )
    if config.get("vision_feature_select_strategy", "default") not in ("default", "full"):
        raise ConversionError(f"{folder.name} selects vision features in a way Glimpse does not know.")
    require_safetensors(folder)
    return arch, config


def convert(
    request: ConvertRequest,
    *,
    on_progress: OnProgress | None = None,
    cancel: threading.Event | None = None,
    extra_manifest: dict[str, Any] | None = None,
) -> ModelResult:
    """Export a LLaVA model (Hugging Face id or local folder) into a chat model folder at `request.out`.

    The folder appears whole or not at all; `extra_manifest` is merged into its manifest. Progress: stages
    "load", each of `PARTS`, "tokenizers", "configs", "manifest", "done"; cancel is checked between them.
    runs in: a worker thread (minutes for a 7B model).
    """
    overwrite = request.overwrite
    out, folder, label = open_source(request, on_progress=on_progress, cancel=cancel,
                                     example="llava-hf/llava-1.5-7b-hf")
    arch, config = inspect_source(folder)
    check_cancel(cancel)
    total = len(PARTS) + 4
    report(on_progress, "load", 0, total, message=f"Loading {label} with transformers")
    model = load_torch_model(folder, arch)
    processor = _load_processor(folder)
    with converted_folder(out, replace=overwrite, need_mb=fp16_size_mb(model, folder)) as tmp:
        fp16 = tmp / "fp16"
        fp16.mkdir()
        for i, part in enumerate(PARTS):
            check_cancel(cancel)
            report(on_progress, part, 1 + i, total, message=f"Converting {part}")
            export_part(model, part, fp16)
        check_cancel(cancel)
        report(on_progress, "tokenizers", 1 + len(PARTS), total, message="Converting the tokenizer")
        write_tokenizers(processor.tokenizer, fp16)
        check_cancel(cancel)
        report(on_progress, "configs", 2 + len(PARTS), total, message="Writing the configs")
        write_configs(model, processor, fp16)
        check_cancel(cancel)
        report(on_progress, "manifest", total - 1, total, message="Writing manifest with checksums")
        source = {"id": request.source, "revision": request.revision, "path": str(folder)}
        manifest = _manifest(model, processor, config, source, arch, request.name or out.name, tmp)
        manifest.update(extra_manifest or {})
        write_json_atomic(tmp / MANIFEST, manifest)
    report(on_progress, "done", total, total, message=f"Converted to {out}")
    return ModelResult.of(out)


def _load_processor(folder: Path) -> Any:
    from transformers import AutoProcessor

    try:
        return AutoProcessor.from_pretrained(folder, trust_remote_code=False)
    except (OSError, ValueError, TypeError) as exc:
        raise ConversionError(
            f"transformers could not load the tokenizer and image processor of {folder.name}: "
            f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}",
            "Its files may be damaged or incomplete: download or copy the model again.",
        ) from exc


def _manifest(
    model: Any,
    processor: Any,
    config: dict[str, Any],
    source: dict[str, Any],
    arch: str,
    name: str,
    root: Path,
) -> dict[str, Any]:
    size = model.config.vision_config.image_size
    images = processor.image_processor
    files = {f"fp16/{p.name}": file_record(root, f"fp16/{p.name}") for p in sorted((root / "fp16").iterdir())}
    return {
        "format_version": FORMAT_VERSION,
        "family": "chat",
        "name": name,
        "model_type": config.get("model_type", ""),
        "architecture": arch,
        "source": source,
        "image": {
            "size": [size, size],
            "mean": [float(x) for x in (getattr(images, "image_mean", None) or CLIP_MEAN)],
            "std": [float(x) for x in (getattr(images, "image_std", None) or CLIP_STD)],
        },
        "files": {},
        "precisions": {"fp16": {"files": files, "made_by": "convert"}},
        "tools": tool_versions(),
    }


def export_parts(model: Any, out: Path) -> None:
    """Trace the three parts of a LLaVA `model` into `out` with FP16 weights."""
    for part in PARTS:
        export_part(model, part, out)


def export_part(model: Any, part: str, out: Path) -> None:
    """Trace one of `PARTS` of a LLaVA `model` into `out` (`part_file(part)` and its .bin), FP16 weights."""
    import openvino as ov

    if part == TEXT_EMBEDDINGS:
        ov_model = _traced_text_embeddings(model)
    elif part == VISION_EMBEDDINGS:
        ov_model = _traced_vision(model, model.config.vision_config.image_size)
    elif part == LANGUAGE:
        ov_model = _traced_language_model(model)
    else:
        raise ValueError(f"unknown part {part}")
    ov.save_model(ov_model, out / part_file(part), compress_to_fp16=True)


def write_tokenizers(tokenizer: Any, out: Path) -> None:
    """openvino_tokenizer.xml / openvino_detokenizer.xml of a transformers tokenizer (with its chat template)."""
    import openvino as ov
    from openvino_tokenizers import convert_tokenizer

    encoder, decoder = convert_tokenizer(tokenizer, with_detokenizer=True)
    ov.save_model(encoder, out / f"{TOKENIZERS[0]}.xml")
    ov.save_model(decoder, out / f"{TOKENIZERS[1]}.xml")


def write_configs(model: Any, processor: Any, out: Path) -> None:
    """config.json, generation_config.json and preprocessor_config.json as VLMPipeline reads them.

    transformers 5 saves the image processor only inside processor_config.json; VLMPipeline crashes at its
    first picture without a preprocessor_config.json, so the image processor's settings go there too.
    """
    model.config.save_pretrained(out)
    model.generation_config.save_pretrained(out)
    image = processor.image_processor.to_dict()
    image["patch_size"] = model.config.vision_config.patch_size
    (out / "preprocessor_config.json").write_text(json.dumps(image, indent=2) + "\n", encoding="utf-8")


# -- the parts -----------------------------------------------------------------------------------------------


def _convert(
    module: Any, example: tuple[Any, ...], in_names: list[str], out_names: list[str], shapes: list[Any] | None = None
) -> Any:
    """Trace `module` on `example` (all dimensions dynamic unless `shapes` says) and name its ports."""
    import openvino as ov
    import torch

    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        ov_model = ov.convert_model(module, example_input=example, input=shapes)
    for port, name in zip(ov_model.inputs, in_names, strict=True):
        port.get_tensor().set_names({name})
    for port, name in zip(ov_model.outputs, out_names, strict=True):
        port.get_tensor().set_names({name})
    return ov_model


def _traced_text_embeddings(model: Any) -> Any:
    import torch

    ids = torch.ones(1, 4, dtype=torch.long)
    return _convert(model.get_input_embeddings(), (ids,), ["input_ids"], ["inputs_embeds"])


def _traced_vision(model: Any, size: int) -> Any:
    import torch

    config = model.config

    class Vision(torch.nn.Module):
        """Pixels -> projected image features, one row per image token."""

        def __init__(self) -> None:
            super().__init__()
            self.llava = model.model

        def forward(self, pixel_values: Any) -> Any:
            features = self.llava.get_image_features(
                pixel_values=pixel_values,
                vision_feature_layer=config.vision_feature_layer,
                vision_feature_select_strategy=config.vision_feature_select_strategy,
            )
            if not torch.is_tensor(features):  # transformers 5 returns a model output or a list per image
                pooled = getattr(features, "pooler_output", None)
                features = pooled if pooled is not None else features[0]
            if isinstance(features, (list, tuple)):
                features = torch.stack(list(features))
            return features

    pixels = torch.zeros(1, 3, size, size)
    return _convert(Vision(), (pixels,), ["pixel_values"], ["last_hidden_state"])


def _traced_language_model(model: Any) -> Any:
    import openvino as ov
    import torch
    from transformers.cache_utils import DynamicCache

    text = model.config.text_config
    layers, kv_heads = text.num_hidden_layers, text.num_key_value_heads
    head_dim = getattr(text, "head_dim", None) or text.hidden_size // text.num_attention_heads

    class Language(torch.nn.Module):
        """The language model taking and returning flat past tensors (transformers 5 keeps Cache objects).

        The cache layers are filled directly: a DynamicCache updated from tensors traces a constant empty
        tensor, and OpenVINO's conversion of the concatenation then fails.
        """

        def __init__(self) -> None:
            super().__init__()
            self.lm, self.head = model.model.language_model, model.lm_head

        def forward(self, inputs_embeds: Any, attention_mask: Any, position_ids: Any, *past: Any) -> Any:
            cache = DynamicCache(config=text)
            for i in range(layers):
                layer = cache.layers[i]
                layer.lazy_initialization(past[2 * i], past[2 * i + 1])
                layer.keys, layer.values = past[2 * i], past[2 * i + 1]
            out = self.lm(
                inputs_embeds=inputs_embeds,
                attention_mask=attention_mask,
                position_ids=position_ids,
                past_key_values=cache,
                use_cache=True,
                return_dict=True,
            )
            present = [t for i in range(layers) for t in (cache.layers[i].keys, cache.layers[i].values)]
            return (self.head(out.last_hidden_state), *present)

    past_len, new = 2, 3
    example = (
        torch.randn(1, new, text.hidden_size),
        torch.ones(1, past_len + new, dtype=torch.long),
        torch.arange(past_len, past_len + new).unsqueeze(0),
        *[torch.randn(1, kv_heads, past_len, head_dim) for _ in range(2 * layers)],
    )
    past_in = [f"past_key_values.{i}.{kv}" for i in range(layers) for kv in ("key", "value")]
    present = [f"present.{i}.{kv}" for i in range(layers) for kv in ("key", "value")]
    # Static head counts and sizes: the states need them; batch and lengths stay dynamic.
    shapes = [ov.PartialShape([-1, -1, text.hidden_size]), ov.PartialShape([-1, -1]), ov.PartialShape([-1, -1])]
    shapes += [ov.PartialShape([-1, kv_heads, -1, head_dim])] * (2 * layers)
    names = ["inputs_embeds", "attention_mask", "position_ids", *past_in]
    ov_model = _convert(Language(), example, names, ["logits", *present], shapes)
    make_stateful(ov_model, past_in, present)
    return ov_model


def make_stateful(ov_model: Any, past_inputs: list[str], present_outputs: list[str]) -> None:
    """Turn each past input / present output pair into one state, read through a `beam_idx` Gather.

    OpenVINO's own MakeStateful leaves the states without an initial value, which the CPU plugin refuses
    to compile ("ReadValue contains less parent edges than 0") unless its attention fusion swallows them;
    so each state here starts as a zero-length tensor of the batch's size.
    """
    import numpy as np
    import openvino as ov
    import openvino.opset13 as ops
    from openvino.op.util import Variable, VariableInfo

    batch = ops.gather(ops.shape_of(ov_model.input("inputs_embeds")), ops.constant([0]), ops.constant(0))
    beam_idx = ops.parameter(ov.PartialShape([-1]), ov.Type.i32, name="beam_idx")
    beam_idx.output(0).get_tensor().set_names({"beam_idx"})
    ov_model.add_parameters([beam_idx])
    params, results, sinks = [], [], []
    for in_name, out_name in zip(past_inputs, present_outputs, strict=True):
        param = ov_model.input(in_name).get_node()
        shape, dtype = param.get_partial_shape(), param.get_element_type()
        info = VariableInfo()
        info.data_shape, info.data_type, info.variable_id = shape, dtype, in_name
        variable = Variable(info)
        empty = ops.concat([batch, ops.constant(np.array([shape[1].get_length(), 0, shape[3].get_length()]))], 0)
        state = ops.read_value(ops.broadcast(ops.constant(0.0, dtype=dtype), empty), variable)
        reordered = ops.gather(state, beam_idx, ops.constant(0))
        for consumer in list(param.output(0).get_target_inputs()):
            consumer.replace_source_output(reordered.output(0))
        result = ov_model.output(out_name).get_node()
        new_value = result.input_value(0)
        if new_value.get_node().get_output_size() != 1:  # Assign takes a node; give it one with one output
            new_value = ops.convert(new_value, dtype).output(0)
        sinks.append(ops.assign(new_value.get_node(), variable))
        params.append(param)
        results.append(result)
    for result in results:
        ov_model.remove_result(result)
    for param in params:
        ov_model.remove_parameter(param)
    ov_model.add_sinks(sinks)
    ov_model.validate_nodes_and_infer_types()
