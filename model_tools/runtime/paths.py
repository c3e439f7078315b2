"""Where Glimpse keeps its files. Environment variables override the platform folders (tests use them)."""

from __future__ import annotations

import os
from pathlib import Path

from platformdirs import PlatformDirs

_DIRS = PlatformDirs("Glimpse", appauthor=False)
RESOURCES = Path(__file__).resolve().parents[2] / "resources"


def _dir(env: str, default: str) -> Path:
    path = Path(os.environ.get(env) or default)
    path.mkdir(parents=True, exist_ok=True)
    return path


def cache_dir() -> Path:
    """Compile cache, checksum stamps, measured precision hints."""
    return _dir("GLIMPSE_CACHE_DIR", _DIRS.user_cache_dir)


def models_dir() -> Path:
    """Converted models the user downloaded or made."""
    return _dir("GLIMPSE_MODELS_DIR", str(Path(_DIRS.user_data_dir) / "models"))


def config_dir() -> Path:
    return _dir("GLIMPSE_CONFIG_DIR", _DIRS.user_config_dir)


def log_dir() -> Path:
    return _dir("GLIMPSE_LOG_DIR", _DIRS.user_log_dir)
