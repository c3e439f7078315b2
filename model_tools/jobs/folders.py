"""Folders that jobs build: made whole in a temporary sibling or not at all, and never over the user's files.

A lock beside the target keeps two jobs from building it at once; `remove_temporaries` tidies up after a job
whose process was killed.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from model_tools.runtime.errors import GlimpseError
from model_tools.runtime.model_folder import MANIFEST

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]


class TargetExistsError(GlimpseError):
    """A job's output folder is taken: by an earlier result, by the user's own files, or by a job running now."""


def is_model_folder(folder: Path) -> bool:
    """A Glimpse model folder (a real folder with our manifest): the only kind convert and import replace."""
    return folder.is_dir() and not folder.is_symlink() and (folder / MANIFEST).is_file()


def check_target(target: Path, *, replace: bool = False, model: bool = False) -> None:
    """Refuse to build `target` over something that exists, unless `replace`; a `model` target is replaced
    only if it is a Glimpse model folder, so the user's own files are never swapped away."""
    target = Path(target)
    if not (target.exists() or target.is_symlink()):
        return
    if not replace:
        raise TargetExistsError(f"{target} already exists.", "Choose another folder or allow overwriting.")
    if model and not is_model_folder(target):
        raise TargetExistsError(
            f"{target} is not a Glimpse model folder (it has no {MANIFEST}), so it is not replaced.",
            "Choose another folder: Glimpse replaces only the models it made.",
        )


@contextmanager
def atomic_folder(target: Path, *, replace: bool = False, model: bool = False) -> Iterator[Path]:
    """Build a folder in a temporary sibling, then rename it to `target`; on any error remove the temporary.

    With `replace`, an existing `target` is swapped out only once the new folder is complete (a `model`
    target only if it is a Glimpse model, see `check_target`). One job at a time builds `target` (a lock
    beside it); the leftovers of a killed earlier job go first, and a `target` that appeared while this one
    worked is checked again before the rename, so nothing is replaced silently.
    """
    target = Path(target)
    check_target(target, replace=replace, model=model)
    target.parent.mkdir(parents=True, exist_ok=True)
    with _building(target, wait_s=0):
        _remove_leftovers(target)
        check_target(target, replace=replace, model=model)
        tmp = target.with_name(f".{target.name}.tmp-{uuid.uuid4().hex[:8]}")
        tmp.mkdir()
        try:
            yield tmp
            check_target(target, replace=replace, model=model)
            if target.exists():
                old = target.with_name(f".{target.name}.old-{uuid.uuid4().hex[:8]}")
                os.replace(target, old)
                os.replace(tmp, target)
                shutil.rmtree(old, ignore_errors=True)
            else:
                os.replace(tmp, target)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)


@contextmanager
def _building(target: Path, wait_s: float) -> Iterator[None]:
    """Hold `.NAME.lock` beside `target` while building it; the system lets go of it when a process dies, so a
    killed job never blocks the next one. Raises `TargetExistsError` if another job holds it."""
    if fcntl is None:  # no flock (Windows): the checks around the rename still apply
        yield
        return
    lock = target.with_name(f".{target.name}.lock")
    deadline = time.monotonic() + wait_s
    while True:
        fd = os.open(lock, os.O_CREAT | os.O_RDWR, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            if time.monotonic() >= deadline:
                raise TargetExistsError(
                    f"Another Glimpse job is writing {target} right now.", "Wait for it to finish, or pick another folder."
                ) from None
            time.sleep(0.1)
            continue
        try:
            if os.fstat(fd).st_ino == os.stat(lock).st_ino:
                break  # ours; not a lock file the previous holder removed as we opened it
        except FileNotFoundError:
            pass
        os.close(fd)
    try:
        yield
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(lock)
        os.close(fd)


def is_disk_full(exc: BaseException) -> bool:
    """A write that failed for want of space: ENOSPC, or OpenVINO's serializer failing in a folder we just
    made ourselves (it reports only "basic_ios::clear: iostream error")."""
    if isinstance(exc, OSError):
        return exc.errno in (errno.ENOSPC, errno.EDQUOT)
    return isinstance(exc, RuntimeError) and "iostream error" in str(exc)


def remove_temporaries(target: Path) -> list[Path]:
    """Tidy up after an `atomic_folder(target)` whose process was killed mid-way; returns the folders removed.

    Its temporary siblings go; a previous version put aside for a swap comes back if `target` is missing.
    Nothing is touched while a job still builds `target` (its process has not ended yet).
    """
    target = Path(target)
    if not target.parent.is_dir():
        return []
    try:
        with _building(target, wait_s=1.0):
            return _remove_leftovers(target)
    except TargetExistsError:
        return []


def _remove_leftovers(target: Path) -> list[Path]:
    removed: list[Path] = []
    for folder in target.parent.glob(f".{target.name}.tmp-*"):
        shutil.rmtree(folder, ignore_errors=True)
        removed.append(folder)
    for folder in sorted(target.parent.glob(f".{target.name}.old-*")):
        if target.exists():
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
        else:
            os.replace(folder, target)
    return removed
