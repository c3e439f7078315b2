"""Inference with converted BLIP models on OpenVINO.

Imports only openvino, numpy, pillow, tokenizers, platformdirs and the standard library, so the app starts fast.

    pipe = load("models/blip-vqa-base", precision="int8", device="CPU")
    answer = pipe.ask("photo.jpg", "what is the dog doing?", on_text=print)
"""

from .devices import Device, check_device, list_devices
from .errors import (
    Cancelled,
    ConversionError,
    CorruptModelError,
    DeviceUnavailableError,
    GlimpseError,
    ImageError,
    ModelNotFoundError,
)
from .images import load_image, preprocess
from .model_dir import ConvertedModel
from .pipeline import Answer, BlipPipeline, GenerationSettings, Metrics, load

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
    "preprocess",
]
