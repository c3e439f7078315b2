"""The conversation kept between runs, as plain JSON in the user's config folder.

    <config dir>/last-conversation.json

The window writes it (atomically) after each finished turn, on clear and on close, and shows it again at
the next start. An empty conversation removes the file; a file that cannot be read is put aside
(last-conversation.json.bad) and the app starts with an empty chat.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from desktop_app.session.conversation import Conversation
from model_tools.runtime import paths

log = logging.getLogger("glimpse.app.autosave")

FILE_NAME = "last-conversation.json"


def autosave_file() -> Path:
    return paths.config_dir() / FILE_NAME


def save(conversation: Conversation, path: Path | None = None) -> None:
    """Keep `conversation` for the next start. Raises OSError if the folder is read-only."""
    path = path or autosave_file()
    if conversation.turns:
        conversation.save_json(path)
    else:
        path.unlink(missing_ok=True)


def load(path: Path | None = None) -> Conversation | None:
    """The conversation kept by the last run, or None when there is none (or it cannot be read)."""
    path = path or autosave_file()
    if not path.exists():
        return None
    try:
        conversation = Conversation.load_json(path)
    except (OSError, ValueError) as exc:
        log.warning("Last conversation %s unreadable, put aside: %s", path, exc)
        try:
            os.replace(path, path.with_name(path.name + ".bad"))
        except OSError:
            pass
        return None
    return conversation if conversation.turns else None
