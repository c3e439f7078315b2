"""OpenVINO's compile cache, one folder per part file content and compile set-up (every family uses it)."""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any

from model_tools.runtime import paths
from model_tools.runtime.model_folder import ConvertedModel, part_file

log = logging.getLogger("glimpse.compile_cache")

_uncached_said: set[str] = set()


def cache_root() -> Path:
    """`<cache dir>/ov`, where the folders are (not made here)."""
    return paths.cache_path() / "ov"


def compile_cache_dir(
    model: ConvertedModel, precision: str, part: str | None, device: str, config: dict[str, Any], notes: list[str]
) -> Path | None:
    """OpenVINO's compile cache for one part's file content and compile set-up: `<cache dir>/ov/<sha256>`.

    `part=None`: one folder for every file of `precision` (a chat model, which VLMPipeline compiles whole).

    OpenVINO keys a model read from a path by the path and the .xml's mtime; a folder per content keeps a
    part replaced in place (new .bin, old .xml mtime) from running the old compiled weights. The device and
    config are in the key too: with OpenVINO 2026.4, a bf16 compile of a part whose f32 blob is in the same
    cache folder runs wrong (the demo model answered "" instead of "blue"; tests/runtime/test_precision.py).
    A cache folder that cannot be made means running without a cache (slower loads), said once in `notes`.
    """
    files = model.spec.precisions[precision].files
    digest = hashlib.sha256()
    if part is None:
        for rel in sorted(files):
            digest.update(f"{rel}:{files[rel].sha256};".encode())
    else:
        for ext in ("xml", "bin"):
            record = files.get(part_file(model.spec.family, precision, part, ext))
            digest.update((record.sha256 if record else "").encode())
    digest.update(json.dumps([device, config], sort_keys=True, default=str).encode())
    root = cache_root()
    folder = root / digest.hexdigest()[:32]
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".write-test-{os.getpid()}"
        probe.touch()
        probe.unlink()
        return folder
    except OSError as exc:
        if str(root) not in _uncached_said:
            _uncached_said.add(str(root))
            notes.append(
                f"Running without a compile cache (loads are slower): {root} cannot be written "
                f"({exc.strerror or exc})."
            )
            log.warning(notes[-1])
        return None
