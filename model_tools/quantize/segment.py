"""Segment model folder: `fp16/` -> `int8/` beside it.

    image_encoder   nncf.quantize(model_type=TRANSFORMER, preset=MIXED) on calibration pictures, preprocessed
                    as the runtime preprocesses them (`pipeline.preprocess`); with accuracy control
                    nncf.quantize_with_accuracy_control, its metric the masks' IoU against FP16's
    prompt_decoder  copied from fp16/ (the same file: it is small and runs once per click)

Calibration pictures: "builtin" (the sample pictures, then generated shape pictures), a folder of pictures,
or "vqav2" (its pictures); see `calibration`. The folder appears whole or not at all; the manifest then gains
`precisions.int8` with the files' sizes and sha256 and what was done with which data. Cancelling leaves the
model folder as it was. nncf is imported inside the functions.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import openvino as ov
from PIL import Image

from model_tools.jobs.folders import atomic_folder
from model_tools.jobs.progress import OnProgress, check_cancel, report
from model_tools.jobs.requests import QuantizationError, QuantizeRequest, QuantizeResult
from model_tools.quantize.calibration import load_samples
from model_tools.quantize.nncf_tools import (
    SampleCounter,
    import_nncf,
    nncf_errors,
    open_fp16,
    quantized_result,
    quiet_nncf,
    tools_record,
)
from model_tools.runtime.model_folder import (
    MANIFEST,
    SEGMENT_DECODER,
    SEGMENT_ENCODER,
    SEGMENT_PARTS,
    ConvertedModel,
    file_record,
    part_file,
    write_json_atomic,
)
from model_tools.runtime.segment.pipeline import Embedding, load, preprocess

log = logging.getLogger("glimpse.quantize")

PRECISION = "int8"
# Accuracy control's clicks, as fractions of each validation picture's width and height: the metric is about
# the masks a click gives, and calibration never saw a click.
CLICKS = ((0.5, 0.5), (0.3, 0.3), (0.7, 0.7), (0.3, 0.7), (0.7, 0.3))


def quantize(
    request: QuantizeRequest,
    *,
    on_progress: OnProgress | None = None,
    cancel: threading.Event | None = None,
) -> QuantizeResult:
    """Write `<model>/int8/` (replacing an older one) and record it in the manifest.

    runs in: a worker thread (minutes for SAM ViT-B on a laptop: its encoder at 1024 x 1024 per picture).
    Progress: stages "calibration data", "image_encoder" (samples, per statistics pass; accuracy control's
    validation runs in its messages), "prompt_decoder", "save", "done".
    """
    _check_options(request)
    model = open_fp16(request.model, "segment")
    nncf = import_nncf()
    check_cancel(cancel)
    t0 = time.perf_counter()
    calib = load_samples(
        request.calibration, request.subset_size, seed=request.seed, on_progress=on_progress, cancel=cancel
    )
    pictures = [s.image for s in calib.samples]
    with quiet_nncf(nncf), atomic_folder(model.path / PRECISION, replace=True) as tmp:
        encoder, record, ac = _quantize_encoder(nncf, model, request, pictures, on_progress, cancel)
        check_cancel(cancel)
        ov.save_model(encoder, str(tmp / _name(SEGMENT_ENCODER, "xml")), compress_to_fp16=True)
        report(on_progress, SEGMENT_DECODER, 0, 1, "steps", f"Copying {SEGMENT_DECODER} (FP16)")
        for ext in ("xml", "bin"):
            shutil.copyfile(model.path / part_file("segment", "fp16", SEGMENT_DECODER, ext),
                            tmp / _name(SEGMENT_DECODER, ext))
        report(on_progress, SEGMENT_DECODER, 1, 1, "steps", f"Copied {SEGMENT_DECODER}")
        report(on_progress, "save", 0, 1, "steps", "Recording the INT8 files in the manifest")
        files = {
            f"{PRECISION}/{_name(part, ext)}": file_record(tmp, _name(part, ext))
            for part in SEGMENT_PARTS
            for ext in ("xml", "bin")
        }
        check_cancel(cancel)  # the last point where stopping leaves no trace
        # An older int8/ is about to be replaced: unlist it first (see quantize.blip).
        manifest = ConvertedModel.open(model.path).manifest
        if manifest["precisions"].pop(PRECISION, None) is not None:
            write_json_atomic(model.path / MANIFEST, manifest)
    described = calib.describe()
    described.pop("questions")  # the encoder sees pictures only
    manifest["precisions"][PRECISION] = {
        "files": files,
        "made_by": "quantize",
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "duration_s": round(time.perf_counter() - t0, 1),
        "calibration": described,
        "parts": {SEGMENT_ENCODER: record, SEGMENT_DECODER: {"method": "copied", "from": "fp16"}},
        "accuracy_control": ac,
        "tools": tools_record(nncf),
    }
    write_json_atomic(model.path / MANIFEST, manifest)
    report(on_progress, "save", 1, 1, "steps", "Saved")
    report(on_progress, "done", 1, 1, "steps", f"INT8 model written to {model.path / PRECISION}")
    return quantized_result(model.path, PRECISION)


def _name(part: str, ext: str) -> str:
    """A part's file name inside int8/ ("openvino_image_encoder.xml")."""
    return Path(part_file("segment", PRECISION, part, ext)).name


def _check_options(request: QuantizeRequest) -> None:
    """Refuse options that are about text (questions, decoder and chat weights) before any work."""
    name = Path(request.model).name
    if request.questions is not None:
        raise QuantizationError(f"{name} is a Segment Anything model: it takes no questions.", "Leave out --questions.")
    if request.decoder != "int8" or request.weights != "int8":
        raise QuantizationError(
            f"{name} is a Segment Anything model: its quantized precision is INT8 only (its prompt decoder stays FP16).",
            "Leave the decoder and weights at int8.",
        )


def _quantize_encoder(
    nncf: Any,
    model: ConvertedModel,
    request: QuantizeRequest,
    pictures: list[Image.Image],
    on_progress: OnProgress | None,
    cancel: threading.Event | None,
) -> tuple[Any, dict[str, Any], dict[str, Any] | None]:
    """The INT8 image encoder, what was done (for the manifest's `parts`) and accuracy control's record."""
    spec = model.spec.segment
    assert spec is not None
    n = len(pictures)
    counter = SampleCounter(SEGMENT_ENCODER, n, on_progress, cancel,
                      f"Quantizing {SEGMENT_ENCODER}: collecting statistics on {n} pictures")

    def item(picture: Image.Image) -> dict[str, np.ndarray]:
        counter.tick()
        return {"pixel_values": preprocess(picture, spec)[0]}

    fp16 = ov.Core().read_model(str(model.xml("fp16", SEGMENT_ENCODER)))
    preset = nncf.QuantizationPreset.MIXED if request.preset == "mixed" else nncf.QuantizationPreset.PERFORMANCE
    common = dict(preset=preset, subset_size=n, model_type=nncf.ModelType.TRANSFORMER)
    record: dict[str, Any] = {"method": "nncf.quantize", "model_type": "transformer", "preset": request.preset,
                              "subset_size": n, "accuracy_control": request.accuracy_control}
    dataset = nncf.Dataset(pictures, item)
    with nncf_errors(SEGMENT_ENCODER, "quantize"):
        if not request.accuracy_control:
            quantized = nncf.quantize(fp16, dataset, **common)
            counter.finish()
            return quantized, record, None
        validator = _Validator(model, pictures[: request.validation_size])

        def validate(compiled: Any, items: Any) -> tuple[float, list[float]]:
            check_cancel(cancel)
            scores = validator.score(compiled, list(items))
            counter.note(f"Accuracy control for {SEGMENT_ENCODER}: validation {validator.runs}, "
                         f"mask IoU {np.mean(scores):.3f}")
            return float(np.mean(scores)), scores

        everything = list(range(len(validator.pictures)))
        quantized = nncf.quantize_with_accuracy_control(
            fp16, dataset, nncf.Dataset(everything), validate,
            max_drop=request.max_drop, drop_type=nncf.DropType.ABSOLUTE, **common,
        )
    counter.finish()

    def measured(candidate: Any) -> float:
        return float(np.mean(validator.score(ov.Core().compile_model(candidate, "CPU", validator.config), everything)))

    iou = measured(quantized)
    reached = 1.0 - iou <= request.max_drop
    record["method"] = "nncf.quantize_with_accuracy_control"
    if not reached:  # NNCF then returns its last try, which may be worse than plain quantization: keep the better
        with nncf_errors(SEGMENT_ENCODER, "quantize"):
            plain = nncf.quantize(fp16, dataset, **common)
        plain_iou = measured(plain)
        log.warning("Accuracy control could not keep the masks' IoU within %s of FP16's (%.3f; plain %.3f).",
                    request.max_drop, iou, plain_iou)
        if plain_iou > iou:
            quantized, iou, record["method"] = plain, plain_iou, "nncf.quantize (accuracy control did worse)"
        counter.note(f"Accuracy control did not reach the maximum drop: mask IoU {iou:.3f} kept")
    ac = {
        "max_drop": request.max_drop,
        "drop_type": "absolute",
        "metric": "mean IoU of the three masks against FP16's, for fixed clicks",
        "validation_samples": len(everything),
        "clicks": len(CLICKS),
        "iou": {SEGMENT_ENCODER: round(iou, 4)},
        "reached": reached,
    }
    return quantized, record, ac


class _Validator:
    """Scores a candidate image encoder by the masks its embeddings give: per picture, the mean IoU of the
    decoder's three masks against the FP16 model's (both decoders FP16 at f32), over `CLICKS`."""

    config = {"INFERENCE_PRECISION_HINT": "f32"}

    def __init__(self, model: ConvertedModel, pictures: list[Image.Image]) -> None:
        self.pipe = load(model.path, "fp16", hints={"*": "f32"}, cache=False)
        self.pictures = pictures
        self.runs = 0
        self.reference = [self._masks(self.pipe.encode(p), p) for p in pictures]

    def _masks(self, embedding: Embedding, picture: Image.Image) -> list[np.ndarray]:
        """The three masks of each click, one after the other."""
        clicks = [(fx * picture.width, fy * picture.height) for fx, fy in CLICKS]
        return [mask for click in clicks for mask in self.pipe.segment(embedding, [click]).masks]

    def score(self, compiled: Any, indices: list[int]) -> list[float]:
        self.runs += 1
        request = compiled.create_infer_request()
        scores = []
        for i in indices:
            picture = self.pictures[i]
            pixels, resized = preprocess(picture, self.pipe.spec)
            request.infer({"pixel_values": pixels})
            embedding = Embedding(np.array(request.get_output_tensor(0).data), (picture.height, picture.width),
                                  resized)
            got = self._masks(embedding, picture)
            scores.append(float(np.mean([iou(a, b) for a, b in zip(got, self.reference[i], strict=True)])))
        return scores


def iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two boolean masks (two empty masks agree: 1)."""
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0


