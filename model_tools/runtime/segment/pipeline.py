"""Segment Anything on OpenVINO: encode a picture once, then cut out what each click points at.

    picture -> resize (longer side S), normalise, pad to S x S -> image_encoder (once) -> Embedding
    Embedding + points, labels, box -> prompt_decoder -> 3 low-res mask logits -> upsampled -> Masks

The encoder is the slow part (a ViT over S x S pixels); the decoder is small (a two-layer transformer over a
few prompt tokens), so it can run at every click. Preprocessing and the masks' upsampling follow transformers' `SamProcessor` (PIL
backend) step for step, so masks match PyTorch's `post_process_masks`: the same resize size rounding, the
same coordinate scaling, bilinear upsampling as `torch.nn.functional.interpolate(align_corners=False)` to the
padded square, cropped to the picture, then to the picture's own size. Imports numpy, pillow and openvino only.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import openvino as ov
from PIL import Image

from model_tools.runtime import precision as policy
from model_tools.runtime.compile_cache import compile_cache_dir
from model_tools.runtime.devices import check_device, core
from model_tools.runtime.errors import DeviceUnavailableError, GlimpseError
from model_tools.runtime.images import ImageSource, load_image
from model_tools.runtime.manifest import SegmentSpec
from model_tools.runtime.model_folder import SEGMENT_DECODER, SEGMENT_ENCODER, SEGMENT_PARTS, ConvertedModel
from model_tools.runtime.segment import BOX_BOTTOM_RIGHT, BOX_TOP_LEFT, NEGATIVE, PAD_LABEL, POSITIVE

__all__ = ["Embedding", "Masks", "SegmentPipeline", "load"]

RESAMPLE = {
    "nearest": Image.Resampling.NEAREST,
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
    "box": Image.Resampling.BOX,
    "hamming": Image.Resampling.HAMMING,
}

Point = tuple[float, float]
Box = tuple[float, float, float, float]  # x1, y1 (top left), x2, y2 (bottom right), in the picture's pixels


@dataclass(frozen=True)
class Embedding:
    """One encoded picture: what `segment` needs for every click on it."""

    image_embeddings: np.ndarray = field(repr=False)  # [1, C, S/16, S/16], the encoder's output
    original_size: tuple[int, int]  # (height, width) of the picture
    resized_size: tuple[int, int]  # (height, width) of the picture inside the S x S square
    preprocess_ms: float = 0.0
    encoder_ms: float = 0.0

    @property
    def scale(self) -> tuple[float, float]:
        """(x, y) factors from the picture's pixels to the S x S frame (as `SamProcessor` scales prompts)."""
        return self.resized_size[1] / self.original_size[1], self.resized_size[0] / self.original_size[0]


@dataclass(frozen=True)
class Masks:
    """The decoder's three masks for one prompt, at the picture's size."""

    masks: np.ndarray = field(repr=False)  # bool [3, H, W]
    iou: np.ndarray  # float32 [3], the decoder's estimate of each mask's quality
    logits: np.ndarray = field(repr=False)  # float32 [3, S/4, S/4], the low-res logits (for a later mask prompt)
    decoder_ms: float = 0.0
    upsample_ms: float = 0.0

    @property
    def best(self) -> int:
        """The index of the mask with the highest IoU score."""
        return int(np.argmax(self.iou))

    @property
    def best_mask(self) -> np.ndarray:
        return self.masks[self.best]


class SegmentPipeline:
    """A loaded Segment Anything model: `encode(picture)` once, then `segment(embedding, points, labels, box)`.

    Calls may come from any thread, one at a time per pipeline (a lock serialises them).
    """

    def __init__(
        self,
        model: ConvertedModel,
        precision: str,
        device: str,
        parts: dict[str, ov.CompiledModel],
        load_s: float,
        setups: dict[str, policy.PartSetup],
        exact: bool,
        notes: list[str],
    ) -> None:
        assert model.spec.segment is not None
        self.model = model
        self.precision = precision
        self.device = device
        self.load_s = load_s
        self.setup = setups  # part -> file, hint and why (see `policy`)
        self.sources = {n: s.source for n, s in setups.items()}  # part -> the precision folder its file comes from
        self.hints = {n: s.hint for n, s in setups.items() if s.hint}
        self.setup_label = policy.setup_label(precision, device, setups, exact=exact)
        self.exact = exact
        self.notes = notes  # things the user should hear once, e.g. running without a compile cache
        self.spec: SegmentSpec = model.spec.segment
        self.task = "segment"
        self.parts = parts  # part -> its compiled model
        self._requests = {name: compiled.create_infer_request() for name, compiled in parts.items()}
        self._lock = threading.Lock()

    # -- public API ------------------------------------------------------------------------------------------

    def encode(self, picture: ImageSource) -> Embedding:
        """Run the image encoder on `picture` (a path, bytes or a PIL image): the slow step, once per picture.
        runs in: any thread (a worker: for a real SAM it takes far longer than a click's `segment`)."""
        t0 = time.perf_counter()
        image = load_image(picture)  # at full size: the masks are the picture's own size
        pixels, resized = preprocess(image, self.spec)
        t1 = time.perf_counter()
        with self._lock:
            request = self._requests[SEGMENT_ENCODER]
            request.infer({"pixel_values": pixels}, share_inputs=True)
            embeddings = np.array(request.get_tensor("image_embeddings").data)
        t2 = time.perf_counter()
        return Embedding(embeddings, (image.height, image.width), resized, (t1 - t0) * 1e3, (t2 - t1) * 1e3)

    def segment(
        self,
        embedding: Embedding,
        points: Sequence[Point] = (),
        labels: Sequence[int] | None = None,
        box: Box | None = None,
    ) -> Masks:
        """The three masks for a prompt on an encoded picture: `points` (x, y) in the picture's pixels with
        `labels` (1: part of the object, 0: not; all 1 if not given), and/or a `box` (x1, y1, x2, y2).

        runs in: any thread (the small decoder, then the upsampling to the picture's size, binarised at the
        manifest's `mask_threshold`).
        """
        if tuple(embedding.image_embeddings.shape[1:]) != self.spec.embedding:
            raise ValueError(
                f"The embedding is {list(embedding.image_embeddings.shape)}, not this model's "
                f"[1, {', '.join(map(str, self.spec.embedding))}]: encode the picture with this pipeline."
            )
        coords, prompt_labels = prompt_inputs(embedding, points, labels, box)
        t0 = time.perf_counter()
        with self._lock:
            request = self._requests[SEGMENT_DECODER]
            request.infer(
                {"image_embeddings": embedding.image_embeddings, "input_points": coords, "input_labels": prompt_labels},
                share_inputs=True,
            )
            logits = np.array(request.get_tensor("pred_masks").data)[0, 0]
            iou = np.array(request.get_tensor("iou_scores").data, dtype=np.float32)[0, 0]
        t1 = time.perf_counter()
        full = upsample_masks(logits, self.spec.image.size, embedding.resized_size, embedding.original_size)
        masks = full > self.spec.mask_threshold
        t2 = time.perf_counter()
        return Masks(masks, iou, logits, (t1 - t0) * 1e3, (t2 - t1) * 1e3)


# -- pictures in, masks out ----------------------------------------------------------------------------------


def resized_size(height: int, width: int, longest: int) -> tuple[int, int]:
    """(height, width) with the longer side `longest`, rounded as `SamImageProcessor` rounds them."""
    scale = longest * 1.0 / max(height, width)
    return int(height * scale + 0.5), int(width * scale + 0.5)


def preprocess(image: Image.Image, spec: SegmentSpec) -> tuple[np.ndarray, tuple[int, int]]:
    """RGB picture -> resize (longer side `spec.longest_side`) -> rescale 1/255 -> normalise -> zero-pad at the
    bottom and right to the S x S square: (float32 [1, 3, S, S], (resized height, width))."""
    height, width = resized_size(image.height, image.width, spec.longest_side)
    resample = RESAMPLE.get(spec.image.resample, Image.Resampling.BILINEAR)
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    if rgb.size != (width, height):
        rgb = rgb.resize((width, height), resample=resample)
    values = np.asarray(rgb, dtype=np.float32) * np.float32(1 / 255)
    mean, std = np.asarray(spec.image.mean, dtype=np.float32), np.asarray(spec.image.std, dtype=np.float32)
    side_h, side_w = spec.image.size
    pixels = np.zeros((1, 3, side_h, side_w), dtype=np.float32)
    pixels[0, :, :height, :width] = ((values - mean) / std).transpose(2, 0, 1)
    return pixels, (height, width)


def prompt_inputs(
    embedding: Embedding, points: Sequence[Point], labels: Sequence[int] | None, box: Box | None
) -> tuple[np.ndarray, np.ndarray]:
    """The decoder's `input_points` [1,1,N,2] (in the S x S frame) and `input_labels` [1,1,N].

    A box becomes its two corners with labels 2 and 3 (SAM's own encoding); without a box a padding point
    (0, 0) with label -1 is appended, as transformers' prompt encoder does for points alone.
    """
    labels = [POSITIVE] * len(points) if labels is None else [int(v) for v in labels]
    if len(labels) != len(points):
        raise ValueError(f"{len(points)} points but {len(labels)} labels: give one label per point.")
    if any(v not in (POSITIVE, NEGATIVE) for v in labels):
        raise ValueError("A point's label is 1 (part of the object) or 0 (not part of it).")
    if not points and box is None:
        raise ValueError("Give at least one point or a box.")
    if box is not None and len(box) != 4:
        raise ValueError(f"A box is (x1, y1, x2, y2), not {box!r}.")
    every = [*points, *([] if box is None else [(box[0], box[1]), (box[2], box[3])])]
    sx, sy = embedding.scale
    coords = [(_number(p, 0) * sx, _number(p, 1) * sy) for p in every]
    if box is None:
        coords.append((0.0, 0.0))
        labels = labels + [PAD_LABEL]
    else:
        labels = labels + [BOX_TOP_LEFT, BOX_BOTTOM_RIGHT]
    return (
        np.asarray(coords, dtype=np.float32).reshape(1, 1, -1, 2),
        np.asarray(labels, dtype=np.int64).reshape(1, 1, -1),
    )


def _number(point: Point, i: int) -> float:
    """Coordinate `i` of an (x, y) pair as a finite float; a ValueError names anything else."""
    try:
        if len(point) != 2:
            raise TypeError
        value = float(point[i])
    except (TypeError, ValueError):
        raise ValueError(f"Points and box corners are (x, y) pairs of numbers, not {point!r}.") from None
    if not math.isfinite(value):
        raise ValueError(f"Points and box corners are finite numbers, not {point!r}.")
    return value


def upsample_masks(
    logits: np.ndarray, square: tuple[int, int], resized: tuple[int, int], original: tuple[int, int]
) -> np.ndarray:
    """Low-res logits [M, h, w] -> [M, H, W] at the picture's size, as `SamProcessor.post_process_masks`:
    bilinear to the padded square, cropped to the resized picture, bilinear to the original size.

    Only the rows and columns the crop keeps are computed, one mask at a time (a 12 Mpx photo stays a few
    hundred MB at most).
    """
    out = np.empty((logits.shape[0], *original), dtype=np.float32)
    rows1 = _linear(logits.shape[1], square[0], resized[0])
    cols1 = _linear(logits.shape[2], square[1], resized[1])
    rows2 = _linear(resized[0], original[0], original[0])
    cols2 = _linear(resized[1], original[1], original[1])
    for i, mask in enumerate(logits.astype(np.float32)):
        cropped = _apply(_apply(mask, rows1, axis=0), cols1, axis=1)
        out[i] = _apply(_apply(cropped, rows2, axis=0), cols2, axis=1)
    return out


def _linear(size_in: int, size_out: int, keep: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Source indices and weights of the first `keep` outputs of a linear resize from `size_in` to `size_out`,
    as torch's interpolate(mode="bilinear", align_corners=False) computes them (in float32)."""
    scale = np.float32(size_in / size_out)
    src = (np.arange(keep, dtype=np.float32) + np.float32(0.5)) * scale - np.float32(0.5)
    src = np.maximum(src, np.float32(0))
    low = np.minimum(src.astype(np.int64), size_in - 1)
    high = np.minimum(low + 1, size_in - 1)
    return low, high, (src - low).astype(np.float32)


def _apply(values: np.ndarray, weights: tuple[np.ndarray, np.ndarray, np.ndarray], axis: int) -> np.ndarray:
    low, high, frac = weights
    if axis == 0:
        return values[low] * (1 - frac)[:, None] + values[high] * frac[:, None]
    return values[:, low] * (1 - frac) + values[:, high] * frac


# -- loading -------------------------------------------------------------------------------------------------


def load(
    model_dir: str | Path,
    precision: str = "fp16",
    device: str = "CPU",
    *,
    hints: dict[str, str] | None = None,
    cache: bool = True,
    exact: bool = False,
) -> SegmentPipeline:
    """Verify and compile a segment model folder for `device`.

    The precision policy is BLIP's (`policy.plan`): each part's file and precision hint follow the hardware
    (FP16 files run bf16 where the CPU has BF16, else f32); `exact=True` runs `precision`'s own files at full
    precision; `hints` maps a part ("image_encoder", "prompt_decoder") or "*" to a hint and pins the files.
    The compile cache is kept per file content (sha256). runs in: any thread (compiling releases the GIL).
    """
    model = ConvertedModel.open(model_dir)
    if model.spec.family != "segment" or model.spec.segment is None:
        raise GlimpseError(f"{model.name} is a {model.spec.family} model, not a Segment Anything model.")
    model.verify(precision)
    device = check_device(device)
    t0 = time.perf_counter()
    names = list(SEGMENT_PARTS)
    setups, configs = policy.plan(precision, device, names, has_fp16=model.has("fp16"), exact=exact, hints=hints)
    notes: list[str] = []
    parts = {}
    for name in names:
        setup = setups[name]
        if setup.source != precision:
            model.verify(setup.source)
        config = dict(configs[name])
        if cache:
            folder = compile_cache_dir(model, setup.source, name, device, config, notes)
            if folder is not None:
                config["CACHE_DIR"] = str(folder)
        parts[name] = _compile(model, setup.source, name, device, config)
    return SegmentPipeline(model, precision, device, parts, time.perf_counter() - t0, setups, exact, notes)


def _compile(model: ConvertedModel, source: str, part: str, device: str, config: dict[str, object]) -> ov.CompiledModel:
    try:
        return core().compile_model(str(model.xml(source, part)), device, config)
    except RuntimeError as exc:
        text = str(exc)
        if "device" in text.lower() or "plugin" in text.lower():
            raise DeviceUnavailableError(
                f"OpenVINO could not load {model.name} on {device}.", "Choose another device (CPU always works)."
            ) from exc
        raise GlimpseError(f"OpenVINO could not compile {part} of {model.name}: {text.splitlines()[0]}") from exc
