"""How a model takes pictures, in words a user can check: at one fixed size, or at their own size up to a limit
the user may lower (`fit`). Users of other apps complain that pictures are shrunk without a word.

    image_input(model, "int4")   # ImageInput(fixed=(336, 336), words="336 × 336 pixels, centre-cropped ...")
    fit(picture, 768)            # at most 768 pixels on its longer side, never enlarged

BLIP and LLaVA scale every picture to the square their vision tower was trained on; VLMPipeline's dynamic
models (Qwen2-VL, LLaVA-NeXT, InternVL, MiniCPM-V, Phi-3 vision...) cut a picture into tiles or patches at
about its own size, so a smaller picture is fewer image tokens: quicker, with less detail.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from model_tools.runtime.model_folder import ConvertedModel

if TYPE_CHECKING:
    from PIL import Image

FIXED_TYPES = ("llava", "gemma3")  # chat model types whose processor scales every picture to one size
SIDES = (1536, 1024, 768, 512)  # the limits the window offers for a dynamic model (besides full size)


@dataclass(frozen=True)
class ImageInput:
    """What the model does with a picture: `fixed` (width, height) it scales every picture to, or None
    (it takes pictures at about their own size, up to the limit `words` names)."""

    fixed: tuple[int, int] | None
    words: str

    @property
    def adjustable(self) -> bool:
        """A limit on the picture size changes what the model sees (and how quickly it answers)."""
        return self.fixed is None

    @property
    def short(self) -> str:
        """A few words for a narrow place: "336 × 336 (fixed)" or "Full size"; `words` says the rest."""
        return f"{self.fixed[0]} × {self.fixed[1]} (fixed)" if self.fixed else "Full size"


def image_input(model: ConvertedModel, precision: str) -> ImageInput:
    """How `model` (its `precision` folder, for a chat model) takes pictures, from its manifest or its
    preprocessor_config.json. runs in: any thread (reads one small file)."""
    if model.spec.family == "blip":
        height, width = model.spec.image.size
        return ImageInput((width, height), f"{width} × {height} pixels: every picture is scaled to this size.")
    model_type = model.spec.chat.model_type if model.spec.chat else ""
    config = _read(model, f"{precision}/preprocessor_config.json")
    if model_type in FIXED_TYPES:
        return _fixed(config)
    return ImageInput(None, _limit_words(model_type, config))


def fit(picture: Image.Image, side: int | None) -> Image.Image:
    """`picture` at most `side` pixels on its longer side (aspect kept, bicubic), never enlarged."""
    if not side or max(picture.size) <= side:
        return picture
    from PIL import Image  # here: the window imports this module before pillow is needed
    scale = side / max(picture.size)
    size = (max(1, round(picture.width * scale)), max(1, round(picture.height * scale)))
    return picture.resize(size, Image.Resampling.BICUBIC)


def _read(model: ConvertedModel, rel: str) -> dict[str, Any]:
    try:
        data = json.loads((model.path / rel).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _fixed(config: dict[str, Any]) -> ImageInput:
    crop = config.get("crop_size") if config.get("do_center_crop") else None
    size = crop or config.get("size") or {}
    if isinstance(size, dict) and "height" in size and "width" in size:
        width, height = int(size["width"]), int(size["height"])
    elif isinstance(size, dict) and "shortest_edge" in size:
        width = height = int(size["shortest_edge"])
    else:
        width = height = 336  # CLIP-L/336, LLaVA-1.5's tower, when the config does not say
    how = "scaled and centre-cropped" if crop else "scaled"
    return ImageInput((width, height), f"{width} × {height} pixels, fixed by the model: every picture is {how} to this size.")


def _limit_words(model_type: str, config: dict[str, Any]) -> str:
    """The model's own limit, where its processor config states one."""
    if config.get("max_pixels"):
        mp = int(config["max_pixels"]) / 1e6
        return f"About its own size, up to {mp:.1f} megapixels: larger pictures give more image tokens."
    pinpoints = config.get("image_grid_pinpoints")
    if isinstance(pinpoints, list) and pinpoints:
        w, h = max((tuple(p) for p in pinpoints), key=lambda p: p[0] * p[1])
        return f"In tiles, up to {w} × {h} pixels: larger pictures give more image tokens."
    return f"About its own size ({model_type or 'this model'} tiles it): larger pictures give more image tokens."
