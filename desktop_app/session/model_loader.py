"""Loading models in the background, and keeping the one in use until the next is ready.

`ModelLoader.switch(spec)` loads (verify, compile, warm up) on a worker; the previous pipeline stays in use
until the new one is ready, and stays if the new one fails. `pipeline(task)` waits for loads in progress,
so a question asked meanwhile runs once the model is there. Loads run one at a time; when several switches
pile up, only the latest is loaded. Which model to ask for is `ModelSession`'s business (model_session.py).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QThreadPool, Signal

from desktop_app.session.aio import spawn
from desktop_app.session.workers import LoadWorker, release_later, run_worker
from model_tools.library import store as library
from model_tools.runtime import ConvertedModel, GlimpseError, ModelNotFoundError

ASKABLE_FAMILIES = ("blip", "chat")  # the families the window asks and chats with (segment: the Segment tool)


def not_askable(model: ConvertedModel) -> GlimpseError | None:
    """Why the window cannot ask `model` (a family it does not ask yet), or None."""
    if model.spec.family in ASKABLE_FAMILIES:
        return None
    return GlimpseError(
        f"{model.name} is a Segment Anything model: it cuts out objects, it does not answer questions.",
        "Choose a question-answering or chat model here; use segment models with the Segment tool (S), "
        "chosen in Tools ▸ Segment Model.",
    )

if TYPE_CHECKING:
    from model_tools.runtime import BlipPipeline

log = logging.getLogger("glimpse.app.models")


@dataclass(frozen=True)
class ModelSpec:
    path: Path
    precision: str
    device: str
    exact: bool = False  # every part from `precision`'s own files at full precision

    def describe(self) -> str:
        exact = ", exact" if self.exact else ""
        return f"{self.path.name} ({self.precision.upper()}{exact}) on {self.device}"


class ModelLoader(QObject):
    """Owns the loaded pipelines. Signals: `loading_started(ModelSpec)`, `progressed(str)`,
    `loaded(BlipPipeline)`, `load_failed(ModelSpec, exception)`, `busy_changed(bool)`."""

    loading_started = Signal(object)
    progressed = Signal(str)
    loaded = Signal(object)
    load_failed = Signal(object, object)
    busy_changed = Signal(bool)

    def __init__(self, pool: QThreadPool, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._pool = pool
        self.current: BlipPipeline | None = None
        self.spec: ModelSpec | None = None
        self.wanted: ModelSpec | None = None
        self.last_error: BaseException | None = None
        self._partners: dict[ModelSpec, BlipPipeline] = {}
        self._pending: set[asyncio.Task[None]] = set()
        self._lock: asyncio.Lock | None = None
        self._loading = 0
        self._was_busy = False
        self._workers: set[LoadWorker] = set()

    @property
    def busy(self) -> bool:
        return bool(self._pending) or self._loading > 0

    def switch(self, spec: ModelSpec) -> asyncio.Task[None]:
        """Load `spec` in the background (the latest request wins). runs in: GUI thread."""
        self.wanted = spec
        task = spawn(self._switch(spec))
        self._pending.add(task)
        self._set_busy()
        task.add_done_callback(self._on_task_done)
        return task

    async def pipeline(self, task: str) -> BlipPipeline:
        """The pipeline for `task` ("vqa" answers, "caption" describes), once loads in progress are done.

        For Describe with a VQA model, its captioning partner is loaded on first use; a chat model does both.
        """
        while self._pending:
            await asyncio.wait(set(self._pending))
        if self.current is None:
            if self.last_error is not None:
                raise self.last_error
            raise ModelNotFoundError(
                "No model is loaded.", "Choose a model in the toolbar, or open a model folder."
            )
        if task != "caption" or self.current.task in ("caption", "chat"):
            return self.current  # a chat model describes a picture itself
        partner = library.caption_partner(self.current.model)
        if partner is None:
            raise GlimpseError(
                f"{self.current.model.name} answers questions but cannot describe pictures.",
                "Type a question instead, or choose a captioning model to describe pictures.",
            )
        spec = self._partner_spec(partner)
        if spec not in self._partners:
            async with self._get_lock():
                if spec not in self._partners:
                    self._partners[spec] = await self._load(spec)
        return self._partners[spec]

    def _partner_spec(self, partner: Path) -> ModelSpec:
        assert self.spec is not None
        precision = self.spec.precision
        try:
            if not ConvertedModel.open(partner).has(precision):
                precision = "fp16"
        except GlimpseError:
            precision = "fp16"
        return ModelSpec(Path(partner), precision, self.spec.device, self.spec.exact)

    def _get_lock(self) -> asyncio.Lock:
        if self._lock is None:
            self._lock = asyncio.Lock()
        return self._lock

    async def _switch(self, spec: ModelSpec) -> None:
        async with self._get_lock():
            if spec != self.wanted:
                return  # a later switch superseded this one
            if spec == self.spec and self.current is not None:
                return
            try:
                pipe = await self._load(spec)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - reported to the window
                self.last_error = exc
                if self.wanted == spec:
                    self.wanted = self.spec
                self.load_failed.emit(spec, exc)
                return
            # Captioning partners follow the main model's device and precision.
            same = (spec.device, spec.precision, spec.exact)
            keep = {s: p for s, p in self._partners.items() if (s.device, s.precision, s.exact) == same}
            retired = [self.current, *(p for s, p in self._partners.items() if s not in keep)]
            self._partners = keep
            self.current, self.spec, self.last_error = pipe, spec, None
            release_later(self._pool, retired)
            self.loaded.emit(pipe)

    async def _load(self, spec: ModelSpec) -> BlipPipeline:
        refusal = not_askable(ConvertedModel.open(spec.path))
        if refusal is not None:
            raise refusal
        self._loading += 1
        self._set_busy()
        self.loading_started.emit(spec)
        worker = LoadWorker(spec.path, spec.precision, spec.device, exact=spec.exact)
        worker.signals.progressed.connect(self.progressed)
        self._workers.add(worker)
        try:
            return await run_worker(self._pool, worker)
        finally:
            self._workers.discard(worker)
            self._loading -= 1
            self._set_busy()

    def _on_task_done(self, task: asyncio.Task[None]) -> None:
        self._pending.discard(task)
        self._set_busy()

    def _set_busy(self) -> None:
        busy = self.busy
        if busy != self._was_busy:
            self._was_busy = busy
            self.busy_changed.emit(busy)

    def cancel_all(self) -> None:
        """Drop pending switches; loads in progress skip their warm-up (compiling cannot be interrupted)."""
        for worker in self._workers:
            worker.cancel.set()
        for task in list(self._pending):
            task.cancel()
