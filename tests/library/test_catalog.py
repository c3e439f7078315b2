"""`model_tools.library.catalog`: every entry is well formed, its id is one the hub and the converter take, its
task is one its family converts and runs, and `find` finds it. The BLIP entries are checked as before; the chat
entries (LLaVA checkpoints and ready OpenVINO models) by their own rules below."""

from __future__ import annotations

import re

import pytest
from huggingface_hub.utils import validate_repo_id

from model_tools.library import store
from model_tools.library.catalog import CATALOG as ALL_ENTRIES
from model_tools.library.catalog import find, memory_warning
from model_tools.runtime import families
from model_tools.runtime.manifest import TASKS
from model_tools.runtime.model_folder import components

CATALOG = [e for e in ALL_ENTRIES if e.family == "blip"]
CHAT = [e for e in ALL_ENTRIES if e.family == "chat"]
ENTRIES = pytest.mark.parametrize("entry", CATALOG, ids=[e.repo_id for e in CATALOG])
CHAT_ENTRIES = pytest.mark.parametrize("entry", CHAT, ids=[e.repo_id for e in CHAT])


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



def test_the_catalog_has_both_families_and_no_id_twice():
    assert {e.family for e in ALL_ENTRIES} == {"blip", "chat"}
    assert len({e.repo_id.lower() for e in ALL_ENTRIES}) == len(ALL_ENTRIES)
    assert len({e.title for e in ALL_ENTRIES}) == len(ALL_ENTRIES)
    assert not {e.folder_name for e in CATALOG} & {e.folder_name for e in CHAT}


@CHAT_ENTRIES
def test_a_chat_entry_is_well_formed(entry):
    validate_repo_id(entry.repo_id)
    assert entry.task == "chat" and entry.description.endswith(".")
    assert isinstance(entry.download_mb, int) and 100 < entry.download_mb < 20_000
    assert entry.needs_mb >= entry.download_mb
    if entry.ready:  # OpenVINO/<model>-<precision>-ov: the precision and shared folder come from the name
        owner, name = entry.repo_id.split("/")
        assert owner == "OpenVINO" and name == f"{entry.folder_name}-{entry.precision}-ov"
        assert entry.precision in ("fp16", "int8", "int4") and entry.precision.upper() in entry.title
    else:
        assert entry.repo_id.startswith("llava-hf/") and entry.folder_name == entry.repo_id.split("/")[1]


def test_variants_of_one_ready_model_share_its_folder_and_shrink_with_precision():
    by_model: dict[str, dict[str, int]] = {}
    for e in CHAT:
        if e.ready:
            by_model.setdefault(e.folder_name, {})[e.precision] = e.download_mb
    assert by_model and any(len(v) == 3 for v in by_model.values())
    for sizes in by_model.values():
        ordered = [sizes[p] for p in ("int4", "int8", "fp16") if p in sizes]
        assert ordered == sorted(ordered), sizes


def test_a_model_too_big_for_the_machine_is_flagged_before_download():
    big = find("llava-hf/llava-1.5-7b-hf")
    small = find("OpenVINO/InternVL2-1B-int4-ov")
    assert big is not None and small is not None
    warning = memory_warning(big, total_mb=24_000)
    assert warning is not None and "30 GB" in warning and "24 GB" in warning and "converting" in warning
    assert memory_warning(small, total_mb=24_000) is None
    assert "running" in (memory_warning(small, total_mb=1_000) or "")
