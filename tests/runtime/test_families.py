"""The manifest names its family and `runtime.load` hands the folder to that family's pipeline."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from model_tools.runtime import GlimpseError, families, load
from model_tools.runtime.blip.pipeline import BlipPipeline
from model_tools.runtime.families import FAMILIES, HOOKS, UnknownFamilyError, family_of
from model_tools.runtime.model_folder import ConvertedModel, write_json_atomic

DEMOS = Path(__file__).resolve().parents[2] / "resources" / "models"


def _manifest(folder: Path) -> dict:
    return json.loads((folder / "manifest.json").read_text(encoding="utf-8"))


def _copy_with(source: Path, target: Path, **changes: object) -> Path:
    shutil.copytree(source, target)
    manifest = _manifest(target)
    for key, value in changes.items():
        if value is None:
            manifest.pop(key, None)
        else:
            manifest[key] = value
    write_json_atomic(target / "manifest.json", manifest)
    return target


@pytest.mark.parametrize("name", ["demo-shapes-vqa", "demo-shapes-caption"])
def test_the_shipped_demo_models_load_as_blip(name):
    folder = DEMOS / name
    assert "family" not in _manifest(folder)  # written before families: read as BLIP, not rewritten
    assert ConvertedModel.open(folder).spec.family == "blip"
    pipe = load(folder, "int8")
    assert isinstance(pipe, BlipPipeline) and pipe.task == _manifest(folder)["task"]


def test_converted_models_name_their_family(tiny_models):
    for folder in tiny_models.values():
        assert _manifest(folder)["family"] == "blip"
        assert ConvertedModel.open(folder).spec.family == "blip"


def test_an_old_manifest_without_family_loads_as_blip(tiny_models, tmp_path):
    folder = _copy_with(tiny_models["vqa"], tmp_path / "old", family=None)
    assert "family" not in _manifest(folder)
    pipe = load(folder, hints={"*": "f32"})
    assert isinstance(pipe, BlipPipeline) and pipe.model.spec.family == "blip"


def test_an_unknown_family_is_refused_with_a_fix(tiny_models, tmp_path):
    folder = _copy_with(tiny_models["vqa"], tmp_path / "future", family="hologram")
    with pytest.raises(UnknownFamilyError) as info:
        load(folder)
    assert isinstance(info.value, GlimpseError)
    assert info.value.message.startswith("future is a 'hologram' model, which this version of Glimpse cannot run")
    assert "blip" in info.value.message and "Update Glimpse" in info.value.fix
    with pytest.raises(UnknownFamilyError):
        ConvertedModel.open(folder)  # refused before the BLIP fields are read


def test_a_family_that_is_not_text_is_named(tiny_models, tmp_path):
    folder = _copy_with(tiny_models["vqa"], tmp_path / "odd", family=7)
    with pytest.raises(GlimpseError, match=r"odd/manifest.json: family should be text"):
        ConvertedModel.open(folder)


def test_every_family_names_modules_that_exist():
    """The hooks are module names, imported only on request: each one must import and hold its entry point."""
    entry = {"pipeline": "load", "convert": "convert", "quantize": "quantize", "compare": "representative_inputs"}
    for name, family in FAMILIES.items():
        for which in HOOKS:
            if getattr(family, which) is None:  # not provided yet (segment: quantize): a clear refusal
                with pytest.raises(families.MissingHookError, match=f"cannot {which} {name} models yet"):
                    families.hook(name, which)
                continue
            assert callable(getattr(families.hook(name, which), entry[which])), (name, which)
    assert [n for n, f in FAMILIES.items() if None in (f.pipeline, f.convert, f.compare)] == []
    with pytest.raises(UnknownFamilyError):
        family_of("hologram")
    with pytest.raises(ValueError, match="Unknown family hook"):
        families.hook("blip", "train")
