"""Where Glimpse keeps its files. Environment variables override the platform folders (tests use them)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from platformdirs import PlatformDirs

_DIRS = PlatformDirs("Glimpse", appauthor=False)
RESOURCES = Path(__file__).resolve().parents[2] / "resources"


def _dir(env: str, default: str) -> Path:
    path = Path(os.environ.get(env) or default)
    path.mkdir(parents=True, exist_ok=True)
    return path


def cache_dir() -> Path:
    """Compile cache, checksum stamps."""
    return _dir("GLIMPSE_CACHE_DIR", _DIRS.user_cache_dir)


def cache_path() -> Path:
    """Where `cache_dir()` is, without making it (for callers that cope with a cache that cannot be made)."""
    return Path(os.environ.get("GLIMPSE_CACHE_DIR") or _DIRS.user_cache_dir)


def scratch_dir(name: str) -> Path:
    """`<cache dir>/<name>`, made; a private temporary folder where the cache cannot be made (e.g. read-only)."""
    try:
        path = cache_dir() / name
        path.mkdir(parents=True, exist_ok=True)
        return path
    except OSError:
        path = Path(tempfile.gettempdir()) / f"glimpse-{os.getuid() if hasattr(os, 'getuid') else 'user'}" / name
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        return path


def models_dir() -> Path:
    """Converted models the user downloaded or made."""
    return _dir("GLIMPSE_MODELS_DIR", str(Path(_DIRS.user_data_dir) / "models"))


def config_dir() -> Path:
    return _dir("GLIMPSE_CONFIG_DIR", _DIRS.user_config_dir)


def log_dir() -> Path:
    return _dir("GLIMPSE_LOG_DIR", _DIRS.user_log_dir)
