"""The manifest is checked field by field: a bad one names the field and the folder, never a KeyError."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from model_tools.runtime import CorruptModelError, load
from model_tools.runtime.errors import ManifestError
from model_tools.runtime.manifest import Manifest
from model_tools.runtime.model_folder import ConvertedModel, file_record, write_json_atomic

DEMOS = Path(__file__).resolve().parents[2] / "resources" / "models"


def _manifest(folder: Path) -> dict:
    return json.loads((folder / "manifest.json").read_text(encoding="utf-8"))


def test_models_we_make_and_ship_parse(tiny_models):
    for folder in [*tiny_models.values(), DEMOS / "demo-shapes-vqa", DEMOS / "demo-shapes-caption"]:
        raw = _manifest(folder)
        spec = ConvertedModel.open(folder).spec
        assert spec.task == raw["task"] and spec.name == raw["name"]
        assert spec.text.layers == raw["text"]["layers"]
        assert spec.text.max_question_tokens == raw["text"]["max_question_tokens"]
        assert spec.tokens.decoder_start == raw["tokens"]["decoder_start"]
        assert list(spec.image.size) == raw["image"]["size"] and list(spec.image.std) == raw["image"]["std"]
        assert set(spec.precisions) == set(raw["precisions"])
        fp16 = raw["precisions"]["fp16"]["files"]
        assert {rel: (r.size, r.sha256) for rel, r in spec.precisions["fp16"].files.items()} == {
            rel: (r["size"], r["sha256"]) for rel, r in fp16.items()
        }
        assert spec.files["tokenizer.json"].size == (folder / "tokenizer.json").stat().st_size
    with pytest.raises(AttributeError):
        spec.task = "caption"  # type: ignore[misc]  # frozen


def test_manifest_without_text_section_is_named(model_copy):
    manifest = _manifest(model_copy)
    del manifest["text"]
    write_json_atomic(model_copy / "manifest.json", manifest)
    with pytest.raises(ManifestError) as info:
        load(model_copy, hints={"*": "f32"})
    assert str(info.value).startswith("copy/manifest.json: text is missing.")
    assert isinstance(info.value, CorruptModelError) and info.value.fix


def _drop(key: str):
    def edit(m):
        *path, last = key.split(".")
        for k in path:
            m = m[k]
        del m[last]

    return edit


def _set(key: str, value):
    def edit(m):
        *path, last = key.split(".")
        for k in path:
            m = m[k]
        m[last] = value

    return edit


def _add_file(rel: str, record):
    def edit(m):
        m["precisions"]["fp16"]["files"][rel] = record

    return edit


@pytest.mark.parametrize(
    ("edit", "field"),
    [
        (_drop("task"), "task is missing"),
        (_set("task", "detection"), "task should be one of vqa, caption"),
        (_drop("text.max_question_tokens"), "text.max_question_tokens is missing"),
        (_set("text.layers", "2"), "text.layers should be a whole number"),
        (_set("text.heads", 0), "text.heads should be a whole number of at least 1"),
        (_set("text.head_dim", True), "text.head_dim should be a whole number"),
        (_set("text", [2, 4]), "text should be a JSON object, not a list"),
        (_drop("tokens.end"), "tokens.end is missing"),
        (_set("tokens.decoder_start", 10**6), "tokens.decoder_start is 1000000, beyond the vocabulary"),
        (_set("image.size", [32]), "image.size should be a list of 2 positive whole numbers"),
        (_set("image.std", [0.2, 0.0, 0.2]), "image.std should be a list of 3 positive numbers"),
        (_set("image.mean", [0.5, "x", 0.5]), "image.mean should be a list of 3 numbers"),
        (_drop("image"), "image is missing"),
        (_drop("precisions"), "precisions is missing"),
        (_set("precisions.fp16", None), "precisions.fp16 should be a JSON object, not null"),
        (_drop("precisions.fp16.files"), "precisions.fp16.files is missing"),
        (_add_file("../../etc/passwd", {"size": 1, "sha256": "0" * 64}), "should be a path inside the model folder"),
        (_add_file("fp16/extra.bin", {"size": -1, "sha256": "0" * 64}), ".size should be a whole number of at least 0"),
        (_add_file("fp16/extra.bin", {"size": 1, "sha256": "zz"}), ".sha256 should be 64 hex digits"),
        (_set("files", {"tokenizer.json": {"size": 1}}), "files['tokenizer.json'].sha256 is missing"),
        (_set("name", 7), "name should be text, not int"),
    ],
)
def test_bad_field_is_named_with_the_folder(tiny_models, edit, field):
    folder = tiny_models["vqa"]
    data = copy.deepcopy(_manifest(folder))
    edit(data)
    with pytest.raises(ManifestError) as info:
        Manifest.from_json(data, folder)
    assert str(info.value).startswith(f"{folder.name}/manifest.json: ")
    assert field in str(info.value)


def test_manifest_that_is_not_an_object(model_copy):
    (model_copy / "manifest.json").write_text("[1, 2, 3]\n")
    with pytest.raises(ManifestError, match="copy/manifest.json should be a JSON object, not a list"):
        ConvertedModel.open(model_copy)


def test_other_format_version_says_so(model_copy):
    write_json_atomic(model_copy / "manifest.json", {**_manifest(model_copy), "format_version": 2})
    with pytest.raises(CorruptModelError, match="another version of Glimpse .format 2"):
        ConvertedModel.open(model_copy)


def test_tokenizer_that_is_json_but_not_a_tokenizer_is_a_damaged_model(model_copy):
    (model_copy / "tokenizer.json").write_text(json.dumps({"version": "1.0", "model": {"type": "nonsense"}}))
    manifest = _manifest(model_copy)
    manifest["files"]["tokenizer.json"] = file_record(model_copy, "tokenizer.json")  # checksum matches
    write_json_atomic(model_copy / "manifest.json", manifest)
    with pytest.raises(CorruptModelError, match="tokenizer.json is not a usable tokenizer.*damaged") as info:
        load(model_copy, hints={"*": "f32"})
    assert "\n" not in str(info.value)
    with pytest.raises(CorruptModelError, match="tokenizer.json"):
        ConvertedModel.open(model_copy).verify("fp16")  # the model check itself refuses it
