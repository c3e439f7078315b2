"""`installed()` keeps parsed manifests only while their files stay the same: a replaced manifest is read again,
a removed model leaves the list."""

from __future__ import annotations

import json
import shutil

from model_tools.library import store
from model_tools.runtime.model_folder import MANIFEST, write_json_atomic


def test_a_replaced_manifest_is_read_again_and_a_removed_model_goes(tiny_models, tmp_path, monkeypatch):
    monkeypatch.setenv("GLIMPSE_MODELS_DIR", str(tmp_path / "models"))
    folder = shutil.copytree(tiny_models["vqa"], tmp_path / "models" / "tiny")
    first = [m for m in store.installed() if m.path == folder]
    assert len(first) == 1
    manifest = json.loads((folder / MANIFEST).read_text())
    manifest["name"] = "renamed-tiny"
    write_json_atomic(folder / MANIFEST, manifest)
    again = [m for m in store.installed() if m.path == folder]
    assert [m.name for m in again] == ["renamed-tiny"]
    shutil.rmtree(folder)
    assert not [m for m in store.installed() if m.path == folder]
