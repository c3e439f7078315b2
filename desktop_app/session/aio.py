"""asyncio on Qt's event loop (qasync), for flows of several steps: load -> warm up -> answer.

Coroutines run on the GUI thread between Qt events; the heavy steps inside them are workers awaited
with `workers.run_worker`. Works under `app.exec()` and inside pytest-qt's nested event loops alike.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from PySide6.QtWidgets import QApplication

log = logging.getLogger("glimpse.app.aio")


def install_event_loop(app: QApplication | None = None) -> asyncio.AbstractEventLoop:
    """The asyncio loop running on Qt's event loop; created once per application."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        pass
    import qasync

    app = app or QApplication.instance()  # type: ignore[assignment]
    loop = qasync.QEventLoop(app, already_running=True)
    asyncio.set_event_loop(loop)
    return loop


def close_event_loop() -> None:
    """Cancel what is left and close the loop (at exit)."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return
    for task in asyncio.all_tasks(loop):
        task.cancel()
    try:
        loop.stop()
        loop.close()
    except RuntimeError as exc:
        log.debug("event loop not closed: %s", exc)
    asyncio.events._set_running_loop(None)


def spawn(
    coro: Coroutine[Any, Any, Any], on_error: Callable[[BaseException], None] | None = None
) -> asyncio.Task[Any]:
    """Run a coroutine as a task; an exception it lets escape goes to `on_error` (or the log), never lost."""
    loop = install_event_loop()
    task = loop.create_task(coro)

    def done(t: asyncio.Task[Any]) -> None:
        if t.cancelled():
            return
        exc = t.exception()
        if exc is not None:
            if on_error is not None:
                on_error(exc)
            else:
                log.error("Task failed", exc_info=exc)

    task.add_done_callback(done)
    return task
