"""Segment Anything (transformers' `SamModel`, Hugging Face id or local folder) -> a `segment` model folder.

    <out>/manifest.json  fp16/openvino_image_encoder.xml|.bin  fp16/openvino_prompt_decoder.xml|.bin

Two parts, traced from small wrapper modules, FP16-compressed weights:

- `image_encoder`: `pixel_values` [1,3,S,S] (S: the vision config's image_size, 1024 for SAM; the picture
  resized so its longer side is S, normalised, zero-padded at the bottom and right) -> `image_embeddings`
  [1,C,S/16,S/16] (C = 256 for SAM). Runs once per picture.
- `prompt_decoder`: `image_embeddings`, `input_points` [1,1,N,2] float (x, y in pixels of the resized S x S
  frame) and `input_labels` [1,1,N] int64 -> `pred_masks` [1,1,3,S/4,S/4] (low-res mask logits, SAM's three
  multimask outputs) and `iou_scores` [1,1,3]. Runs once per click; N is dynamic.

Prompt labels are those of SAM's own ONNX decoder: 1 a positive point, 0 a negative point, -1 padding, 2 and 3
a box's top-left and bottom-right corners. A box is thus two more points; without a box the caller appends one
padding point (0, 0) with label -1, as transformers' prompt encoder does for points alone (the runtime does
it). The image positional embeddings and the "no mask" dense embedding are constants inside the decoder, so
the encoder has one output. A previous mask as a prompt (SAM's `mask_input`) is not an input (yet).

torch and transformers are imported inside the functions that use them. Weights load from safetensors only;
remote code is never trusted.
"""

from __future__ import annotations

import json
import threading
import warnings
from pathlib import Path
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
from model_tools.runtime.model_folder import (
    FORMAT_VERSION,
    MANIFEST,
    SEGMENT_DECODER,
    SEGMENT_ENCODER,
    SEGMENT_PARTS,
    file_record,
    part_file,
    write_json_atomic,
)
from model_tools.runtime.segment import NEGATIVE, PAD_LABEL, POSITIVE  # the prompt labels are the runtime's

ARCHITECTURES = {"SamModel": "segment"}
MODEL_TYPES = ("sam",)
ENCODER, DECODER, PARTS = SEGMENT_ENCODER, SEGMENT_DECODER, SEGMENT_PARTS
# transformers' SamImageProcessor defaults (ImageNet normalisation), for a checkpoint that has no processor config.
SAM_MEAN, SAM_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
PIL_RESAMPLE = {0: "nearest", 1: "lanczos", 2: "bilinear", 3: "bicubic", 4: "box", 5: "hamming"}


def inspect_source(folder: Path) -> tuple[str, dict[str, Any]]:
    """Check that `folder` holds a Segment Anything model we can convert; return (architecture, config)."""
    config = read_config(folder)
    archs = config.get("architectures") or []
    arch = next((a for a in archs if a in ARCHITECTURES), None)
    if config.get("model_type") not in MODEL_TYPES or (archs and arch is None):
        found = ", ".join(archs) or config.get("model_type", "unknown")
        raise ConversionError(
            f"{folder.name} is not a Segment Anything model (it is {found}).",
            "Glimpse converts transformers' SamModel checkpoints (such as facebook/sam-vit-base).",
        )
    require_safetensors(folder)
    return arch or "SamModel", config


def image_settings(folder: Path, image_size: int) -> dict[str, Any]:
    """The picture settings of the checkpoint's image processor: longest side, padded square, mean, std, resize
    filter. Read from preprocessor_config.json (as the Hub's SAM checkpoints have it), else from
    processor_config.json's `image_processor` (what transformers 5 saves), else SAM's defaults for `image_size`.

    The encoder takes exactly `image_size` squares, so a processor that resizes or pads to another size is refused.
    """
    name, settings = _processor_config(folder)
    try:
        size = settings.get("size") or {"longest_edge": image_size}
        longest = int(size["longest_edge"] if isinstance(size, dict) else size)
        pad = settings.get("pad_size") or {"height": image_size, "width": image_size}
        pad_hw = [int(pad["height"]), int(pad["width"])] if isinstance(pad, dict) else [int(pad), int(pad)]
        mean = [float(x) for x in settings.get("image_mean", SAM_MEAN)]
        std = [float(x) for x in settings.get("image_std", SAM_STD)]
    except (KeyError, TypeError, ValueError) as exc:
        raise ConversionError(
            f"{folder.name}/{name} has image settings Glimpse cannot read ({type(exc).__name__}: {exc}).",
            "Download or copy the model again.",
        ) from None
    if longest != image_size or pad_hw != [image_size, image_size] or settings.get("do_pad", True) is False:
        raise ConversionError(
            f"{folder.name}'s image processor resizes pictures to {longest} and pads them to {pad_hw}, but its "
            f"image encoder takes {image_size} x {image_size} pictures.",
            "Use the checkpoint's own preprocessor_config.json (longest_edge and pad_size as the encoder's size).",
        )
    resample = settings.get("resample", 2)
    return {
        "size": [image_size, image_size],
        "mean": mean,
        "std": std,
        "resample": PIL_RESAMPLE.get(resample, "bilinear") if isinstance(resample, int) else "bilinear",
        "longest_side": longest,
    }


def _processor_config(folder: Path) -> tuple[str, dict[str, Any]]:
    """(file name, image processor settings) of `folder`; ("", {}) where it has none."""
    for name, key in (("preprocessor_config.json", None), ("processor_config.json", "image_processor")):
        path = folder / name
        if not path.is_file():
            continue
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise ConversionError(f"{folder.name}/{name} is not valid JSON ({exc}).") from None
        data = data.get(key) if key and isinstance(data, dict) else data
        if isinstance(data, dict):
            return name, data
    return "", {}


def convert(
    request: ConvertRequest,
    *,
    on_progress: OnProgress | None = None,
    cancel: threading.Event | None = None,
    extra_manifest: dict[str, Any] | None = None,
) -> ModelResult:
    """Convert a Segment Anything model (Hugging Face id or local folder) into a model folder at `request.out`.

    The folder appears whole or not at all; `extra_manifest` is merged into its manifest. Progress: stages
    "load", "image_encoder", "prompt_decoder", "manifest", "done"; cancel is checked between them.
    runs in: a worker thread (minutes for the large checkpoints).
    """
    overwrite = request.overwrite
    out, folder, label = open_source(request, on_progress=on_progress, cancel=cancel, example="facebook/sam-vit-base")
    arch, config = inspect_source(folder)
    check_cancel(cancel)
    total = len(PARTS) + 2
    report(on_progress, "load", 0, total, message=f"Loading {label} with transformers")
    model = load_torch_model(folder, arch)
    image = image_settings(folder, int(model.config.vision_config.image_size))
    with converted_folder(out, replace=overwrite, need_mb=fp16_size_mb(model, folder)) as tmp:
        (tmp / "fp16").mkdir()
        for i, part in enumerate(PARTS):
            check_cancel(cancel)
            report(on_progress, part, 1 + i, total, message=f"Converting {part}")
            export_part(model, part, tmp / part_file("segment", "fp16", part))
        check_cancel(cancel)
        report(on_progress, "manifest", total - 1, total, message="Writing manifest with checksums")
        source = {"id": request.source, "revision": request.revision, "path": str(folder)}
        manifest = _manifest(model, config, arch, source, image, request.name or out.name, tmp)
        manifest.update(extra_manifest or {})
        write_json_atomic(tmp / MANIFEST, manifest)
    report(on_progress, "done", total, total, message=f"Converted to {out}")
    return ModelResult.of(out)


def _manifest(
    model: Any,
    config: dict[str, Any],
    arch: str,
    source: dict[str, Any],
    image: dict[str, Any],
    name: str,
    root: Path,
) -> dict[str, Any]:
    image = dict(image)
    longest = image.pop("longest_side")
    rels = [part_file("segment", "fp16", part, ext) for part in PARTS for ext in ("xml", "bin")]
    embeddings = embedding_shape(model)
    return {
        "format_version": FORMAT_VERSION,
        "family": "segment",
        "name": name,
        "model_type": config.get("model_type", "sam"),
        "architecture": arch,
        "source": source,
        "image": image,
        "segment": {
            "longest_side": longest,
            "mask_size": [4 * embeddings[-2], 4 * embeddings[-1]],  # the decoder upscales twice by 2
            "masks": int(model.config.mask_decoder_config.num_multimask_outputs),
            "embedding": embeddings[1:],
            "mask_threshold": 0.0,  # transformers' post_process_masks and SAM's predictor: logits above 0
        },
        "files": {},
        "precisions": {"fp16": {"files": {rel: file_record(root, rel) for rel in rels}, "made_by": "convert"}},
        "tools": tool_versions(),
    }


# -- the parts -----------------------------------------------------------------------------------------------


def embedding_shape(model: Any) -> list[int]:
    """`image_embeddings`' shape for a `SamModel`: [1, output channels, S/16, S/16]."""
    vc = model.config.vision_config
    side = int(vc.image_size) // int(vc.patch_size)
    return [1, int(vc.output_channels), side, side]


def export_part(model: Any, part: str, xml: Path) -> None:
    """Trace one of `PARTS` of a `SamModel` to `xml` (and its .bin) with FP16 weights."""
    import openvino as ov
    import torch

    size = int(model.config.vision_config.image_size)
    embeddings = embedding_shape(model)
    if part == ENCODER:
        module, names = traced_encoder(model), (["pixel_values"], ["image_embeddings"])
        example: tuple[Any, ...] = (torch.zeros(1, 3, size, size),)
        shapes = [ov.PartialShape([1, 3, size, size])]
    elif part == DECODER:
        module, names = traced_decoder(model), (["image_embeddings", "input_points", "input_labels"],
                                                ["pred_masks", "iou_scores"])
        points = torch.tensor([[[[10.0, 20.0], [30.0, 5.0], [0.0, 0.0]]]])  # three points: N stays dynamic
        example = (torch.randn(*embeddings), points, torch.tensor([[[POSITIVE, NEGATIVE, PAD_LABEL]]]))
        shapes = [ov.PartialShape(embeddings), ov.PartialShape([1, 1, -1, 2]), ov.PartialShape([1, 1, -1])]
    else:
        raise ValueError(f"unknown part {part}")
    with torch.no_grad(), warnings.catch_warnings():
        # Tracing warns about Python branches on shapes; the wrappers fix those branches on purpose.
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        ov_model = ov.convert_model(module, example_input=example, input=shapes)
    for port, name in zip(ov_model.inputs, names[0], strict=True):
        port.get_tensor().set_names({name})
    for port, name in zip(ov_model.outputs, names[1], strict=True):
        port.get_tensor().set_names({name})
    ov.save_model(ov_model, xml, compress_to_fp16=True)


def traced_encoder(model: Any) -> Any:
    """`pixel_values` -> `image_embeddings`: SAM's ViT and its neck (`SamModel.get_image_embeddings`)."""
    import torch

    class ImageEncoder(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.vision = model.vision_encoder

        def forward(self, pixel_values: Any) -> Any:
            return self.vision(pixel_values).last_hidden_state

    return ImageEncoder()


def traced_decoder(model: Any) -> Any:
    """(`image_embeddings`, `input_points`, `input_labels`) -> (`pred_masks`, `iou_scores`): SAM's prompt encoder
    for points and box corners, then its mask decoder with three masks, as `SamModel.forward` runs them."""
    import torch

    class PromptDecoder(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.sam = model

        def forward(self, image_embeddings: Any, input_points: Any, input_labels: Any) -> Any:
            prompts = self.sam.prompt_encoder
            sparse = embed_points(prompts, input_points, input_labels)
            batch, _, height, width = image_embeddings.shape
            dense = prompts.no_mask_embed.weight.reshape(1, -1, 1, 1).expand(batch, -1, height, width)
            positions = self.sam.get_image_wide_positional_embeddings()  # a constant of the model's weights
            return self.sam.mask_decoder(
                image_embeddings=image_embeddings,
                image_positional_embeddings=positions,
                sparse_prompt_embeddings=sparse,
                dense_prompt_embeddings=dense,
                multimask_output=True,
            )

    return PromptDecoder()


def embed_points(prompts: Any, points: Any, labels: Any) -> Any:
    """SAM's sparse prompt embeddings of points whose labels may also be box corners (2, 3).

    transformers' `SamPromptEncoder._embed_points` knows labels 1, 0 and -1 and embeds a box through
    `_embed_boxes`; this is the two in one, as SAM's ONNX export has it: each point's positional encoding (at
    its pixel's centre, in the S x S frame) plus the embedding of its label; padding points (-1) are replaced
    by the "not a point" embedding. For points followed by a box's corners it equals transformers' points
    (unpadded) followed by its box embedding.
    """
    import torch

    size = prompts.input_image_size
    embedded = prompts.shared_embedding(points + 0.5, (size, size))
    label = labels[..., None]
    embedded = torch.where(label == PAD_LABEL, prompts.not_a_point_embed.weight, embedded)
    for value, table in enumerate(prompts.point_embed):  # 0 negative, 1 positive, 2 and 3 a box's corners
        embedded = torch.where(label == value, embedded + table.weight, embedded)
    return embedded
