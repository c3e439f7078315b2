"""Converting never costs the user a file: only Glimpse model folders are replaced, a second job cannot swap
out the first, a target that appears meanwhile is kept, and checks come before anything is loaded."""

from __future__ import annotations

import errno
import shutil
import subprocess

import openvino
import pytest

from model_tools.convert.blip import convert
from model_tools.jobs.folders import TargetExistsError, atomic_folder, remove_temporaries
from model_tools.jobs.progress import Progress
from model_tools.jobs.requests import ConvertRequest
from model_tools.runtime import ConversionError, ConvertedModel


def users_folder(path):
    """A folder of the user's own files, where a model might be written by mistake."""
    path.mkdir(parents=True)
    (path / "thesis.txt").write_text("four years of work", encoding="utf-8")
    return path


def test_overwrite_replaces_only_a_glimpse_model(tiny_hf, tmp_path):
    thesis = users_folder(tmp_path / "thesis")
    with pytest.raises(TargetExistsError, match="not a Glimpse model folder"):
        convert(ConvertRequest(tiny_hf["caption"], thesis, overwrite=True))
    assert [p.name for p in thesis.iterdir()] == ["thesis.txt"]
    assert (thesis / "thesis.txt").read_text(encoding="utf-8") == "four years of work"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["thesis"], "nothing left beside it"


def test_overwrite_refuses_a_file_and_a_link(tiny_hf, tiny_models, tmp_path):
    note = tmp_path / "notes"
    note.write_text("mine", encoding="utf-8")
    with pytest.raises(TargetExistsError, match="not a Glimpse model folder"):
        convert(ConvertRequest(tiny_hf["caption"], note, overwrite=True))
    link = tmp_path / "link"
    link.symlink_to(tiny_models["caption"])  # the model itself is elsewhere: replacing it would follow the link
    with pytest.raises(TargetExistsError, match="not a Glimpse model folder"):
        convert(ConvertRequest(tiny_hf["caption"], link, overwrite=True))
    assert note.read_text(encoding="utf-8") == "mine" and link.is_symlink()


def test_existing_output_is_refused_before_loading_anything(tiny_hf, tmp_path):
    """A source that would fail to load (or download) is not even looked at when --out is taken."""
    broken = shutil.copytree(tiny_hf["vqa"], tmp_path / "broken")
    (broken / "model.safetensors").write_bytes(b"not weights")
    out = users_folder(tmp_path / "out")
    with pytest.raises(TargetExistsError, match="already exists"):
        convert(ConvertRequest(broken, out))
    with pytest.raises(TargetExistsError, match="not a Glimpse model folder"):
        convert(ConvertRequest(broken, out, overwrite=True))
    with pytest.raises(TargetExistsError, match="already exists"):
        convert(ConvertRequest("Salesforce/blip-vqa-base", out))  # offline in the tests: a download would fail instead
    # Without the folder in the way, the same source fails where it really fails.
    with pytest.raises(ConversionError, match="could not load"):
        convert(ConvertRequest(broken, tmp_path / "free"))


@pytest.mark.parametrize("source", ["/nonexistent/blip", "./models/blip", "~/no-such-folder/blip", "a/b/c"])
def test_a_missing_local_folder_is_named_as_such(tmp_path, source):
    with pytest.raises(ConversionError) as info:
        convert(ConvertRequest(source, tmp_path / "out"))
    assert "There is no folder" in info.value.message and "Repo id" not in str(info.value)
    assert not (tmp_path / "out").exists()


def test_a_name_that_is_neither_folder_nor_id(tmp_path):
    with pytest.raises(ConversionError, match="neither a folder here nor a Hugging Face id"):
        convert(ConvertRequest("blip vqa base", tmp_path / "out"))


def test_a_second_convert_into_the_same_folder_is_refused_while_the_first_runs(tiny_hf, tmp_path):
    out = tmp_path / "model"
    second: list[BaseException] = []

    def start_another(p: Progress) -> None:
        if p.stage == "text_decoder" and not second:
            try:
                convert(ConvertRequest(tiny_hf["caption"], out, name="second"))
            except TargetExistsError as exc:
                second.append(exc)

    convert(ConvertRequest(tiny_hf["vqa"], out, name="first"), on_progress=start_another)
    assert second and "Another Glimpse job is writing" in str(second[0])
    model = ConvertedModel.open(out)
    assert (model.name, model.task) == ("first", "vqa")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"], "no lock or temporary left"


@pytest.mark.parametrize("overwrite", [False, True])
def test_a_folder_that_appears_meanwhile_is_kept(tiny_hf, tmp_path, overwrite):
    """The user (or another program) creates --out while the conversion runs: the final rename refuses."""
    out = tmp_path / "model"

    def user_makes_the_folder(p: Progress) -> None:
        if p.stage == "text_decoder" and not out.exists():
            users_folder(out)

    with pytest.raises(TargetExistsError):
        convert(ConvertRequest(tiny_hf["caption"], out, overwrite=overwrite), on_progress=user_makes_the_folder)
    assert [p.name for p in out.iterdir()] == ["thesis.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


def test_leftovers_of_a_killed_run_go_with_the_next_one(tiny_hf, tmp_path):
    out = tmp_path / "model"
    left = tmp_path / ".model.tmp-0badf00d"  # what a SIGKILLed conversion leaves (see test_cli_convert)
    (left / "fp16").mkdir(parents=True)
    (left / "fp16" / "vision_model.bin").write_bytes(b"\0" * 4096)
    (tmp_path / ".model.lock").touch()
    other = tmp_path / ".other.tmp-12345678"  # another folder's: not ours to judge
    other.mkdir()
    convert(ConvertRequest(tiny_hf["caption"], out))
    assert sorted(p.name for p in tmp_path.iterdir()) == [".other.tmp-12345678", "model"]


def test_remove_temporaries_leaves_a_running_job_alone(tmp_path):
    target = tmp_path / "model"
    with atomic_folder(target) as tmp:
        (tmp / "half.bin").write_bytes(b"1")
        assert remove_temporaries(target) == []
        assert (tmp / "half.bin").is_file(), "the job still running keeps its temporary folder"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


def test_quantize_style_replace_still_swaps_a_plain_folder(tmp_path):
    """atomic_folder(replace=True) without model=True replaces what is there (int8/ inside a model folder)."""
    target = tmp_path / "int8"
    target.mkdir()
    (target / "old.bin").write_bytes(b"old")
    with atomic_folder(target, replace=True) as tmp:
        (tmp / "new.bin").write_bytes(b"new")
    assert [p.name for p in target.iterdir()] == ["new.bin"]


# -- a full disk -----------------------------------------------------------------------------------------------


def fail_like_a_full_disk(monkeypatch, exc: BaseException, after: int = 1) -> None:
    """OpenVINO's serializer on a full disk: it writes part of a file, then raises (here after `after` parts)."""
    real = openvino.save_model
    calls = [0]

    def save_model(model, path, *args, **kwargs):
        calls[0] += 1
        if calls[0] > after:
            with open(path, "wb") as fh:
                fh.write(b"<?xml")
            raise exc
        return real(model, path, *args, **kwargs)

    monkeypatch.setattr(openvino, "save_model", save_model)


OPENVINO_FULL_DISK = RuntimeError(
    "Exception from src/core/src/pass/serialize.cpp:1384:\nbasic_ios::clear: iostream error\n"
)


@pytest.mark.parametrize(
    "exc", [OPENVINO_FULL_DISK, OSError(errno.ENOSPC, "No space left on device")], ids=["openvino", "enospc"]
)
def test_a_full_disk_is_said_in_one_sentence(tiny_hf, tiny_models, tmp_path, monkeypatch, exc):
    fail_like_a_full_disk(monkeypatch, exc)
    out = tmp_path / "model"
    with pytest.raises(ConversionError) as info:
        convert(ConvertRequest(tiny_hf["vqa"], out))
    message = info.value.message
    assert message.startswith("Could not write the converted model: the disk is full (need about ")
    assert message.endswith(f" MB at {tmp_path}).")
    need_mb = int(message.split("need about ")[1].split(" MB")[0])
    real_mb = sum(p.stat().st_size for p in tiny_models["vqa"].rglob("*") if p.is_file()) / 1e6
    assert real_mb <= need_mb <= real_mb + 3, "an estimate a little above what the model takes"
    assert list(tmp_path.iterdir()) == [], "the half-written folder is gone"


def test_other_openvino_errors_are_not_called_a_full_disk(tiny_hf, tmp_path, monkeypatch):
    fail_like_a_full_disk(monkeypatch, RuntimeError("Exception from src/core: unsupported operation aten::foo"))
    with pytest.raises(RuntimeError, match="unsupported operation"):
        convert(ConvertRequest(tiny_hf["caption"], tmp_path / "model"))
    assert list(tmp_path.iterdir()) == []


def test_a_real_full_disk(tiny_hf, tmp_path):
    """On a 200 kB tmpfs (where this machine lets the tests mount one: root on Linux)."""
    mnt = tmp_path / "small"
    mnt.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=200k", "tmpfs", str(mnt)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (needs root); the monkeypatched full disks above stand in")
    try:
        with pytest.raises(ConversionError, match=rf"the disk is full \(need about \d+ MB at {mnt}\)"):
            convert(ConvertRequest(tiny_hf["vqa"], mnt / "model"))
        assert list(mnt.iterdir()) == []
    finally:
        subprocess.run(["umount", "--lazy", str(mnt)], check=True)  # OpenVINO may keep the failed file open

