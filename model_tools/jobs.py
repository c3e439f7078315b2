"""What long jobs (download, convert, quantize, compare) report, and how they are stopped."""

from __future__ import annotations

import importlib.util
import os
import shutil
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from .runtime.errors import Cancelled


@dataclass(frozen=True)
class Progress:
    """One report: `done` of `total` `unit`s in `stage` (total 0: no count known)."""

    stage: str
    done: int = 0
    total: int = 0
    unit: str = "steps"
    message: str = ""


OnProgress = Callable[[Progress], None]


def report(on_progress: OnProgress | None, *args: object, **kwargs: object) -> None:
    if on_progress is not None:
        on_progress(Progress(*args, **kwargs))  # type: ignore[arg-type]


def check_cancel(cancel: threading.Event | None) -> None:
    """Raise `Cancelled` if the user asked to stop; call between steps of a long job."""
    if cancel is not None and cancel.is_set():
        raise Cancelled()


@contextmanager
def atomic_folder(target: Path, *, replace: bool = False) -> Iterator[Path]:
    """Build a folder in a temporary sibling, then rename it to `target`; on any error remove the temporary.

    With `replace`, an existing `target` is swapped out only once the new folder is complete.
    """
    target = Path(target)
    if target.exists() and not replace:
        raise FileExistsError(f"{target} already exists.")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp-{uuid.uuid4().hex[:8]}")
    tmp.mkdir()
    try:
        yield tmp
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


def remove_temporaries(target: Path) -> list[Path]:
    """Tidy up after an `atomic_folder(target)` whose process was killed mid-way; returns the folders removed.

    Its temporary siblings go; a previous version put aside for a swap comes back if `target` is missing.
    """
    target = Path(target)
    removed: list[Path] = []
    if not target.parent.is_dir():
        return removed
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


def disable_telemetry() -> None:
    """Keep OpenVINO's converter and NNCF from reporting usage to Google Analytics: Glimpse promises that
    nothing leaves the machine, and the processes they fork to send it outlive a job (and, offline, hang).

    Declines consent the way `opt_in_out --opt_out` does, for this process only, without writing the user's
    consent file. Call before converting or quantizing.
    """
    try:
        from openvino_telemetry.utils.opt_in_checker import ConsentCheckResult, OptInChecker
    except ImportError:
        return
    OptInChecker.check = lambda self, *args, **kwargs: ConsentCheckResult.DECLINED  # type: ignore[method-assign]


# What converting and quantizing need beyond the runtime: the `tools` extra, left out of the runtime bundle.
TOOLS_MODULES = ("torch", "transformers", "nncf", "safetensors", "huggingface_hub")
NO_TOOLS_FIX = (
    "Use the full Glimpse bundle, or install from source with the tools extra: pip install -e '.[tools]'."
)


def missing_tools() -> list[str]:
    """The conversion tools that are not installed here (none from source with the tools extra)."""
    return [name for name in TOOLS_MODULES if importlib.util.find_spec(name) is None]
