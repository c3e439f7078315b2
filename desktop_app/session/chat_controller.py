"""The chat's engine room: questions in order, one generation at a time, on worker threads.

    controller.ask(turn)        # waits for the model if it is loading, then streams the answer
                                # (a chat model: the message with its pictures, in the model's conversation)
    controller.stop()           # stops the answer in progress (within one decode step) and those waiting
    controller.shutdown(1000)   # on close: stop everything, wait at most a second for the threads

Widgets watch its signals; it never touches a widget.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, QThread, QThreadPool, Signal, Slot

from desktop_app.session.aio import spawn
from desktop_app.session.conversation import FAILED, PENDING, STOPPED, STREAMING, WAITING, Turn
from desktop_app.session.model_loader import ModelLoader
from desktop_app.session.workers import (
    FunctionWorker,
    GenerationWorker,
    ImageRead,
    ImageReadWorker,
    run_worker,
)
from model_tools.runtime import Device, list_devices
from model_tools.runtime.errors import explain

if TYPE_CHECKING:
    from model_tools.runtime import Answer

log = logging.getLogger("glimpse.app.controller")


class _TurnRelay(QObject):
    """Forwards one generation's text chunks, tagged with its turn; muted once that generation is over."""

    def __init__(self, controller: ChatController, turn: Turn) -> None:
        super().__init__()
        self.controller, self.turn, self.active = controller, turn, True

    @Slot(str)
    def _on_text_received(self, chunk: str) -> None:
        if self.active and not self.controller.closing:
            self.turn.answer += chunk
            if self.turn.status != STREAMING:
                self.turn.status = STREAMING
                self.controller.turn_updated.emit(self.turn)
            self.controller.text_received.emit(self.turn, chunk)


def _chat_text(turn: Turn) -> str:
    """What a chat model is asked: the question, or for Describe (or an empty question) the words for it."""
    if turn.question.strip() and not turn.describe:
        return turn.question
    from model_tools.runtime.chat.pipeline import DESCRIBE  # a chat model is loaded: openvino-genai is in

    return DESCRIBE


class ChatController(QObject):
    """Signals: `turn_updated(Turn)`, `text_received(Turn, str)`, `answer_finished(Turn, Answer)`,
    `answer_failed(Turn, exception)`, `generating_changed(bool)`, `devices_found(list[Device])`,
    `images_read(list[ImageRead])`."""

    turn_updated = Signal(object)
    text_received = Signal(object, str)
    answer_finished = Signal(object, object)
    answer_failed = Signal(object, object)
    generating_changed = Signal(bool)
    devices_found = Signal(object)
    images_read = Signal(object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.pool = QThreadPool(self)
        # Room for a generation, a load, a captioning-partner load and reading pictures at once.
        self.pool.setMaxThreadCount(max(4, QThread.idealThreadCount()))
        self.models = ModelLoader(self.pool, self)
        self.devices: list[Device] = []
        self.max_new_tokens = 30
        self.num_beams = 1
        self.image_side: int | None = None  # longest picture side a chat model that takes any size is sent
        self.closing = False
        self._queue: asyncio.Lock | None = None
        self._asks: dict[asyncio.Task[None], Turn] = {}
        self._current: GenerationWorker | None = None
        self._current_task: asyncio.Task[None] | None = None
        self._relay: _TurnRelay | None = None

    # -- state -----------------------------------------------------------------------------------------------

    @property
    def generating(self) -> bool:
        """An answer is being generated or waits to be."""
        return bool(self._asks)

    @property
    def current_worker(self) -> GenerationWorker | None:
        return self._current

    # -- asking ----------------------------------------------------------------------------------------------

    def ask(self, turn: Turn) -> asyncio.Task[None]:
        """Queue `turn` (its image, question or Describe); answers run one at a time, in order."""
        turn.max_new_tokens, turn.num_beams = self.max_new_tokens, self.num_beams
        if self.models.current is not None and self.models.current.task == "chat":
            turn.num_beams = 0  # a chat model answers greedily: no beams to tell
        turn.status = WAITING if self.models.busy else PENDING
        task = spawn(self._answer(turn), self._on_unexpected)
        was = self.generating
        self._asks[task] = turn
        task.add_done_callback(self._on_ask_done)
        if not was:
            self.generating_changed.emit(True)
        return task

    async def _answer(self, turn: Turn) -> None:
        if self._queue is None:
            self._queue = asyncio.Lock()
        try:
            async with self._queue:
                if self.models.busy and turn.status != WAITING:
                    turn.status = WAITING
                    self.turn_updated.emit(turn)
                pipe = await self.models.pipeline("caption" if turn.describe else "vqa")
                turn.status = PENDING
                self.turn_updated.emit(turn)
                worker = GenerationWorker(
                    pipe,
                    Path(turn.image or ""),
                    _chat_text(turn) if pipe.task == "chat" else turn.question,
                    describe=turn.describe,
                    max_new_tokens=turn.max_new_tokens,
                    num_beams=turn.num_beams,
                    pictures=[Path(p) for p in turn.pictures],
                    image_side=self.image_side,
                )
                relay = _TurnRelay(self, turn)
                worker.signals.text_received.connect(relay._on_text_received)
                self._current, self._current_task, self._relay = worker, asyncio.current_task(), relay
                try:
                    answer: Answer = await run_worker(self.pool, worker)
                finally:
                    relay.active = False
                    self._current = self._current_task = self._relay = None
        except asyncio.CancelledError:
            if not self.closing:
                turn.status = STOPPED
                self.turn_updated.emit(turn)
            raise
        except Exception as exc:  # noqa: BLE001 - every failure reaches the error presenter
            if self.closing:
                return
            turn.status = FAILED
            turn.error = explain(exc).message
            self.answer_failed.emit(turn, exc)
            return
        if self.closing:
            return
        turn.set_answer(answer, pipe.model.name)
        if answer.truncated_question:
            turn.metrics["truncated_question"] = True  # kept with the turn: the bubble says so
        self.answer_finished.emit(turn, answer)

    def set_history(self, history: Callable[[], list[Any]]) -> asyncio.Task[None]:
        """Make a loaded chat model's own conversation `history()` (its `restore`; empty: a new conversation),
        in turn with the questions: after the answer in progress, before those asked after this call. A BLIP
        model keeps no conversation: nothing to do. runs in: GUI thread (`history` too, when its turn comes).
        """
        return spawn(self._set_history(history), self._on_unexpected)

    async def _set_history(self, history: Callable[[], list[Any]]) -> None:
        if self._queue is None:
            self._queue = asyncio.Lock()
        async with self._queue:
            pipe = self.models.current
            if pipe is None or pipe.task != "chat" or self.closing:
                return  # a chat model loaded later is given the conversation when it is ready
            turns = history()
            await run_worker(self.pool, FunctionWorker(pipe.restore, turns, name="restore"))

    def stop(self) -> bool:
        """Stop the answer in progress (its partial text stays) and drop those waiting. True if any."""
        stopped = False
        for task, _turn in list(self._asks.items()):
            if task is self._current_task and self._current is not None:
                self._current.cancel.set()
            else:
                task.cancel()
            stopped = True
        return stopped

    def stop_current(self) -> None:
        """Stop only the answer in progress (switching models does this; the questions waiting then run)."""
        if self._current is not None:
            self._current.cancel.set()

    def _on_ask_done(self, task: asyncio.Task[None]) -> None:
        self._asks.pop(task, None)
        if not self._asks and not self.closing:
            self.generating_changed.emit(False)

    def _on_unexpected(self, exc: BaseException) -> None:
        log.error("Unexpected failure in the chat flow", exc_info=exc)
        if not self.closing:
            self.answer_failed.emit(Turn("", None, status=FAILED, error=str(exc)), exc)

    # -- devices and pictures --------------------------------------------------------------------------------

    def find_devices(self) -> None:
        spawn(self._find_devices(), self._on_unexpected)

    async def _find_devices(self) -> None:
        try:
            devices = await run_worker(self.pool, FunctionWorker(list_devices, name="devices"))
        except Exception as exc:  # noqa: BLE001 - CPU and AUTO still work
            log.warning("Could not list devices: %s", exc)
            devices = [Device("CPU", "CPU"), Device("AUTO", "Automatic: OpenVINO picks the best device")]
        if not self.closing:
            self.devices = devices
            self.devices_found.emit(devices)

    def read_images(
        self, sources: list[Path | bytes], save_dir: Path, display_max: int = 0
    ) -> asyncio.Task[None]:
        """Read and check pictures on a worker; `images_read` brings the results (errors per file).

        The preview kept for the window is at most `display_max` pixels on its longer side (the screen's
        size: a 6000x4000 photo is not kept whole); the model reads the file itself.
        """
        return spawn(self._read_images(sources, save_dir, display_max), self._on_unexpected)

    async def _read_images(self, sources: list[Path | bytes], save_dir: Path, display_max: int) -> None:
        worker = ImageReadWorker(sources, save_dir)
        if display_max:
            worker.DISPLAY_MAX = min(worker.DISPLAY_MAX, display_max)
        results: list[ImageRead] = await run_worker(self.pool, worker)
        if not self.closing:
            self.images_read.emit(results)

    # -- closing ---------------------------------------------------------------------------------------------

    def shutdown(self, timeout_ms: int = 1000) -> bool:
        """Stop everything and wait up to `timeout_ms` for the worker threads; True if none is left running.

        Generation stops within one decode step; a model being compiled cannot be interrupted, so a very
        large model may still be loading when the time is up (the caller then exits anyway).
        """
        self.closing = True
        if self._current is not None:
            self._current.cancel.set()
        for task in list(self._asks):
            task.cancel()
        self.models.cancel_all()
        self.pool.clear()
        done = self.pool.waitForDone(timeout_ms)
        if not done:
            log.warning("Workers still running %d ms after close (a model compiling?)", timeout_ms)
        return done
