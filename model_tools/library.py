"""Installed models: the bundled demo models and those in the user's models folder."""

from __future__ import annotations

from pathlib import Path

from .runtime import paths
from .runtime.errors import GlimpseError, ModelNotFoundError
from .runtime.model_dir import MANIFEST, ConvertedModel

BUNDLED = paths.RESOURCES / "models"
DEMO_VQA = BUNDLED / "demo-shapes-vqa"
DEMO_CAPTION = BUNDLED / "demo-shapes-caption"
DEMO_NOTE = (
    "Demo model: a tiny BLIP trained on synthetic pictures of coloured shapes. It answers questions about "
    "circles, squares and triangles only. For real photos, convert Salesforce/blip-vqa-base or "
    "Salesforce/blip-image-captioning-base in Model Tools."
)


def installed() -> list[ConvertedModel]:
    """Every readable converted model: bundled ones first, then the user's, by name."""
    found: list[ConvertedModel] = []
    for root in (BUNDLED, paths.models_dir()):
        if not root.is_dir():
            continue
        for folder in sorted(p for p in root.iterdir() if (p / MANIFEST).is_file()):
            try:
                found.append(ConvertedModel.open(folder))
            except GlimpseError:
                continue
    return found


def default_model(task: str = "vqa") -> Path:
    """The model used when none is named: the bundled demo model for `task`."""
    folder = DEMO_VQA if task == "vqa" else DEMO_CAPTION
    if not (folder / MANIFEST).is_file():
        raise ModelNotFoundError("The bundled demo model is missing.", "Pass --model <folder>, or reinstall Glimpse.")
    return folder


def caption_partner(model: ConvertedModel) -> Path | None:
    """A captioning model to use for Describe with a VQA model (named in its manifest, e.g. the demo pair)."""
    if model.task == "caption":
        return model.path
    rel = model.manifest.get("caption_model")
    if rel and (model.path / rel / MANIFEST).is_file():
        return (model.path / rel).resolve()
    return None
