"""Downloads from the Hugging Face hub with huggingface_hub: only what conversion needs, never pickles."""

from __future__ import annotations

import threading
from pathlib import Path

from .jobs import OnProgress, check_cancel, report
from .runtime.errors import ConversionError

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
]


def download(
    repo_id: str,
    *,
    revision: str | None = None,
    on_progress: OnProgress | None = None,
    cancel: threading.Event | None = None,
) -> Path:
    """Fetch `repo_id` into the Hugging Face cache (resuming a partial download) and return its folder."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import (
        GatedRepoError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    check_cancel(cancel)
    report(on_progress, "download", 0, 0, "bytes", f"Downloading {repo_id}")
    try:
        folder = snapshot_download(repo_id, revision=revision, allow_patterns=ALLOW_PATTERNS)
    except RepositoryNotFoundError:
        raise ConversionError(f"There is no model called '{repo_id}' on Hugging Face.", "Check the spelling.") from None
    except GatedRepoError:
        raise ConversionError(f"{repo_id} needs you to accept its terms on Hugging Face first.") from None
    except RevisionNotFoundError:
        raise ConversionError(f"{repo_id} has no revision '{revision}'.") from None
    except (LocalEntryNotFoundError, OSError) as exc:
        raise ConversionError(
            f"Could not download {repo_id}: no connection to Hugging Face ({type(exc).__name__}).",
            "Check your network, or convert a local folder instead.",
        ) from None
    return Path(folder)
