"""Make the shipped demo models the way a user's model is made: train, convert, quantize.

hf/vqa, hf/caption                      Hugging Face folders from `train`
<out>/demo-shapes-vqa                   converted (fp16 + int8), names its caption partner
<out>/demo-shapes-caption               converted (fp16 + int8)
<out>/chat/hf                           the chat demo's Hugging Face folder from `chat_train` (resumable)
<out>/demo-shapes-chat                  converted (fp16), weights compressed to int8 and int4
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from model_tools.library.store import DEMO_CHAT_NOTE, DEMO_NOTE

VQA_NAME = "demo-shapes-vqa"
CAPTION_NAME = "demo-shapes-caption"
CHAT_NAME = "demo-shapes-chat"


def convert_and_quantize(
    hf_root: Path,
    out_root: Path,
    *,
    log: Callable[[str], None] = print,
    cancel: threading.Event | None = None,
    subset_size: int = 300,
    overwrite: bool = True,
) -> dict[str, Path]:
    """Convert `hf_root/{vqa,caption}` into demo model folders under `out_root` and add INT8 to each."""
    from model_tools.convert.blip import convert
    from model_tools.jobs.requests import ConvertRequest, QuantizeRequest
    from model_tools.quantize.blip import quantize

    made: dict[str, Path] = {}
    for task, name in (("caption", CAPTION_NAME), ("vqa", VQA_NAME)):
        source = hf_root / task
        if not (source / "config.json").is_file():
            continue
        extra: dict[str, Any] = {
            "demo": True,
            "description": DEMO_NOTE,
            "source": {
                "id": "glimpse/demo-shapes",
                "revision": None,
                "path": f"trained by `model-tools demo train` ({task})",
            },
        }
        if task == "vqa" and (out_root / CAPTION_NAME).is_dir():
            extra["caption_model"] = f"../{CAPTION_NAME}"
        log(f"converting {task} -> {out_root / name}")
        request = ConvertRequest(str(source), out_root / name, name=name, overwrite=overwrite)
        folder = convert(request, cancel=cancel, extra_manifest=extra).path
        log(f"quantizing {name} on generated shapes ({subset_size} samples)")
        quantize(QuantizeRequest(folder, calibration="builtin", subset_size=subset_size), cancel=cancel)
        made[task] = folder
    return made


def train_demo(
    out: Path,
    *,
    steps: int,
    seed: int = 0,
    batch: int = 64,
    caption_steps: int | None = None,
    minutes: float | None = None,
    log: Callable[[str], None] = print,
    cancel: threading.Event | None = None,
    quantize_subset: int = 300,
) -> dict[str, Path]:
    """Train both demo models into `out/hf`, then convert and quantize them into `out`."""
    from model_tools.demo.train import train

    hf = out / "hf"
    train(
        hf,
        steps=steps,
        seed=seed,
        batch=batch,
        log=log,
        cancel=cancel,
        caption_steps=caption_steps,
        minutes=minutes,
        caption_minutes=minutes / 3 if minutes else None,
    )
    return convert_and_quantize(hf, out, log=log, cancel=cancel, subset_size=quantize_subset)


def convert_chat(hf: Path, out_root: Path, *, log: Callable[[str], None] = print,
                 cancel: threading.Event | None = None) -> Path:
    """Convert the trained chat demo (`hf`) into `out_root/demo-shapes-chat` and add its INT8 and INT4 weights."""
    from model_tools.convert.chat import convert
    from model_tools.jobs.requests import ConvertRequest, QuantizeRequest
    from model_tools.quantize.chat import quantize

    extra = {
        "demo": True,
        "description": DEMO_CHAT_NOTE,
        "source": {"id": "glimpse/demo-shapes-chat", "revision": None,
                   "path": "trained by `model-tools demo train --family chat`"},
    }
    log(f"converting the chat demo -> {out_root / CHAT_NAME}")
    request = ConvertRequest(str(hf), out_root / CHAT_NAME, name=CHAT_NAME, overwrite=True)
    folder = convert(request, cancel=cancel, extra_manifest=extra).path
    for weights in ("int8", "int4"):
        log(f"compressing {CHAT_NAME}'s weights to {weights.upper()}")
        quantize(QuantizeRequest(folder, weights=weights), cancel=cancel)
    return folder


def train_chat_demo(out: Path, *, steps: int, seed: int = 0, batch: int = 32, minutes: float | None = None,
                    log: Callable[[str], None] = print, cancel: threading.Event | None = None) -> dict[str, Path]:
    """Train the chat demo into `out/chat` (going on from a checkpoint there), then convert and compress it."""
    from model_tools.demo.chat_train import train_chat

    hf = train_chat(out / "chat", steps, seed=seed, batch=batch, minutes=minutes, log=log, cancel=cancel)
    return {"chat": convert_chat(hf, out, log=log, cancel=cancel)}
