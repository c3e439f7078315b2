"""FP16 model folder -> `int8/` beside `fp16/`: NNCF post-training quantization and weight compression.

    vision_model, text_encoder   nncf.quantize(model_type=TRANSFORMER) on calibration pictures and questions
                                 (the text encoder sees the INT8 vision model's outputs, as it will in the app)
    text_decoder_cross_kv        nncf.compress_weights, INT8_ASYM
    text_decoder                 nncf.compress_weights, INT8_ASYM (or INT4 with a group size and ratio)

The folder appears whole or not at all (built in a temporary sibling, then renamed); the manifest then gains
`precisions.int8` with the files' sizes and sha256 and what was done with which data. Cancelling leaves the
model folder exactly as it was. nncf and openvino's heavy parts are imported inside the functions.

NNCF has no progress callback: progress counts calls of the calibration dataset's transform function, which
NNCF makes once per sample per statistics pass (two passes for transformers: SmoothQuant, then min/max).
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from model_tools.jobs.folders import atomic_folder
from model_tools.jobs.progress import OnProgress, check_cancel, report
from model_tools.jobs.requests import QuantizeRequest, QuantizeResult
from model_tools.quantize.calibration import CalibrationSet, ModelInputs, Sample, load_samples
from model_tools.quantize.nncf_tools import (
    SampleCounter,
    import_nncf,
    nncf_errors,
    open_fp16,
    quantized_result,
    quiet_nncf,
    tools_record,
)
from model_tools.runtime.blip.pipeline import Part
from model_tools.runtime.model_folder import (
    CROSS_KV,
    DECODER,
    MANIFEST,
    TEXT_ENCODER,
    VISION,
    ConvertedModel,
    components,
    file_record,
    write_json_atomic,
)

log = logging.getLogger("glimpse.quantize")

PRECISION = "int8"


def quantize(
    request: QuantizeRequest,
    *,
    on_progress: OnProgress | None = None,
    cancel: threading.Event | None = None,
) -> QuantizeResult:
    """Write `<model>/int8/` (replacing an older one) and record it in the manifest.

    runs in: a worker thread (minutes for the base models). Progress: stages "calibration data",
    "vision_model", ["text_encoder inputs", "text_encoder"], "text_decoder_cross_kv", "text_decoder", "save",
    "done"; calibration stages count samples (per statistics pass: the count starts again at pass 2).
    """
    model = open_fp16(request.model, "blip")
    nncf = import_nncf()
    check_cancel(cancel)
    t0 = time.perf_counter()
    calib = load_samples(
        request.calibration,
        request.subset_size,
        request.questions,
        seed=request.seed,
        on_progress=on_progress,
        cancel=cancel,
    )
    with quiet_nncf(nncf), atomic_folder(model.path / PRECISION, replace=True) as tmp:
        job = _Job(nncf, model, request, calib, tmp, on_progress, cancel)
        details = job.run()
        check_cancel(cancel)
        report(on_progress, "save", 0, 1, "steps", "Recording the INT8 files in the manifest")
        files = {
            f"{PRECISION}/{p}.{ext}": file_record(tmp, f"{p}.{ext}")
            for p in components(model.task)
            for ext in ("xml", "bin")
        }
        check_cancel(cancel)  # the last point where stopping leaves no trace
        # An older int8/ is about to be replaced: unlist it first, so no reader ever sees the old records
        # next to the new files. A crash from here on leaves int8/ unlisted, never listed but different.
        manifest = ConvertedModel.open(model.path).manifest
        if manifest["precisions"].pop(PRECISION, None) is not None:
            write_json_atomic(model.path / MANIFEST, manifest)
    manifest["precisions"][PRECISION] = {
        "files": files,
        "made_by": "quantize",
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "duration_s": round(time.perf_counter() - t0, 1),
        "calibration": calib.describe(),
        "parts": details["parts"],
        "accuracy_control": details.get("accuracy_control"),
        "tools": tools_record(nncf),
    }
    write_json_atomic(model.path / MANIFEST, manifest)
    report(on_progress, "save", 1, 1, "steps", "Saved")
    report(on_progress, "done", 1, 1, "steps", f"INT8 model written to {model.path / PRECISION}")
    return quantized_result(model.path, PRECISION)




# -- the work ------------------------------------------------------------------------------------------------


class _Job:
    def __init__(
        self,
        nncf: Any,
        model: ConvertedModel,
        opts: QuantizeRequest,
        calib: CalibrationSet,
        out: Path,
        on_progress: OnProgress | None,
        cancel: threading.Event | None,
    ) -> None:
        import openvino as ov

        self.ov = ov
        self.nncf = nncf
        self.core = ov.Core()
        self.model = model
        self.opts = opts
        self.calib = calib
        self.out = out
        self.on_progress = on_progress
        self.cancel = cancel
        self.inputs = ModelInputs(model)
        self.n = len(calib.samples)
        self.validator: _Validator | None = None

    def run(self) -> dict[str, Any]:
        nncf, opts = self.nncf, self.opts
        parts: dict[str, Any] = {}
        ac: dict[str, Any] | None = None
        if opts.accuracy_control:
            self.validator = _Validator(
                self.model, self.calib.samples[: opts.validation_size], opts.max_new_tokens
            )
            ac = {
                "max_drop": opts.max_drop,
                "drop_type": "absolute",
                "metric": "same answer as FP16",
                "validation_samples": len(self.validator.samples),
                "agreement": {},
            }

        # Vision model: full INT8 on the pictures.
        check_cancel(self.cancel)
        counter = SampleCounter(
            VISION,
            self.n,
            self.on_progress,
            self.cancel,
            f"Quantizing {VISION}: collecting statistics on {self.n} pictures",
        )

        def vision_item(s: Sample) -> dict[str, np.ndarray]:
            counter.tick()
            return {"pixel_values": self.inputs.pixels(s.image)}

        vision = self._quantize(VISION, nncf.Dataset(self.calib.samples, vision_item), ac, counter)
        counter.finish()
        self._save(vision, VISION)
        parts[VISION] = self._ptq_record()

        if self.model.task == "vqa":
            # Text encoder: its picture input comes from the INT8 vision model, as in the app.
            check_cancel(self.cancel)
            items = self._text_encoder_items(vision)
            counter = SampleCounter(
                TEXT_ENCODER,
                self.n,
                self.on_progress,
                self.cancel,
                f"Quantizing {TEXT_ENCODER}: collecting statistics on {self.n} questions",
            )

            def text_item(item: tuple[np.ndarray, dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
                counter.tick()
                embeds, question = item
                return {**question, "image_embeds": embeds.astype(np.float32)}

            if self.validator is not None:
                self.validator.use(VISION, self._compile(vision))
            encoder = self._quantize(TEXT_ENCODER, nncf.Dataset(items, text_item), ac, counter)
            counter.finish()
            self._save(encoder, TEXT_ENCODER)
            parts[TEXT_ENCODER] = self._ptq_record()

        # Decoder side: weights only (activations stay float; decode steps are memory-bound).
        for part in (CROSS_KV, DECODER):
            check_cancel(self.cancel)
            mode = opts.decoder if part == DECODER else "int8"
            report(
                self.on_progress, part, 0, 1, "steps", f"Compressing the weights of {part} ({mode.upper()})"
            )
            compressed, record = self._compress(part, mode)
            self._save(compressed, part)
            parts[part] = record
            report(self.on_progress, part, 1, 1, "steps", f"Compressed {part}")
        return {"parts": parts, "accuracy_control": ac}

    # -- steps -----------------------------------------------------------------------------------------------

    def _quantize(self, part: str, dataset: Any, ac: dict[str, Any] | None, counter: SampleCounter) -> Any:
        """nncf.quantize, or with accuracy control nncf.quantize_with_accuracy_control; both count samples
        through `counter`, and validation runs show in its message (same stage, so a bar never jumps)."""
        nncf = self.nncf
        fp16 = self.core.read_model(str(self.model.xml("fp16", part)))
        mixed = self.opts.preset == "mixed"
        preset = nncf.QuantizationPreset.MIXED if mixed else nncf.QuantizationPreset.PERFORMANCE
        common = dict(preset=preset, subset_size=self.n, model_type=nncf.ModelType.TRANSFORMER)
        with nncf_errors(part, "quantize"):
            if ac is None or self.validator is None:
                return nncf.quantize(fp16, dataset, **common)
            validator = self.validator
            everything = list(range(len(validator.samples)))

            def validate(compiled: Any, items: Any) -> tuple[float, list[float]]:
                check_cancel(self.cancel)
                scores = validator.score(part, compiled, list(items))
                counter.note(
                    f"Accuracy control for {part}: validation {validator.runs}, agreement {np.mean(scores):.0%}"
                )
                return float(np.mean(scores)), scores

            quantized = nncf.quantize_with_accuracy_control(
                fp16,
                dataset,
                nncf.Dataset(everything),
                validate,
                max_drop=self.opts.max_drop,
                drop_type=nncf.DropType.ABSOLUTE,
                **common,
            )
            agreement = float(np.mean(validator.score(part, self._compile(quantized), everything)))
            ac["agreement"][part] = round(agreement, 4)
            return quantized

    def _text_encoder_items(self, vision: Any) -> list[tuple[np.ndarray, dict[str, np.ndarray]]]:
        """(image embeddings as float16, question inputs) per sample; a picture used twice is computed once."""
        request = self._compile(vision).create_infer_request()
        cache: dict[int, np.ndarray] = {}
        items = []
        stage = f"{TEXT_ENCODER} inputs"
        report(self.on_progress, stage, 0, self.n, "samples", "Running the INT8 vision model on the pictures")
        for i, s in enumerate(self.calib.samples):
            check_cancel(self.cancel)
            key = id(s.image)
            if key not in cache:
                out = request.infer({"pixel_values": self.inputs.pixels(s.image)})
                cache[key] = np.asarray(out[0], dtype=np.float16)
            items.append((cache[key], self.inputs.question(s.question)))
            report(
                self.on_progress,
                stage,
                i + 1,
                self.n,
                "samples",
                "Running the INT8 vision model on the pictures",
            )
        return items

    def _compress(self, part: str, mode: str) -> tuple[Any, dict[str, Any]]:
        nncf = self.nncf
        fp16 = self.core.read_model(str(self.model.xml("fp16", part)))
        record: dict[str, Any] = {"method": "nncf.compress_weights"}
        with nncf_errors(part, "quantize"):
            if mode == "int4":
                params = nncf.AdvancedCompressionParameters(
                    group_size_fallback_mode=nncf.GroupSizeFallbackMode.ADJUST
                )
                compressed = nncf.compress_weights(
                    fp16,
                    mode=nncf.CompressWeightsMode.INT4_ASYM,
                    group_size=self.opts.group_size,
                    ratio=self.opts.ratio,
                    advanced_parameters=params,
                )
                record.update(
                    mode="int4_asym",
                    group_size=self.opts.group_size,
                    ratio=self.opts.ratio,
                    backup_mode="int8_asym",
                )
            else:
                compressed = nncf.compress_weights(fp16, mode=nncf.CompressWeightsMode.INT8_ASYM)
                record.update(mode="int8_asym")
        return compressed, record

    def _ptq_record(self) -> dict[str, Any]:
        return {
            "method": "nncf.quantize",
            "model_type": "transformer",
            "preset": self.opts.preset,
            "subset_size": self.n,
            "accuracy_control": self.opts.accuracy_control,
        }

    def _compile(self, ov_model: Any) -> Any:
        return self.core.compile_model(ov_model, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})

    def _save(self, ov_model: Any, part: str) -> None:
        check_cancel(self.cancel)
        self.ov.save_model(ov_model, str(self.out / f"{part}.xml"), compress_to_fp16=True)


class _Validator:
    """Scores a candidate part by how often the whole pipeline still gives the FP16 model's answers.

    The FP16 pipeline (f32 hint) answers every validation sample once; a candidate replaces one part of it.
    """

    def __init__(self, model: ConvertedModel, samples: list[Sample], max_new_tokens: int) -> None:
        from model_tools.runtime import load

        self.pipe = load(model.path, "fp16", hints={"*": "f32"})
        self.samples = samples
        self.max_new_tokens = max_new_tokens
        self.runs = 0
        self.reference = [self._answer(i) for i in range(len(samples))]

    def _answer(self, i: int) -> list[int]:
        s = self.samples[i]
        if self.pipe.task == "vqa":
            return self.pipe.ask(s.image, s.question, max_new_tokens=self.max_new_tokens).token_ids
        return self.pipe.caption(s.image, max_new_tokens=self.max_new_tokens).token_ids

    def use(self, part: str, compiled: Any) -> None:
        """From now on `part` is this compiled model (the INT8 vision model while tuning the text encoder)."""
        self.pipe.parts[part] = Part(compiled)

    def score(self, part: str, compiled: Any, indices: list[int]) -> list[float]:
        saved = self.pipe.parts[part]
        self.use(part, compiled)
        try:
            self.runs += 1
            return [float(self._answer(i) == self.reference[i]) for i in indices]
        finally:
            self.pipe.parts[part] = saved


# -- benchmark hook ------------------------------------------------------------------------------------------
