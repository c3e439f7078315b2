"""The kinds of model Glimpse runs, and where each one's code lives.

A family (`blip`, `chat`, `segment`) provides, each in its own module:

- pipeline: `load(model_dir, precision, device, **options)` returning the family's pipeline;
- convert: `convert(...)` from a Hugging Face model to a model folder whose manifest names the family;
- quantize: `quantize(...)` adding quantized precisions (int8/, for chat also int4/) to such a folder (None:
  the family has no quantizer yet);
- compare: `representative_inputs(model, precision, part)` for timing each part in Compare.

Modules are named here as text and imported only when asked for (`hook`), so the runtime never imports the
converters and quantizers, which need torch, transformers and nncf.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module
from pathlib import Path
from types import ModuleType

from model_tools.runtime.errors import GlimpseError

DEFAULT_FAMILY = "blip"  # manifests written before families had a name are BLIP models


@dataclass(frozen=True)
class Family:
    """Where one family's code lives: module names, imported on first use."""

    name: str
    pipeline: str
    convert: str
    quantize: str | None  # None: the family has no quantizer yet
    compare: str
    precisions: tuple[str, ...] = ("fp16", "int8")  # the precision folders a model of the family may have


FAMILIES = {
    "blip": Family(
        name="blip",
        pipeline="model_tools.runtime.blip.pipeline",
        convert="model_tools.convert.blip",
        quantize="model_tools.quantize.blip",
        compare="model_tools.runtime.blip.part_inputs",
    ),
    "chat": Family(
        name="chat",
        pipeline="model_tools.runtime.chat.pipeline",
        convert="model_tools.convert.chat",
        quantize="model_tools.quantize.chat",
        compare="model_tools.runtime.chat.part_inputs",
        precisions=("fp16", "int8", "int4"),
    ),
    "segment": Family(  # Segment Anything: the image encoder once per picture, the prompt decoder per click
        name="segment",
        pipeline="model_tools.runtime.segment.pipeline",
        convert="model_tools.convert.segment",
        quantize="model_tools.quantize.segment",  # an INT8 image encoder; the prompt decoder stays FP16
        compare="model_tools.runtime.segment.part_inputs",
        precisions=("fp16", "int8"),
    ),
}

HOOKS = ("pipeline", "convert", "quantize", "compare")


class MissingHookError(GlimpseError):
    """A family that does not provide one of the hooks yet."""


class UnknownFamilyError(GlimpseError):
    """A model folder made for a kind of model this version of Glimpse does not know."""


def family_of(name: str, folder: Path | None = None) -> Family:
    """The family called `name`; `UnknownFamilyError` (naming `folder`, if given) for one Glimpse cannot run."""
    family = FAMILIES.get(name)
    if family is None:
        what = f"{folder.name} is a {name!r} model" if folder is not None else f"{name!r} is a kind of model"
        known = ", ".join(sorted(FAMILIES))
        raise UnknownFamilyError(
            f"{what}, which this version of Glimpse cannot run (it knows {known}).",
            "Update Glimpse, or convert the model again with this version.",
        )
    return family


def hook(name: str, which: str) -> ModuleType:
    """The module of family `name` for `which` of `HOOKS` (e.g. `hook("blip", "pipeline").load(...)`)."""
    if which not in HOOKS:
        raise ValueError(f"Unknown family hook {which!r}; choose one of {', '.join(HOOKS)}.")
    module = getattr(family_of(name), which)
    if module is None:
        raise MissingHookError(
            f"Glimpse cannot {which} {name} models yet.", "Use the model's FP16 files; this comes in a later version."
        )
    return import_module(module)
