"""Chat models on openvino-genai's VLMPipeline: a conversation about pictures, streamed token by token.

One `ChatPipeline` runs one precision folder of a chat model and holds one conversation: `ask(pictures,
text)` adds the user's turn (with its pictures) and the answer to it, streams the answer through `on_text`
and returns an `Answer`, the same object BLIP's pipeline returns. `reset()` starts a new conversation,
`history` is the conversation so far (`Turn`s, pictures as given), `restore(turns)` continues a saved one.

What openvino-genai 2026.4 does, and this module leans on (tests/runtime/chat check it):

- The conversation goes in as one `ChatHistory` object, kept for the whole conversation: the pictures of a
  `generate` call belong to its last user message, and genai remembers with that object which earlier
  message had which pictures (a new object with the same messages answers as if they had none). A turn's
  pictures are thus sent with that turn only, and a restored conversation is replayed into a new object,
  one user turn at a time (one token each, with its pictures), before the next question is answered.
- The CPU plugin keeps past keys/values in u8 unless told otherwise; greedy answers then leave the f32
  ones after a few tokens, so `exact=True` asks for an f32 cache (KV_CACHE_PRECISION).
- ATTENTION_BACKEND is genai's default "PA" (paged attention): on llava-small's 755-token prompt its first
  token comes 2.4x sooner than with "SDPA" at the same per-token time (`bench --synthetic llava-small`). A
  streamer's STOP lands a few tokens late there (SDPA stops on the token); the streamer ignores what comes
  after a stop, so the answer shown and kept ends where Esc was pressed. STOP keeps the partial answer,
  CANCEL forgets the turn. genai calls the streamer from its own threads: a caller that waits for Ctrl+C
  must not block its main thread in `ask` (see the CLI).
- Sending a finished history a second time fails in the sampler (`token_idx < seq_len`): a new or restored
  conversation first resets the pipeline's own state (`finish_chat`, deprecated but the only reset there is).
"""

from __future__ import annotations

import json
import os
import threading
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import openvino as ov
import openvino_genai as og
from PIL import Image

from model_tools.runtime import precision as policy
from model_tools.runtime.answer import Answer, Metrics
from model_tools.runtime.compile_cache import compile_cache_dir
from model_tools.runtime.devices import check_device
from model_tools.runtime.errors import (
    CorruptModelError,
    DeviceUnavailableError,
    GlimpseError,
    UnsupportedModelError,
)
from model_tools.runtime.image_input import ImageInput, fit, image_input
from model_tools.runtime.images import ImageSource, load_image
from model_tools.runtime.model_folder import CHAT_PARTS, ConvertedModel
from model_tools.runtime.text import clean_question

OnText = Callable[[str], object]
Picture = ImageSource | np.ndarray  # a path, encoded bytes, a PIL image or an RGB(A)/grey uint8 array

# The model types (config.json's `model_type`) VLMPipeline runs, as openvino-genai 2026.4.1 names them.
MODEL_TYPES = (
    "llava",
    "llava_next",
    "llava_next_video",
    "llava-qwen2",
    "internvl_chat",
    "phi3_v",
    "phi4mm",
    "minicpmv",
    "minicpmo",
    "qwen2_vl",
    "qwen2_5_vl",
    "qwen3_vl",
    "gemma3",
    "gemma3n",
)
ATTENTION_BACKEND = "PA"  # genai's default: the first token 2.4x sooner than SDPA on a 755-token prompt
DEFAULT_MAX_NEW_TOKENS = 256
DESCRIBE = "Describe this picture."  # the question of a message that has pictures and no words
ROLES = ("user", "assistant")


@dataclass(frozen=True)
class Turn:
    """One message of a conversation: the user's (with the pictures sent with it) or the model's answer."""

    role: str  # "user" or "assistant"
    text: str
    pictures: tuple[ImageSource, ...] = ()  # as given: paths, bytes or PIL images

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"A turn's role is one of {', '.join(ROLES)}, not {self.role!r}.")
        if self.pictures and self.role != "user":
            raise ValueError("Only the user's turns carry pictures.")

    def to_dict(self) -> dict[str, Any]:
        """JSON for a saved conversation; pictures must be files (`picture_paths`)."""
        return {"role": self.role, "text": self.text, "pictures": self.picture_paths()}

    def picture_paths(self) -> list[str]:
        """The paths of the turn's pictures; a picture given as data has none (save it to a file first)."""
        paths = [os.fspath(p) for p in self.pictures if isinstance(p, (str, os.PathLike))]
        if len(paths) != len(self.pictures):
            raise ValueError("This turn has a picture that is not a file: save it to a file to keep it.")
        return paths

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Turn:
        return cls(str(data["role"]), str(data.get("text", "")), tuple(str(p) for p in data.get("pictures", [])))


class _Streamer(og.StreamerBase):
    """Collects the token ids, streams their text as it becomes whole characters, stops on `cancel`.

    The text is decoded here (`AnswerText`), not by genai's TextStreamer: that one hands bytes that are not UTF-8
    (a tiny or damaged model makes them) to Python, whose str conversion then fails inside generation and
    aborts the process.
    """

    def __init__(
        self, tokenizer: og.Tokenizer, on_text: OnText | None, cancel: threading.Event | None, keep_partial: bool
    ) -> None:
        super().__init__()
        self.ids: list[int] = []
        self.stopped = False
        self._cancel = cancel
        self._stop = og.StreamingStatus.STOP if keep_partial else og.StreamingStatus.CANCEL
        self._text = AnswerText(tokenizer, on_text)

    @property
    def text(self) -> str:
        return self._text.text

    def write(self, token: int | Sequence[int]) -> og.StreamingStatus:
        if self.stopped:  # the PA backend runs a few tokens on after a stop: they are not part of the answer
            return self._stop
        ids = [int(t) for t in token] if isinstance(token, Sequence) else [int(token)]
        self.ids.extend(ids)
        self._text.add(ids)
        if self._cancel is not None and self._cancel.is_set():
            self.stopped = True
            return self._stop
        return og.StreamingStatus.RUNNING

    def end(self) -> None:
        self._text.end()  # the text it held back (an unfinished character)


class AnswerText:
    """The answer's text from its token ids, told in pieces as characters complete (as transformers' and TGI's
    streamers do: the text of the ids since `prefix`, less that of the ids already told)."""

    HOLD = 4  # tokens an unfinished character may take before it is told as U+FFFD

    def __init__(self, tokenizer: og.Tokenizer, on_text: OnText | None) -> None:
        self._tokenizer, self._on_text = tokenizer, on_text
        self._ids: list[int] = []
        self._prefix = self._read = 0
        self._told: list[str] = []

    @property
    def text(self) -> str:
        return "".join(self._told)

    def add(self, ids: list[int]) -> None:
        self._ids.extend(ids)
        text = self._tokenizer.decode(self._ids[self._prefix :])
        if text.endswith("\ufffd") and len(self._ids) - self._read < self.HOLD:
            return  # a character split across tokens (genai's decode marks the unfinished bytes U+FFFD)
        self._tell(text)

    def end(self) -> None:
        if self._read < len(self._ids):
            self._tell(self._tokenizer.decode(self._ids[self._prefix :]))

    def _tell(self, text: str) -> None:
        before = self._tokenizer.decode(self._ids[self._prefix : self._read])
        piece = text[len(before) :] if text.startswith(before) else text
        if not self._told:
            piece = piece.lstrip()  # the first token's leading space (" The"): no part of the answer shown
        self._prefix, self._read = self._read, len(self._ids)
        if piece:
            self._told.append(piece)
            if self._on_text is not None:
                self._on_text(piece)


class ChatPipeline:
    """A loaded chat model and one conversation with it.

    Calls may come from any thread, one at a time per pipeline (a lock serialises them).
    """

    task = "chat"

    def __init__(
        self,
        model: ConvertedModel,
        precision: str,
        device: str,
        vlm: og.VLMPipeline,
        load_s: float,
        setups: dict[str, policy.PartSetup],
        exact: bool,
        notes: list[str],
    ) -> None:
        self.model = model
        self.precision = precision
        self.device = device
        self.vlm = vlm
        self.load_s = load_s
        self.setup = setups
        self.hints = {n: s.hint for n, s in setups.items() if s.hint}
        self.sources = {n: s.source for n, s in setups.items()}
        self.exact = exact
        self.setup_label = policy.setup_label(precision, device, setups, exact=exact)
        self.notes = notes
        self.model_type = model.spec.chat.model_type if model.spec.chat else ""
        self._tokenizer = vlm.get_tokenizer()
        self._turns: list[Turn] = []
        self._chat = og.ChatHistory()  # the same messages as `_turns`, the one object genai sees
        self._synced = True  # genai's own state matches `_turns` (else: reset it and replay the turns)
        self._lock = threading.Lock()
        self._first_call = True
        self.image_input: ImageInput = image_input(model, precision)
        self.image_side: int | None = None  # the longest picture side sent (None: full size); `set_image_side`

    # -- the conversation ------------------------------------------------------------------------------------

    @property
    def history(self) -> tuple[Turn, ...]:
        """The conversation so far, oldest first. runs in: any thread."""
        return tuple(self._turns)

    def reset(self) -> None:
        """Start a new conversation. runs in: any thread (waits for an answer being written)."""
        with self._lock:
            self._turns = []
            self._synced = False

    def set_image_side(self, side: int | None) -> None:
        """Send pictures at most `side` pixels on their longer side from the next `ask` on (None: full size).

        Only where the model takes pictures at their own size (`image_input.adjustable`); a model that scales
        every picture to one size gets them whole (smaller ones would only lose detail), and this is ignored.
        runs in: any thread (waits for an answer being written).
        """
        if side is not None and side < 16:
            raise ValueError("A picture side below 16 pixels leaves nothing to see.")
        with self._lock:
            self.image_side = side if self.image_input.adjustable else None

    def restore(self, turns: Sequence[Turn]) -> None:
        """Continue a saved conversation: the next `ask` first replays `turns` (with their pictures).

        runs in: any thread (cheap: the replay happens in the next `ask`).
        """
        turns = list(turns)
        if not all(isinstance(t, Turn) for t in turns):
            raise TypeError("restore() takes Turn objects (Turn.from_dict reads saved ones).")
        with self._lock:
            self._turns = turns
            self._synced = False

    def ask(
        self,
        pictures: Picture | Sequence[Picture] | None,
        text: str,
        *,
        max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS,
        on_text: OnText | None = None,
        cancel: threading.Event | None = None,
        keep_partial: bool = True,
    ) -> Answer:
        """Answer `text` about `pictures` (none, one or several), knowing the turns before it.

        The answer is greedy (the same every time). `on_text` gets its text in chunks as it is written;
        `cancel` (set from any thread) stops it at the next token: the partial answer stays in the
        conversation, or with `keep_partial=False` the whole turn is forgotten.
        runs in: any thread (typically a worker); `on_text` is called on that same thread.
        """
        if max_new_tokens < 1:
            raise ValueError("max_new_tokens must be at least 1.")
        sources = _as_sources(pictures)
        side = self.image_side
        tensors = [_tensor(p, side) for p in sources]  # an unreadable picture is refused before the turn is added
        text = _clean(text) or (DESCRIBE if sources else "")
        if not text:
            raise GlimpseError("There is nothing to answer.", "Type a question, or attach a picture.")
        with self._lock:
            t0 = time.perf_counter()
            metrics = Metrics(load_s=self.load_s if self._first_call else 0.0)
            self._first_call = False
            if cancel is not None and cancel.is_set():
                return self._answer("", [], metrics, True, text)
            self._sync()
            user = Turn("user", text, tuple(sources))
            streamer = _Streamer(self._tokenizer, on_text, cancel, keep_partial)
            self._chat.append(_message(user))
            try:
                result = self.vlm.generate(
                    self._chat, images=tensors, generation_config=self._config(max_new_tokens), streamer=streamer
                )
            except BaseException:
                self._chat.pop()
                self._synced = False  # whatever genai kept of this turn: start clean next time
                raise
            answer = streamer.text  # what was streamed (after a stop, not the tokens genai ran on)
            if streamer.stopped and not keep_partial:
                self._chat.pop()
            else:
                self._turns += [user, Turn("assistant", answer)]
                self._chat.append({"role": "assistant", "content": answer})
            end = time.perf_counter()
            _fill(metrics, result.perf_metrics, len(streamer.ids), end - t0)
            return self._answer(answer, streamer.ids, metrics, streamer.stopped, text)

    # -- the work --------------------------------------------------------------------------------------------

    def _answer(self, text: str, ids: list[int], metrics: Metrics, cancelled: bool, question: str) -> Answer:
        return Answer(
            text=text,
            token_ids=list(ids),
            metrics=metrics,
            cancelled=cancelled,
            precision=self.precision,
            device=self.device,
            task=self.task,
            question=question,
        )

    def _config(self, max_new_tokens: int) -> og.GenerationConfig:
        config = self.vlm.get_generation_config()  # the folder's generation_config.json: end tokens
        config.max_new_tokens = max_new_tokens
        config.do_sample = False
        config.num_beams = 1
        return config

    def _sync(self) -> None:
        """Bring genai's own state in line with `_turns` after a reset, a restore or an error."""
        if self._synced:
            return
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # finish_chat is deprecated, and still the only reset
            self.vlm.finish_chat()
        self._chat = og.ChatHistory()
        for turn in self._turns:
            self._chat.append(_message(turn))
            if turn.role == "user":
                pictures = [_tensor(p, self.image_side) for p in turn.pictures]
                self.vlm.generate(self._chat, images=pictures, generation_config=self._config(1))
        self._synced = True


def load(
    model_dir: str | Path,
    precision: str = "fp16",
    device: str = "CPU",
    *,
    hints: dict[str, str] | None = None,
    cache: bool = True,
    exact: bool = False,
    attention: str = ATTENTION_BACKEND,
) -> ChatPipeline:
    """Verify a chat model folder and load its `precision` on `device` with VLMPipeline.

    The precision hint follows `policy` as for BLIP (`exact=True`: full precision, f32 on CPU, and on CPU the
    key/value cache in f32 too, which OpenVINO otherwise quantizes to u8 and which changes greedy answers
    after a few tokens; `hints`, one for every part ("*"), pins the hint); `setup_label` says it in words. A model type VLMPipeline cannot run is
    refused before loading, naming it. The compile cache is one folder per file content of the precision.
    `attention` is genai's ATTENTION_BACKEND: the app keeps "SDPA" (stops are exact); the bench also measures
    "PA", whose first token comes sooner on long prompts.
    runs in: any thread (compiling releases the GIL).
    """
    model = ConvertedModel.open(model_dir)
    if model.spec.family != "chat":
        raise GlimpseError(f"{model.name} is a {model.spec.family} model, not a chat model.")
    model.verify(precision)
    check_model_type(model, precision)
    device = check_device(device)
    t0 = time.perf_counter()
    setups, configs = policy.plan(precision, device, list(CHAT_PARTS), has_fp16=model.has("fp16"), exact=exact,
                                  hints=hints)
    distinct = {json.dumps(c, sort_keys=True, default=str) for c in configs.values()}
    if len(distinct) > 1:
        raise ValueError("A chat model runs all its parts with one precision hint: pass hints={'*': ...}.")
    properties: dict[str, Any] = {**next(iter(configs.values())), "ATTENTION_BACKEND": attention}
    if exact and device.split(".")[0] == "CPU":
        properties["KV_CACHE_PRECISION"] = "f32"  # the CPU keeps past keys/values in u8 otherwise
    notes: list[str] = []
    if cache:
        folder = compile_cache_dir(model, precision, None, device, properties, notes)
        if folder is not None:
            properties["CACHE_DIR"] = str(folder)
    try:
        vlm = og.VLMPipeline(str(model.path / precision), device, **properties)
    except RuntimeError as exc:
        text = str(exc)
        if "device" in text.lower() or "plugin" in text.lower():
            raise DeviceUnavailableError(
                f"OpenVINO could not load {model.name} on {device}.", "Choose another device (CPU always works)."
            ) from exc
        reason = next((line.strip() for line in reversed(text.splitlines()) if line.strip()), type(exc).__name__)
        raise GlimpseError(
            f"openvino-genai could not load {model.name}: {reason}", "Convert or download the model again."
        ) from exc
    return ChatPipeline(model, precision, device, vlm, time.perf_counter() - t0, setups, exact, notes)


def check_model_type(model: ConvertedModel, precision: str) -> str:
    """The model type of `precision`'s config.json, refused (naming it) if VLMPipeline cannot run it."""
    rel = f"{precision}/config.json"
    try:
        config = json.loads((model.path / rel).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CorruptModelError(f"{model.name}: {rel} is unreadable ({exc}).", "Convert the model again.") from None
    model_type = config.get("model_type") if isinstance(config, dict) else None
    if not isinstance(model_type, str) or not model_type:
        raise CorruptModelError(f"{model.name}: {rel} does not say its model_type.", "Convert the model again.")
    if model_type not in MODEL_TYPES:
        raise UnsupportedModelError(
            f"{model.name} is a {model_type!r} model, which openvino-genai's VLMPipeline cannot run "
            f"(it runs {', '.join(MODEL_TYPES)}).",
            "Choose a LLaVA model or a converted OpenVINO chat model from the catalog.",
        )
    expected = model.spec.chat.model_type if model.spec.chat else model_type
    if model_type != expected:
        raise CorruptModelError(
            f"{model.name}: {rel} says {model_type!r} but its manifest says {expected!r}.", "Convert the model again."
        )
    return model_type


# -- pictures and messages -----------------------------------------------------------------------------------


def _as_sources(pictures: Picture | Sequence[Picture] | None) -> list[ImageSource]:
    """The pictures of one message as sources a `Turn` keeps (an array becomes a PIL image)."""
    if pictures is None:
        return []
    items: list[Picture] = list(pictures) if isinstance(pictures, (list, tuple)) else [pictures]  # type: ignore[list-item]
    return [Image.fromarray(p) if isinstance(p, np.ndarray) else p for p in items]


def _tensor(source: ImageSource, side: int | None = None) -> ov.Tensor:
    """A picture as VLMPipeline takes it: uint8 RGB [1, H, W, 3], at most `side` pixels on its longer side."""
    rgb = np.asarray(fit(load_image(source), side), dtype=np.uint8)
    return ov.Tensor(np.ascontiguousarray(rgb[None]))


def _clean(text: str) -> str:
    """The message as the model reads it: each line cleaned as a question is, blank lines at the ends gone."""
    lines = [clean_question(line) for line in str(text).splitlines()]
    return "\n".join(lines).strip("\n")


def _message(turn: Turn) -> dict[str, str]:
    return {"role": turn.role, "content": turn.text}


def _fill(metrics: Metrics, perf: Any, tokens: int, total_s: float) -> None:
    """Timings from genai's perf metrics (milliseconds) into `metrics` (seconds)."""
    metrics.new_tokens = tokens
    metrics.total_s = total_s
    if tokens:
        metrics.ttft_s = float(perf.get_ttft().mean) / 1000
        metrics.tpot_s = float(perf.get_tpot().mean) / 1000 if tokens > 1 else 0.0
        metrics.tokens_per_s = tokens / total_s if total_s > 0 else 0.0
    metrics.vision_s = float(perf.get_vision_encoding_duration().mean) / 1000
