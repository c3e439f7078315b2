"""Model Tools' Convert and Models pages with real widgets: the bundled demo is not imported a second time, and
the user's own folder in the models folder is never replaced or deleted."""

from __future__ import annotations

import shutil

import pytest

from desktop_app.tools_panel.job_host import Job
from model_tools.jobs.requests import ConvertRequest
from model_tools.library import store as library
from model_tools.runtime import ConvertedModel
from tests.desktop_app.conftest import JobEvents as Events

pytestmark = pytest.mark.usefixtures("private_models")



def users_folder(path):
    path.mkdir(parents=True)
    (path / "thesis.txt").write_text("four years of work", encoding="utf-8")
    return path


def model_names(page) -> list[str]:
    return [page.installed.topLevelItem(i).text(0) for i in range(page.installed.topLevelItemCount())]


def test_importing_the_bundled_demo_says_it_is_installed(qtbot, tools, private_models):
    page = tools.show_page("models")
    before = model_names(page)
    assert before.count("demo-shapes-vqa") == 1
    events = Events(tools.runner)
    assert page.import_converted(library.DEMO_VQA) is False
    assert "already installed as demo-shapes-vqa (it ships with Glimpse)" in page.notice.text()
    assert page.notice.isVisible()
    assert events.items == [] and not tools.runner.busy, "no job started"
    page.refresh()
    assert model_names(page) == before
    assert not private_models.exists() or list(private_models.iterdir()) == []


def test_importing_a_model_twice_under_another_name(qtbot, tools, tiny_models, private_models):
    page = tools.show_page("models")
    events = Events(tools.runner)
    assert page.import_converted(tiny_models["caption"], "tiny-caption")
    assert events.wait(qtbot)[0] == "finished"
    assert page.import_converted(tiny_models["caption"], "tiny-caption-2") is False
    assert "already installed as tiny-caption" in page.notice.text()
    assert [p.name for p in private_models.iterdir()] == ["tiny-caption"]


def test_convert_with_replace_leaves_the_users_folder_alone(qtbot, tools, tiny_hf, private_models):
    thesis = users_folder(private_models / "thesis")
    page = tools.show_page("convert")
    assert page.convert(tiny_hf["caption"], "thesis", overwrite=True) is False
    assert "is not a Glimpse model, so it is not replaced" in page.notice.text()
    assert not tools.runner.busy
    assert [p.name for p in thesis.iterdir()] == ["thesis.txt"]


def test_a_job_that_gets_past_the_page_is_refused_by_the_converter(qtbot, tools, tiny_hf, private_models):
    """The folder appeared after the page looked (another program made it): the job itself refuses."""
    out = users_folder(private_models / "late")
    page = tools.show_page("convert")
    events = Events(tools.runner)
    job = Job(ConvertRequest(str(tiny_hf["caption"]), out, overwrite=True), "late", "convert")
    assert page.start(job)
    end = events.wait(qtbot)
    assert end[0] == "failed" and "not a Glimpse model folder" in str(end[2])
    assert [p.name for p in out.iterdir()] == ["thesis.txt"]
    assert [p.name for p in private_models.iterdir()] == ["late"]


def test_delete_keeps_a_folder_that_is_no_longer_a_model(qtbot, tools, tiny_models, private_models):
    path = shutil.copytree(tiny_models["caption"], private_models / "tiny")
    page = tools.show_page("models")
    page.refresh()
    model = ConvertedModel.open(path)
    (path / "manifest.json").unlink()  # replaced by the user's files after it was listed
    (path / "thesis.txt").write_text("mine", encoding="utf-8")
    events = Events(tools.runner)
    assert page.delete(model)
    end = events.wait(qtbot)
    assert end[0] == "failed" and "no longer a Glimpse model folder" in str(end[2])
    assert (path / "thesis.txt").read_text(encoding="utf-8") == "mine"
