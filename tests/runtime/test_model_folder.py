"""The model check: checksums re-verified whenever a file may have changed, and messages that say what to do."""

from __future__ import annotations

import json
import os
import shutil

import pytest

from model_tools.runtime import CorruptModelError, load
from model_tools.runtime import model_folder as md
from model_tools.runtime.model_folder import ConvertedModel, file_record, write_json_atomic


def _alter_keeping_size_and_mtime(path):
    before = path.stat()
    data = bytearray(path.read_bytes())
    data[len(data) // 3] ^= 0xFF
    path.write_bytes(bytes(data))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = path.stat()
    assert (after.st_size, after.st_mtime_ns, after.st_ino) == (before.st_size, before.st_mtime_ns, before.st_ino)


def test_file_altered_after_a_verified_load_with_size_and_mtime_kept(model_copy, images):
    load(model_copy, hints={"*": "f32"}).ask(images[0], "what color is the circle?", max_new_tokens=2)
    path = model_copy / "fp16" / "text_decoder.bin"
    _alter_keeping_size_and_mtime(path)
    with pytest.raises(CorruptModelError, match="fp16/text_decoder.bin does not match its checksum"):
        load(model_copy, hints={"*": "f32"})


def test_file_replaced_by_another_with_size_and_mtime_kept(model_copy):
    ConvertedModel.open(model_copy).verify("fp16")
    path = model_copy / "fp16" / "vision_model.bin"
    before = path.stat()
    data = bytearray(path.read_bytes())
    data[-10] ^= 0x01
    replacement = path.with_name("new.bin")
    replacement.write_bytes(bytes(data))
    os.utime(replacement, ns=(before.st_atime_ns, before.st_mtime_ns))
    os.replace(replacement, path)  # as rsync or an unzip does: a new file (inode) under the old name
    assert path.stat().st_ino != before.st_ino
    with pytest.raises(CorruptModelError, match="fp16/vision_model.bin does not match its checksum"):
        ConvertedModel.open(model_copy).verify("fp16")


def test_unchanged_files_are_hashed_once(model_copy, monkeypatch):
    hashed: list[str] = []
    real = md.sha256_file

    def counting(path):
        hashed.append(path.name)
        return real(path)

    monkeypatch.setattr(md, "sha256_file", counting)
    ConvertedModel.open(model_copy).verify("fp16")
    assert "text_decoder.bin" in hashed and "tokenizer.json" in hashed
    hashed.clear()
    ConvertedModel.open(model_copy).verify("fp16")
    assert hashed == []
    (model_copy / "tokenizer.json").touch()  # a new mtime: checked again, and still good
    ConvertedModel.open(model_copy).verify("fp16")
    assert hashed == ["tokenizer.json"]


def _with_int8(folder):
    """`folder` with an int8/ precision (copies of the FP16 files, listed in the manifest as quantize does)."""
    manifest = json.loads((folder / "manifest.json").read_text())
    (folder / "int8").mkdir()
    files = {}
    for rel in manifest["precisions"]["fp16"]["files"]:
        irel = rel.replace("fp16/", "int8/")
        shutil.copyfile(folder / rel, folder / irel)
        files[irel] = file_record(folder, irel)
    manifest["precisions"]["int8"] = {"files": files, "made_by": "test"}
    write_json_atomic(folder / "manifest.json", manifest)
    return folder


def test_damaged_int8_file_says_quantize(model_copy):
    _with_int8(model_copy)
    ConvertedModel.open(model_copy).verify("int8")
    (model_copy / "int8" / "text_encoder.bin").unlink()
    with pytest.raises(CorruptModelError, match="missing int8/text_encoder.bin") as info:
        load(model_copy, "int8", hints={"*": "f32"})
    assert "Quantize it again" in info.value.fix and "Convert" not in str(info.value)
    (model_copy / "fp16" / "text_encoder.bin").unlink()
    with pytest.raises(CorruptModelError, match="missing fp16/text_encoder.bin") as info:
        load(model_copy, "fp16", hints={"*": "f32"})
    assert info.value.fix == "Convert the model again."


def test_precision_that_does_not_list_a_part_is_refused(model_copy):
    manifest = json.loads((model_copy / "manifest.json").read_text())
    del manifest["precisions"]["fp16"]["files"]["fp16/text_encoder.xml"]
    write_json_atomic(model_copy / "manifest.json", manifest)
    with pytest.raises(CorruptModelError, match="does not list fp16/text_encoder.xml"):
        load(model_copy, hints={"*": "f32"})
