"""The precision hint is measured once per part, remembered, and overridable."""

from __future__ import annotations

import json
import shutil

import pytest

from model_tools.runtime import load, paths, tuning
from model_tools.runtime.devices import core
from model_tools.runtime.model_dir import ConvertedModel, components

TWO = ["f32", "bf16"]  # forced candidates: on a CPU without BF16 OpenVINO runs bf16 as f32, which still times


@pytest.fixture()
def model(tiny_models, tmp_path):
    """A private copy: the tuning cache is keyed by path, so tests do not see each other's choices."""
    folder = shutil.copytree(tiny_models["vqa"], tmp_path / "vqa")
    return ConvertedModel.open(folder)


@pytest.fixture(autouse=True)
def _no_env(monkeypatch):
    monkeypatch.delenv(tuning.ENV_VAR, raising=False)


def test_candidates_follow_device_capabilities():
    caps = core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    found = tuning.candidate_hints("CPU")
    assert found[0] == "f32"
    assert ("bf16" in found) == ("BF16" in caps)
    assert tuning.candidate_hints("AUTO") == []


def test_measures_once_then_reads_the_cache(model, monkeypatch):
    first = tuning.choose_hint(model, "fp16", "CPU", "vision_model", candidates=TWO)
    assert first.source == "measured"
    assert first.hint in TWO
    assert set(first.timings_ms) == set(TWO) and all(v > 0 for v in first.timings_ms.values())
    stored = json.loads((paths.cache_dir() / tuning.CACHE_FILE).read_text())
    assert any(k.startswith(str(model.path.resolve())) for k in stored["choices"])

    def no_measuring(*args, **kwargs):
        raise AssertionError("measured again although the choice was cached")

    monkeypatch.setattr(tuning, "measure", no_measuring)
    again = tuning.choose_hint(model, "fp16", "CPU", "vision_model", candidates=TWO)
    assert (again.source, again.hint) == ("cached", first.hint)


def test_every_part_has_representative_inputs_that_run(model):
    for part in components(model.task):
        timings = tuning.measure(model, "fp16", "CPU", part, ["f32"], min_runs=1, max_runs=1)
        assert timings["f32"] > 0


def test_pick_prefers_f32_unless_clearly_slower():
    assert tuning.pick({"f32": 10.0, "bf16": 9.8}) == "f32"  # within the margin
    assert tuning.pick({"f32": 10.0, "bf16": 7.0}) == "bf16"
    assert tuning.pick({"f32": 7.0, "bf16": 10.0}) == "f32"


def test_fastest_hint_is_chosen(model, monkeypatch):
    monkeypatch.setattr(tuning, "measure", lambda *a, **k: {"f32": 30.0, "bf16": 10.0})
    assert tuning.choose_hint(model, "fp16", "CPU", "text_decoder", candidates=TWO).hint == "bf16"
    monkeypatch.setattr(tuning, "measure", lambda *a, **k: {"f32": 10.0, "bf16": 30.0})
    assert tuning.choose_hint(model, "fp16", "CPU", "text_encoder", candidates=TWO).hint == "f32"


def test_key_changes_with_the_file_checksum(model):
    key = tuning.cache_key(model, "fp16", "vision_model", "CPU")
    model.manifest["precisions"]["fp16"]["files"]["fp16/vision_model.bin"]["sha256"] = "0" * 64
    assert tuning.cache_key(model, "fp16", "vision_model", "CPU") != key
    assert tuning.cache_key(model, "fp16", "text_decoder", "CPU") != key


def test_environment_overrides_measurement(model, monkeypatch):
    monkeypatch.setattr(tuning, "measure", lambda *a, **k: pytest.fail("should not measure"))
    monkeypatch.setenv(tuning.ENV_VAR, "bf16")
    assert tuning.choose_hint(model, "fp16", "CPU", "vision_model", candidates=TWO).hint == "bf16"
    monkeypatch.setenv(tuning.ENV_VAR, "default")
    assert tuning.choose_hint(model, "fp16", "CPU", "vision_model", candidates=TWO).hint is None


def test_bad_environment_value_is_ignored(model, monkeypatch, caplog):
    monkeypatch.setenv(tuning.ENV_VAR, "fp64")
    monkeypatch.setattr(tuning, "measure", lambda *a, **k: {"f32": 1.0, "bf16": 2.0})
    with caplog.at_level("WARNING", logger="glimpse.tuning"):
        choice = tuning.choose_hint(model, "fp16", "CPU", "vision_model", candidates=TWO)
    assert choice.hint == "f32"
    assert "fp64" in caplog.text


def test_load_uses_tuning_and_the_hints_argument_wins(model, monkeypatch):
    pipe = load(model.path, hints={"*": "f32"})
    assert set(pipe.hints.values()) == {"f32"}
    monkeypatch.setenv(tuning.ENV_VAR, "bf16")
    pipe = load(model.path, hints={"vision_model": "f32"})
    assert pipe.hints["vision_model"] == "f32"
    assert pipe.hints["text_decoder"] == "bf16"  # no hint given for it: the environment decides


def test_load_without_hints_gets_a_measured_or_only_hint(model):
    pipe = load(model.path)
    expected = tuning.candidate_hints("CPU")
    assert set(pipe.hints) == set(components(model.task))
    assert all(h in expected for h in pipe.hints.values())


def test_int8_part_slower_than_fp16_runs_the_fp16_file(tiny_models, tmp_path):
    """INT8 is never slower than FP16: a part whose INT8 file is slower here runs its FP16 file instead."""
    import json
    import shutil

    from model_tools.runtime import load
    from model_tools.runtime.model_dir import file_record, write_json_atomic

    folder = tmp_path / "model"
    shutil.copytree(tiny_models["caption"], folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    (folder / "int8").mkdir()
    files = {}
    for rel in manifest["precisions"]["fp16"]["files"]:
        shutil.copyfile(folder / rel, folder / rel.replace("fp16/", "int8/"))
    # A deliberately slow "INT8" vision model: same sizes, 24 layers instead of 2.
    from model_tools.convert import convert
    from model_tools.tiny import make_tiny_blip
    from tests.conftest import TINY_SEED, TINY_STD

    deep = make_tiny_blip(tmp_path / "deep-hf", "caption", std=TINY_STD, seed=TINY_SEED, vision_layers=24)
    deep_ir = convert(deep, tmp_path / "deep")
    for ext in ("xml", "bin"):
        shutil.copyfile(deep_ir / "fp16" / f"vision_model.{ext}", folder / "int8" / f"vision_model.{ext}")
    for rel in manifest["precisions"]["fp16"]["files"]:
        irel = rel.replace("fp16/", "int8/")
        files[irel] = file_record(folder, irel)
    manifest["precisions"]["int8"] = {"files": files, "made_by": "test"}
    write_json_atomic(folder / "manifest.json", manifest)

    pipe = load(folder, "int8")
    assert pipe.sources["text_decoder"] in ("int8", "fp16")
    assert pipe.sources["vision_model"] == "fp16"
    pinned = load(folder, "int8", hints={"*": "f32"})
    assert set(pinned.sources.values()) == {"int8"}
