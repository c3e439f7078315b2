"""Inference with converted models on OpenVINO; `load` picks the pipeline of the model's family (`families`).

Imports only openvino, numpy, pillow, tokenizers, platformdirs and the standard library, so the app starts fast;
the first four only when a name that needs them is first used.

    pipe = load("models/blip-vqa-base", precision="int8", device="CPU")
    answer = pipe.ask("photo.jpg", "what is the dog doing?", on_text=print)
"""

from __future__ import annotations

import os
from importlib import import_module
from typing import TYPE_CHECKING, Any

from model_tools.runtime import families, paths
from model_tools.runtime.errors import (
    Cancelled,
    ConversionError,
    CorruptModelError,
    DeviceUnavailableError,
    GlimpseError,
    ImageError,
    ModelNotFoundError,
)
from model_tools.runtime.model_folder import ConvertedModel
from model_tools.runtime.privacy import disable_telemetry

disable_telemetry()  # before anything imports openvino: `import openvino` alone reports usage otherwise

# The rest loads on first use (PEP 562), so that `from model_tools.runtime import GlimpseError` does not pull
# in openvino, numpy and pillow: the window shows first, a worker then imports them while loading the model.
_LAZY = {
    "Device": "devices",
    "check_device": "devices",
    "list_devices": "devices",
    "load_image": "images",
    "preprocess": "images",
    "Answer": "answer",
    "BlipPipeline": "blip.pipeline",
    "ChatPipeline": "chat.pipeline",
    "GenerationSettings": "blip.pipeline",
    "Metrics": "answer",
}

if TYPE_CHECKING:
    from model_tools.runtime.answer import Answer, Metrics
    from model_tools.runtime.blip.pipeline import BlipPipeline, GenerationSettings
    from model_tools.runtime.chat.pipeline import ChatPipeline
    from model_tools.runtime.devices import Device, check_device, list_devices
    from model_tools.runtime.images import load_image, preprocess


def load(
    model_dir: str | os.PathLike[str], precision: str = "fp16", device: str = "CPU", **options: Any
) -> BlipPipeline | ChatPipeline:
    """Verify and compile the converted model at `model_dir` with its family's pipeline.

    `options` go to that family's `load` (BLIP and chat: `hints`, `cache`, `exact`; see `blip.pipeline.load`,
    `chat.pipeline.load`).
    A folder of a family this version does not know is refused (`families.UnknownFamilyError`).
    runs in: any thread (compiling releases the GIL).
    """
    model = ConvertedModel.open(model_dir)
    pipeline: BlipPipeline | ChatPipeline = families.hook(model.spec.family, "pipeline").load(
        model.path, precision, device, **options
    )
    return pipeline


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


__all__ = [
    "Answer",
    "BlipPipeline",
    "Cancelled",
    "ChatPipeline",
    "ConversionError",
    "ConvertedModel",
    "CorruptModelError",
    "Device",
    "DeviceUnavailableError",
    "GenerationSettings",
    "GlimpseError",
    "ImageError",
    "Metrics",
    "ModelNotFoundError",
    "check_device",
    "list_devices",
    "load",
    "families",
    "load_image",
    "paths",
    "preprocess",
]
