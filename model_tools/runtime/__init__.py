"""Inference with converted BLIP models on OpenVINO.

Imports only openvino, numpy, pillow, tokenizers, platformdirs and the standard library, so the app starts fast;
the first four only when a name that needs them is first used.

    pipe = load("models/blip-vqa-base", precision="int8", device="CPU")
    answer = pipe.ask("photo.jpg", "what is the dog doing?", on_text=print)
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

from . import paths
from .errors import (
    Cancelled,
    ConversionError,
    CorruptModelError,
    DeviceUnavailableError,
    GlimpseError,
    ImageError,
    ModelNotFoundError,
)
from .model_dir import ConvertedModel
from .privacy import disable_telemetry

disable_telemetry()  # before anything imports openvino: `import openvino` alone reports usage otherwise

# The rest loads on first use (PEP 562), so that `from model_tools.runtime import GlimpseError` does not pull
# in openvino, numpy and pillow: the window shows first, a worker then imports them while loading the model.
_LAZY = {
    "Device": "devices",
    "check_device": "devices",
    "list_devices": "devices",
    "load_image": "images",
    "preprocess": "images",
    "Answer": "pipeline",
    "BlipPipeline": "pipeline",
    "GenerationSettings": "pipeline",
    "Metrics": "pipeline",
    "load": "pipeline",
}

if TYPE_CHECKING:
    from .devices import Device, check_device, list_devices
    from .images import load_image, preprocess
    from .pipeline import Answer, BlipPipeline, GenerationSettings, Metrics, load


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
    "load_image",
    "paths",
    "preprocess",
]
