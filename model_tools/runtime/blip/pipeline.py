"""BLIP on OpenVINO: load a converted model, answer questions about pictures, write captions.

    vision_model -> (text_encoder, VQA only) -> text_decoder_cross_kv (once) -> text_decoder loop
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import openvino as ov

from model_tools.runtime import precision as policy
from model_tools.runtime.answer import Answer, Metrics
from model_tools.runtime.blip.generation import Search, beam_search, greedy
from model_tools.runtime.compile_cache import compile_cache_dir
from model_tools.runtime.devices import check_device, core
from model_tools.runtime.errors import DeviceUnavailableError, GlimpseError
from model_tools.runtime.images import ImageSource, load_image, preprocess
from model_tools.runtime.model_folder import (
    CROSS_KV,
    DECODER,
    TEXT_ENCODER,
    VISION,
    ConvertedModel,
    components,
)
from model_tools.runtime.text import TextStream, clean_question

OnText = Callable[[str], object]

__all__ = ["Answer", "BlipPipeline", "GenerationSettings", "Metrics", "load"]


@dataclass
class GenerationSettings:
    max_new_tokens: int = 20
    num_beams: int = 1


class Part:
    """One compiled model part with its own infer request."""

    def __init__(self, compiled: ov.CompiledModel) -> None:
        self.compiled = compiled
        self.request = compiled.create_infer_request()
        self.input_names = [i.get_any_name() for i in compiled.inputs]
        self.output_names = [o.get_any_name() for o in compiled.outputs]

    def __call__(self, inputs: dict[str, np.ndarray]) -> list[np.ndarray]:
        result = self.request.infer(inputs, share_inputs=True)
        return [result[o] for o in self.compiled.outputs]


class DecoderSession:
    """The text decoder with its self-attention cache; cross-attention K/V are fixed per image."""

    def __init__(self, part: Part, cross_kv: list[np.ndarray], layers: int, heads: int, head_dim: int) -> None:
        self.part = part
        self.layers = layers
        self._past = [np.zeros((1, heads, 0, head_dim), dtype=np.float32) for _ in range(2 * layers)]
        for i in range(layers):
            part.request.set_tensor(f"cross_key.{i}", ov.Tensor(cross_kv[2 * i], shared_memory=True))
            part.request.set_tensor(f"cross_value.{i}", ov.Tensor(cross_kv[2 * i + 1], shared_memory=True))

    def step(self, tokens: np.ndarray) -> np.ndarray:
        inputs = {"input_ids": tokens}
        for i in range(self.layers):
            inputs[f"past_key.{i}"] = self._past[2 * i]
            inputs[f"past_value.{i}"] = self._past[2 * i + 1]
        out = self.part(inputs)
        self._past = [np.array(x) for x in out[1:]]
        return np.array(out[0])

    def reorder(self, beam_idx: np.ndarray) -> None:
        self._past = [np.ascontiguousarray(p[beam_idx]) for p in self._past]


class BlipPipeline:
    """A loaded BLIP model: `ask(image, question)` for VQA models, `caption(image)` for captioning models.

    Calls may come from any thread, one at a time per pipeline (a lock serialises them).
    """

    def __init__(
        self,
        model: ConvertedModel,
        precision: str,
        device: str,
        parts: dict[str, Part],
        load_s: float,
        hints: dict[str, str],
    ) -> None:
        self.model = model
        self.precision = precision
        self.device = device
        self.parts = parts
        self.load_s = load_s
        self.hints = hints
        self.sources: dict[str, str] = {}  # part -> the precision folder its file comes from
        self.setup: dict[str, policy.PartSetup] = {}  # part -> file, hint and why (see `policy`)
        self.setup_label = precision.upper()  # e.g. "INT8 · vision, question encoder FP16 on this CPU"
        self.exact = False
        self.notes: list[str] = []  # things the user should hear once, e.g. running without a compile cache
        spec = model.spec
        self.task = spec.task
        self.tokens = spec.tokens
        self.image_size = spec.image.size
        self.mean = spec.image.mean
        self.std = spec.image.std
        self.layers, self.heads, self.head_dim = spec.text.layers, spec.text.heads, spec.text.head_dim
        self.max_positions = spec.text.max_positions
        self.tokenizer = model.tokenizer()
        self._lock = threading.Lock()
        self._first_call = True

    # -- public API ------------------------------------------------------------------------------------------

    def ask(
        self,
        image: ImageSource,
        question: str,
        *,
        max_new_tokens: int = 20,
        num_beams: int = 1,
        on_text: OnText | None = None,
        cancel: threading.Event | None = None,
    ) -> Answer:
        """Answer `question` about `image`; an empty question asks for a caption where the model can give one.

        runs in: any thread (typically a worker); `on_text` is called on that same thread.
        """
        question = clean_question(question)
        if not question:
            return self.caption(image, max_new_tokens=max_new_tokens, num_beams=num_beams, on_text=on_text, cancel=cancel)
        if self.task != "vqa":
            # A captioning model takes the question as the start of its caption.
            return self.caption(image, prompt=question, max_new_tokens=max_new_tokens, num_beams=num_beams,
                                on_text=on_text, cancel=cancel)
        return self._run(image, question, None, max_new_tokens, num_beams, on_text, cancel)

    def caption(
        self,
        image: ImageSource,
        prompt: str | None = None,
        *,
        max_new_tokens: int = 20,
        num_beams: int = 1,
        on_text: OnText | None = None,
        cancel: threading.Event | None = None,
    ) -> Answer:
        """Describe `image`; `prompt` (e.g. "a picture of") starts the caption. runs in: any thread."""
        prompt = clean_question(prompt) if prompt is not None else None
        if self.task == "vqa":
            raise GlimpseError(
                f"{self.model.name} answers questions but cannot write captions.",
                "Type a question, or choose a captioning model for Describe.",
            )
        return self._run(image, None, prompt, max_new_tokens, num_beams, on_text, cancel)

    # -- the work --------------------------------------------------------------------------------------------

    def _run(
        self,
        image: ImageSource,
        question: str | None,
        prompt: str | None,
        max_new_tokens: int,
        num_beams: int,
        on_text: OnText | None,
        cancel: threading.Event | None,
    ) -> Answer:
        if max_new_tokens < 1:
            raise ValueError("max_new_tokens must be at least 1.")
        if num_beams < 1:
            raise ValueError("num_beams must be at least 1.")
        with self._lock:
            t0 = time.perf_counter()
            metrics = Metrics(load_s=self.load_s if self._first_call else 0.0)
            self._first_call = False
            # A big JPEG decodes at a reduced scale that stays 4x the model size (a fraction of the memory).
            picture = load_image(image, at_least=(self.image_size[1], self.image_size[0]))
            pixels = preprocess(picture, self.image_size, self.mean, self.std)
            t = time.perf_counter()
            (image_embeds,) = self.parts[VISION]({"pixel_values": pixels})
            metrics.vision_s = time.perf_counter() - t

            truncated = False
            start = [self.tokens.decoder_start]
            if question is not None:
                ids, truncated = self.tokenizer.encode(question)
                t = time.perf_counter()
                q = np.asarray([ids], dtype=np.int64)
                (encoder_states,) = self.parts[TEXT_ENCODER](
                    {"input_ids": q, "attention_mask": np.ones_like(q), "image_embeds": image_embeds}
                )
                metrics.text_encoder_s = time.perf_counter() - t
            else:
                encoder_states = image_embeds
                if prompt:
                    ids, truncated = self.tokenizer.encode(prompt)
                    start = start + ids[1:-1]  # [DEC] replaces [CLS]; the closing [SEP] is dropped, as in BLIP
            cross_kv = [np.array(x) for x in self.parts[CROSS_KV]({"encoder_hidden_states": encoder_states})]
            decoder = DecoderSession(self.parts[DECODER], cross_kv, self.layers, self.heads, self.head_dim)
            max_new_tokens = max(1, min(max_new_tokens, self.max_positions - len(start)))

            stream = TextStream(self.tokenizer, on_text)
            first: list[float] = []

            def on_tokens(new: list[int]) -> None:
                if new and not first:
                    first.append(time.perf_counter())
                stream.extend(new)

            eos = self.tokens.end
            if num_beams == 1:
                search: Search = greedy(decoder, start, max_new_tokens, eos, on_tokens, cancel)
            else:
                search = beam_search(decoder, start, max_new_tokens, eos, num_beams, on_tokens, cancel)
            end = time.perf_counter()

            prompt_ids = start[1:]
            text = self.tokenizer.decode(prompt_ids + search.ids) if prompt_ids else stream.text
            n = len(search.ids)
            metrics.new_tokens = n
            metrics.total_s = end - t0
            if first:
                metrics.ttft_s = first[0] - t0
                if n > 1:
                    metrics.tpot_s = (end - first[0]) / (n - 1)
            metrics.tokens_per_s = n / (end - t0) if end > t0 else 0.0
            return Answer(
                text=text,
                token_ids=search.ids,
                metrics=metrics,
                cancelled=search.cancelled,
                truncated_question=truncated,
                precision=self.precision,
                device=self.device,
                task=self.task,
                question=question or prompt or "",
            )


def load(
    model_dir: str | Path,
    precision: str = "fp16",
    device: str = "CPU",
    *,
    hints: dict[str, str] | None = None,
    cache: bool = True,
    exact: bool = False,
) -> BlipPipeline:
    """Verify and compile a converted model for `device`.

    Each part runs with the file and precision hint that `policy` decides for this machine (deterministic:
    the same set-up, so the same answer, every time); `pipeline.setup_label` says it in words, `sources` and
    `hints` part by part. `exact=True` runs every part from `precision`'s own files at full precision.
    `hints` maps a part name (or "*") to OpenVINO's INFERENCE_PRECISION_HINT ("f32", "bf16", "f16") and pins
    every part to `precision`'s own files. The compile cache is kept per file content (sha256), so a folder
    replaced in place never runs the weights compiled from the old files.
    runs in: any thread (compiling releases the GIL).
    """
    model = ConvertedModel.open(model_dir)
    model.verify(precision)
    device = check_device(device)
    t0 = time.perf_counter()
    ov_core = core()
    names = components(model.task)
    setups, configs = policy.plan(precision, device, names, has_fp16=model.has("fp16"), exact=exact, hints=hints)
    notes: list[str] = []
    parts: dict[str, Part] = {}
    for name in names:
        setup = setups[name]
        if setup.source != precision:
            model.verify(setup.source)
        config = dict(configs[name])
        if cache:
            folder = compile_cache_dir(model, setup.source, name, device, config, notes)
            if folder is not None:
                config["CACHE_DIR"] = str(folder)
        try:
            compiled = ov_core.compile_model(str(model.xml(setup.source, name)), device, config)
        except RuntimeError as exc:
            text = str(exc)
            if "device" in text.lower() or "plugin" in text.lower():
                raise DeviceUnavailableError(
                    f"OpenVINO could not load {model.name} on {device}.", "Choose another device (CPU always works)."
                ) from exc
            raise GlimpseError(f"OpenVINO could not compile {name} of {model.name}: {text.splitlines()[0]}") from exc
        parts[name] = Part(compiled)
    chosen = {n: s.hint for n, s in setups.items() if s.hint}
    pipe = BlipPipeline(model, precision, device, parts, time.perf_counter() - t0, chosen)
    pipe.sources = {n: s.source for n, s in setups.items()}
    pipe.setup = setups
    pipe.exact = exact
    pipe.setup_label = policy.setup_label(precision, device, setups, exact=exact)
    pipe.notes = notes
    return pipe
