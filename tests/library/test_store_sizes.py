"""Sizes per model part, where each family keeps its files (Compare and Quantize report them)."""

from __future__ import annotations

from model_tools.library.store import component_sizes
from model_tools.runtime import ConvertedModel
from model_tools.runtime.model_folder import CHAT_PARTS, components


def test_a_chat_models_parts_are_sized_from_its_openvino_files(tiny_chat_model):
    model = ConvertedModel.open(tiny_chat_model)
    sizes = component_sizes(model, "fp16")
    assert list(sizes) == [*CHAT_PARTS, "total"]
    for part in CHAT_PARTS:
        files = [tiny_chat_model / "fp16" / f"openvino_{part}.{ext}" for ext in ("xml", "bin")]
        assert sizes[part] == sum(f.stat().st_size for f in files) > 0
    assert sizes["total"] == sum(sizes[p] for p in CHAT_PARTS)
    # The tokenizers and configs are files of the folder, not parts of the model.
    assert sizes["total"] < model.size_on_disk()


def test_a_blip_models_parts_are_sized_as_before(tiny_models):
    model = ConvertedModel.open(tiny_models["vqa"])
    sizes = component_sizes(model, "fp16")
    parts = components("vqa")
    assert list(sizes) == [*parts, "total"]
    for part in parts:
        files = [tiny_models["vqa"] / "fp16" / f"{part}.{ext}" for ext in ("xml", "bin")]
        assert sizes[part] == sum(f.stat().st_size for f in files) > 0
    assert sizes["total"] == sum(sizes[p] for p in parts)
