"""Writing a file so that readers see the old or the new one, never half: the one atomic writer."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any


def atomic_write(path: str | os.PathLike[str], data: bytes | str) -> Path:
    """Write `data` (text as UTF-8) next to `path`, flush it to disk, then rename over `path`.

    The temporary name is unique per process and thread, so two writers never share one; it is removed if the
    write fails (full disk, permissions), and `path` is then left as it was.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    payload = data.encode("utf-8") if isinstance(data, str) else data
    try:
        with open(tmp, "wb") as fh:
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def atomic_write_json(path: str | os.PathLike[str], data: Any) -> Path:
    """`atomic_write` of `data` as indented UTF-8 JSON with a final newline."""
    return atomic_write(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")
