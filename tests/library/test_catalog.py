"""`model_tools.library.catalog`: every entry is well formed, its id is one the hub and the converter take, its
task is one the BLIP family converts and runs, and `find` finds it."""

from __future__ import annotations

import re

import pytest
from huggingface_hub.utils import validate_repo_id

from model_tools.library import store
from model_tools.library.catalog import CATALOG, find
from model_tools.runtime import families
from model_tools.runtime.manifest import TASKS
from model_tools.runtime.model_folder import components

ENTRIES = pytest.mark.parametrize("entry", CATALOG, ids=[e.repo_id for e in CATALOG])


def test_the_catalog_lists_both_tasks_without_repeats():
    assert {e.task for e in CATALOG} == set(TASKS)
    assert len({e.repo_id.lower() for e in CATALOG}) == len(CATALOG)
    assert len({e.folder_name for e in CATALOG}) == len(CATALOG), "two entries would install into one folder"
    assert len({e.title for e in CATALOG}) == len(CATALOG)


@ENTRIES
def test_an_entry_is_well_formed(entry):
    validate_repo_id(entry.repo_id)  # raises for what the hub would refuse
    assert re.fullmatch(r"[\w.-]+/[\w.-]+", entry.repo_id)
    assert entry.folder_name == entry.repo_id.split("/")[1] and not entry.folder_name.startswith(".")
    assert entry.title.startswith("BLIP ") and entry.description.endswith(".")
    assert isinstance(entry.download_mb, int) and 100 < entry.download_mb < 10_000


@ENTRIES
def test_an_entry_says_the_task_its_name_says(entry):
    name = entry.folder_name
    assert entry.task == ("vqa" if "-vqa-" in name else "caption" if "-captioning-" in name else None)


@ENTRIES
def test_the_blip_family_converts_and_runs_the_entry_task(entry):
    convert = families.hook("blip", "convert")
    assert entry.task in convert.ARCHITECTURES.values()
    assert entry.task in TASKS and components(entry.task)


@ENTRIES
def test_find_takes_the_id_in_any_case(entry):
    assert find(entry.repo_id) is entry
    assert find(entry.repo_id.upper()) is entry


def test_find_returns_none_for_a_model_not_listed():
    assert find("Salesforce/blip-itm-base-coco") is None
    assert find("blip-vqa-base") is None  # the folder name is not the id


def test_a_large_model_is_a_bigger_download_than_its_base_sibling():
    sizes = {e.repo_id: e.download_mb for e in CATALOG}
    for repo_id, size in sizes.items():
        base = repo_id.replace("-capfilt-large", "-base").replace("-large", "-base")
        if base != repo_id:
            assert size > sizes[base], repo_id


def test_the_models_the_demo_note_suggests_are_in_the_catalog():
    named = re.findall(r"\b[\w-]+/[\w.-]*\w", store.DEMO_NOTE)
    assert named and all(find(repo_id) is not None for repo_id in named), named


@ENTRIES
def test_the_converter_fetches_an_entry_from_the_hub_by_its_id(entry, local_hub):
    """An entry's id goes to the hub as it is (it does not look like a local path to the converter)."""
    from model_tools.convert.common import source_folder

    local_hub.publish(entry.repo_id, {"config.json": b"{}", "model.safetensors": b"weights"})
    folder = source_folder(entry.repo_id)
    assert (folder / "model.safetensors").read_bytes() == b"weights"
    assert local_hub.cache in folder.parents

