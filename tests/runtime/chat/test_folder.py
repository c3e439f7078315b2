"""A chat model folder is read and checked like a BLIP one: every listed file, every file VLMPipeline needs,
and a model type VLMPipeline can run."""

from __future__ import annotations

import json

import pytest

from model_tools.runtime import CorruptModelError, ModelNotFoundError, load
from model_tools.runtime.errors import ManifestError, UnsupportedModelError
from model_tools.runtime.manifest import Manifest
from model_tools.runtime.model_folder import ConvertedModel, file_record, required_files, write_json_atomic


def _manifest(folder):
    return json.loads((folder / "manifest.json").read_text(encoding="utf-8"))


def test_a_chat_manifest_has_its_own_section(tiny_chat_model):
    model = ConvertedModel.open(tiny_chat_model)
    spec = model.spec
    assert spec.family == "chat" and spec.task == "chat" and spec.blip is None
    assert spec.chat is not None and spec.chat.model_type == "llava"
    assert spec.chat.architecture == "LlavaForConditionalGeneration"
    assert spec.image.size == (32, 32)  # the chat section's picture settings
    assert model.precisions == ["fp16"] and model.family_precisions == ("fp16", "int8", "int4")
    assert not model.has("int4")
    with pytest.raises(ManifestError, match="is a chat model: it has no BLIP tokens"):
        spec.tokens  # noqa: B018
    assert set(spec.precisions["fp16"].files) == set(required_files("chat", "chat", "fp16"))
    model.verify("fp16")  # no BLIP tokenizer.json to load


def test_a_chat_manifest_needs_a_model_type_and_nothing_of_blip(tiny_chat_model):
    data = _manifest(tiny_chat_model)
    assert "task" not in data and "tokens" not in data
    del data["model_type"]
    with pytest.raises(ManifestError, match="model_type is missing"):
        Manifest.from_json(data, tiny_chat_model)
    data = {**_manifest(tiny_chat_model), "image": None}  # a downloaded model: no picture settings
    assert Manifest.from_json(data, tiny_chat_model).chat.image is None


def test_precisions_the_folder_does_not_have(tiny_chat_model):
    model = ConvertedModel.open(tiny_chat_model)
    with pytest.raises(ModelNotFoundError, match="has no INT4 version"):
        model.verify("int4")
    with pytest.raises(ValueError, match="choose one of fp16, int8, int4"):
        model.verify("int2")


@pytest.mark.parametrize(
    "rel", ["fp16/openvino_language_model.bin", "fp16/openvino_detokenizer.xml", "fp16/preprocessor_config.json"]
)
def test_a_missing_file_is_named(chat_copy, rel):
    (chat_copy / rel).unlink()
    with pytest.raises(CorruptModelError, match=f"is missing {rel}"):
        load(chat_copy)


def test_an_altered_file_is_named(chat_copy):
    load(chat_copy, exact=True)  # verified once: the checksum stamp is remembered
    path = chat_copy / "fp16" / "openvino_vision_embeddings_model.bin"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptModelError, match="fp16/openvino_vision_embeddings_model.bin does not match its checksum"):
        load(chat_copy)


def test_a_file_the_manifest_does_not_list_is_named(chat_copy):
    manifest = _manifest(chat_copy)
    del manifest["precisions"]["fp16"]["files"]["fp16/openvino_tokenizer.bin"]
    write_json_atomic(chat_copy / "manifest.json", manifest)
    with pytest.raises(CorruptModelError, match="does not list fp16/openvino_tokenizer.bin"):
        load(chat_copy)


def test_a_model_type_vlmpipeline_cannot_run_is_named(chat_copy):
    config = chat_copy / "fp16" / "config.json"
    config.write_text(json.dumps({**json.loads(config.read_text()), "model_type": "hologram_vlm"}))
    manifest = _manifest(chat_copy)
    manifest["model_type"] = "hologram_vlm"
    manifest["precisions"]["fp16"]["files"]["fp16/config.json"] = file_record(chat_copy, "fp16/config.json")
    write_json_atomic(chat_copy / "manifest.json", manifest)
    with pytest.raises(UnsupportedModelError) as info:
        load(chat_copy)
    assert "'hologram_vlm' model, which openvino-genai's VLMPipeline cannot run" in info.value.message
    assert "llava" in info.value.message and info.value.fix
