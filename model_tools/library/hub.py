"""Downloads from the Hugging Face hub with huggingface_hub: only what conversion needs, never pickles.

Progress is reported in bytes, cancel works mid-file (the partial file stays in the hub cache, so the next
attempt resumes where this one stopped).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from model_tools.jobs.progress import OnProgress, check_cancel, report
from model_tools.jobs.requests import DownloadRequest, DownloadResult
from model_tools.runtime.errors import ConversionError

# Config, safetensors weights, tokenizer and preprocessing files. No *.bin / *.h5 / *.msgpack.
ALLOW_PATTERNS = [
    "config.json",
    "generation_config.json",
    "*.safetensors",
    "model.safetensors.index.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "vocab.txt",
    "preprocessor_config.json",
    "processor_config.json",
    # LLaVA checkpoints: their BPE / SentencePiece tokenizers and chat templates (none of these is code)
    "tokenizer.model",
    "vocab.json",
    "merges.txt",
    "added_tokens.json",
    "chat_template.json",
    "chat_template.jinja",
]
# A ready OpenVINO model (`DownloadRequest.ready`): its IR files and configs as they are. OpenVINO's .bin files
# are raw weights read by the runtime, not pickles.
READY_PATTERNS = ["openvino_*.xml", "openvino_*.bin", "*.json", "*.jinja"]


def download(
    request: DownloadRequest,
    *,
    on_progress: OnProgress | None = None,
    cancel: threading.Event | None = None,
) -> DownloadResult:
    """Fetch `request.repo_id` into the Hugging Face cache; the result names its snapshot folder.

    runs in: a worker thread. Raises `ConversionError` with a user-facing reason (offline, unknown id...).
    """
    repo_id, revision = request.repo_id, request.revision
    patterns = READY_PATTERNS if request.ready else ALLOW_PATTERNS
    from huggingface_hub import hf_hub_download, snapshot_download
    from huggingface_hub.errors import (
        DryRunError,
        EntryNotFoundError,
        GatedRepoError,
        HfHubHTTPError,
        HFValidationError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    check_cancel(cancel)
    report(on_progress, "download", 0, 0, "bytes", f"Looking up {repo_id}")
    try:
        plan = snapshot_download(repo_id, revision=revision, allow_patterns=patterns, dry_run=True)
        total = sum(int(f.file_size or 0) for f in plan)
        done = sum(int(f.file_size or 0) for f in plan if not f.will_download)
        counter = _ByteCounter.for_job(done, total, repo_id, on_progress, cancel)
        report(on_progress, "download", done, total, "bytes", f"Downloading {repo_id}")
        commit = plan[0].commit_hash if plan else revision
        for info in plan:
            if info.will_download:
                check_cancel(cancel)
                hf_hub_download(repo_id, info.filename, revision=commit, tqdm_class=counter)
        folder = snapshot_download(repo_id, revision=commit, allow_patterns=patterns)
    except HFValidationError:
        raise ConversionError(
            f"'{repo_id}' is neither a folder here nor a Hugging Face id (owner/name).",
            "Check the spelling, or the path if you meant a local folder.",
        ) from None
    except RepositoryNotFoundError:
        raise ConversionError(
            f"There is no model called '{repo_id}' on Hugging Face.", "Check the spelling."
        ) from None
    except GatedRepoError:
        raise ConversionError(f"{repo_id} needs you to accept its terms on Hugging Face first.") from None
    except RevisionNotFoundError:
        raise ConversionError(f"{repo_id} has no revision '{revision}'.") from None
    except EntryNotFoundError as exc:
        raise ConversionError(f"{repo_id} is missing a file ({exc}).") from None
    except (LocalEntryNotFoundError, DryRunError):
        raise ConversionError(
            f"Could not download {repo_id}: no connection to Hugging Face.",
            "Check your network, or convert a local folder instead.",
        ) from None
    except (HfHubHTTPError, OSError) as exc:
        raise ConversionError(
            f"Could not download {repo_id}: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}",
            "Check your network and try again; the download resumes where it stopped.",
        ) from None
    report(on_progress, "download", total, total, "bytes", f"Downloaded {repo_id}")
    return DownloadResult(Path(folder))


class _ByteCounter:
    """A tqdm stand-in for huggingface_hub: counts bytes across files, reports them, and stops on cancel."""

    done = 0
    total = 0
    label = ""
    on_progress: OnProgress | None = None
    cancel: threading.Event | None = None

    @classmethod
    def for_job(
        cls, done: int, total: int, label: str, on_progress: OnProgress | None, cancel: threading.Event | None
    ) -> type[_ByteCounter]:
        return type(
            "ByteCounter",
            (cls,),
            {"done": done, "total": total, "label": label, "on_progress": on_progress, "cancel": cancel},
        )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        type(self).done += int(kwargs.get("initial") or 0)  # bytes resumed from an earlier attempt

    def __enter__(self) -> _ByteCounter:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def update(self, n: float | None = 1) -> None:
        cls = type(self)
        cls.done += int(n or 0)
        report(cls.on_progress, "download", cls.done, cls.total, "bytes", f"Downloading {cls.label}")
        check_cancel(cls.cancel)

    def close(self) -> None:
        return None

    def set_postfix_str(self, *args: Any, **kwargs: Any) -> None:
        return None

    def refresh(self) -> None:
        return None


def cached_bytes(repo_id: str) -> int:
    """Bytes of `repo_id` already in the local Hugging Face cache (finished files and partial ones).

    More than zero for a model not yet converted means a download was interrupted: it resumes from there.
    """
    try:
        from huggingface_hub import constants
    except ImportError:  # the runtime bundle: it downloads nothing
        return 0
    folder = Path(constants.HF_HUB_CACHE) / f"models--{repo_id.replace('/', '--')}" / "blobs"
    if not folder.is_dir():
        return 0
    return sum(p.stat().st_size for p in folder.iterdir() if p.is_file() and not p.is_symlink())
