"""Importing and deleting models: an installed model is not copied twice, and only Glimpse model folders are
ever removed or written over."""

from __future__ import annotations

import shutil

import pytest

from model_tools.jobs.requests import ImportRequest
from model_tools.library import store as library
from model_tools.runtime import ConvertedModel, GlimpseError


@pytest.fixture
def models(tmp_path, monkeypatch):
    folder = tmp_path / "models"
    monkeypatch.setenv("GLIMPSE_MODELS_DIR", str(folder))
    return folder


def names(models_dir) -> list[str]:
    return sorted(p.name for p in models_dir.iterdir())


def test_the_bundled_demo_is_not_imported_again(models):
    assert library.DEMO_VQA.is_dir(), "the bundled demo model ships in resources/models"
    before = [m.name for m in library.installed()]
    with pytest.raises(GlimpseError, match="already installed as demo-shapes-vqa .it ships with Glimpse"):
        library.import_converted(ImportRequest(library.DEMO_VQA))
    with pytest.raises(GlimpseError, match="already installed"):
        library.import_converted(ImportRequest(library.DEMO_VQA, "my-demo"))  # another name: still the same model
    assert names(models) == []
    assert [m.name for m in library.installed()] == before


def test_a_copy_of_an_installed_model_is_recognised(models, tiny_models, tmp_path):
    first = library.import_converted(ImportRequest(tiny_models["caption"], "first"))
    elsewhere = shutil.copytree(tiny_models["caption"], tmp_path / "backup" / "caption")  # same files, new place
    with pytest.raises(GlimpseError, match=f"already installed as first .in {first.path}"):
        library.import_converted(ImportRequest(elsewhere, "second"))
    with pytest.raises(GlimpseError, match="already installed as first"):
        library.import_converted(ImportRequest(first.path))  # the installed folder itself
    assert names(models) == ["first"]
    # A different model (other files) still imports.
    other = library.import_converted(ImportRequest(tiny_models["vqa"], "other"))
    assert other.task == "vqa" and names(models) == ["first", "other"]


def test_delete_removes_only_a_glimpse_model(models, tiny_models):
    model = ConvertedModel.open(library.import_converted(ImportRequest(tiny_models["caption"], "tiny")).path)
    # Since it was listed, the folder was replaced by the user's own files.
    shutil.rmtree(model.path)
    model.path.mkdir()
    (model.path / "thesis.txt").write_text("four years of work", encoding="utf-8")
    with pytest.raises(GlimpseError, match="no longer a Glimpse model folder"):
        library.delete(model)
    assert [p.name for p in model.path.iterdir()] == ["thesis.txt"]
    assert names(models) == ["tiny"]


def test_delete_still_deletes_a_model(models, tiny_models):
    model = library.import_converted(ImportRequest(tiny_models["caption"], "tiny"))
    library.delete(ConvertedModel.open(model.path))
    assert names(models) == []


def test_import_over_a_folder_is_refused(models, tiny_models):
    (models / "tiny").mkdir(parents=True)
    (models / "tiny" / "thesis.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(GlimpseError, match="already installed"):
        library.import_converted(ImportRequest(tiny_models["caption"], "tiny"))
    assert [p.name for p in (models / "tiny").iterdir()] == ["thesis.txt"]
