"""A Hugging Face hub served from a local folder: stands in for huggingface_hub's `snapshot_download` and
`hf_hub_download`, the network boundary `model_tools.library.hub` uses. Everything above them runs for real.

Repositories are folders `root/owner/name`; the cache is laid out like the hub's (`models--owner--name/blobs`,
`snapshots/<commit>`). Files come in small chunks, each reported through the given `tqdm_class`'s `update()`,
and a partial file stays in the cache as `<file>.incomplete` (as the hub's resumable downloads do), so the
next attempt resumes from it. Each transfer is logged to `root/transfers.log` (see `transfers`).

Used in this process through the `local_hub` fixture (tests/conftest.py), or in a job process by patching
`huggingface_hub` there with `serve`.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from fnmatch import fnmatch
from pathlib import Path

COMMIT = "0123456789abcdef0123456789abcdef01234567"
CHUNK = 8192


class _NullBar:
    def __init__(self, *args, **kwargs) -> None: ...

    def update(self, n=1) -> None: ...


class FakeHub:
    """Repositories are folders under `root` (root/owner/name); `delay` seconds pass before each chunk."""

    def __init__(self, root: Path, cache: Path, delay: float = 0.0) -> None:
        self.root, self.cache, self.delay = Path(root), Path(cache), delay

    def publish(self, repo_id: str, files: dict[str, bytes]) -> Path:
        """Put a repository with these files on the hub; return its folder."""
        folder = self.root / repo_id
        folder.mkdir(parents=True, exist_ok=True)
        for name, data in files.items():
            (folder / name).write_bytes(data)
        return folder

    def _repo(self, repo_id: str) -> Path:
        from huggingface_hub.utils import validate_repo_id

        validate_repo_id(repo_id)  # the real functions check the id before going online
        folder = self.root / repo_id
        if not folder.is_dir():
            import httpx2
            from huggingface_hub.errors import RepositoryNotFoundError

            url = f"https://huggingface.co/api/models/{repo_id}"
            raise RepositoryNotFoundError(
                f"404 Client Error. Repository Not Found for url: {url}.",
                response=httpx2.Response(404, request=httpx2.Request("GET", url)),
            )
        return folder

    def _storage(self, repo_id: str) -> Path:
        return self.cache / f"models--{repo_id.replace('/', '--')}"

    def _files(self, repo_id: str, allow_patterns) -> list[Path]:
        folder = self._repo(repo_id)
        return [
            p
            for p in sorted(folder.iterdir())
            if p.is_file() and (not allow_patterns or any(fnmatch(p.name, pat) for pat in allow_patterns))
        ]

    def snapshot_download(self, repo_id, *, revision=None, allow_patterns=None, dry_run=False, **_kwargs):
        from huggingface_hub.errors import LocalEntryNotFoundError
        from huggingface_hub.file_download import DryRunFileInfo

        files = self._files(repo_id, allow_patterns)
        snapshot = self._storage(repo_id) / "snapshots" / COMMIT
        if dry_run:
            return [
                DryRunFileInfo(
                    commit_hash=COMMIT,
                    file_size=p.stat().st_size,
                    filename=p.name,
                    local_path=str(snapshot / p.name),
                    is_cached=(snapshot / p.name).is_file(),
                    will_download=not (snapshot / p.name).is_file(),
                )
                for p in files
            ]
        missing = [p.name for p in files if not (snapshot / p.name).is_file()]
        if missing:
            raise LocalEntryNotFoundError(f"not downloaded: {missing}")
        return str(snapshot)

    def hf_hub_download(self, repo_id, filename, *, revision=None, tqdm_class=None, **_kwargs):
        source = self._repo(repo_id) / filename
        storage = self._storage(repo_id)
        blobs, snapshot = storage / "blobs", storage / "snapshots" / COMMIT
        blobs.mkdir(parents=True, exist_ok=True)
        partial = blobs / f"{filename}.incomplete"
        resumed = partial.stat().st_size if partial.is_file() else 0
        size = source.stat().st_size
        bar = (tqdm_class or _NullBar)(total=size, initial=resumed, unit="B", desc=filename)
        sent = 0
        try:
            with open(source, "rb") as fin, open(partial, "ab") as fout:
                fin.seek(resumed)
                while chunk := fin.read(CHUNK):
                    time.sleep(self.delay)
                    fout.write(chunk)
                    fout.flush()
                    sent += len(chunk)
                    bar.update(len(chunk))  # raises model_tools' Cancelled when the user cancels
        finally:
            with open(self.root / "transfers.log", "a", encoding="utf-8") as log:
                log.write(json.dumps({"file": filename, "resumed": resumed, "sent": sent, "size": size}) + "\n")
        blob = blobs / filename
        os.replace(partial, blob)
        snapshot.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(blob, snapshot / filename)
        return str(snapshot / filename)


def serve(hub: FakeHub) -> None:
    """Put `hub` in place of huggingface_hub's download functions, and its cache in place of the hub's, for
    the rest of this process (a job process; in the test process use the `local_hub` fixture instead)."""
    import huggingface_hub
    from huggingface_hub import constants

    os.environ["HF_HUB_CACHE"] = str(hub.cache)
    constants.HF_HUB_CACHE = str(hub.cache)
    huggingface_hub.snapshot_download = hub.snapshot_download
    huggingface_hub.hf_hub_download = hub.hf_hub_download


def transfers(root: Path) -> list[dict]:
    """The transfers logged so far: file, bytes resumed from, bytes sent, file size."""
    log = Path(root) / "transfers.log"
    return [json.loads(line) for line in log.read_text().splitlines()] if log.is_file() else []
