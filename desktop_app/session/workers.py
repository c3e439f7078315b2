"""Workers: one job each, run on a QThreadPool thread, reporting through signals on a separate QObject.

    worker = GenerationWorker(pipe, image, question)
    worker.signals.text_received.connect(view.append_text)      # delivered on the GUI thread
    answer = await run_worker(pool, worker)                      # or: worker.start(pool)

Signals (`WorkerSignals`): `started`, `progressed(str)`, `text_received(str)` per chunk of an answer,
`finished(object)` with the result, `errored(object, str)` with the exception and its traceback.
A worker turns every exception into `errored`; nothing escapes into the pool thread.

Lifetimes: a worker is a plain Python object run on the pool as a callable, not a QRunnable subclass (the pool
deleting a Python-made QRunnable while Python still held it crashed now and then). Its signals object is
handed to the application object, so a pool thread dropping the last Python reference never deletes it; it
is deleted on the GUI thread once its last signal (`finished` or `errored`) has been delivered.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QCoreApplication, QObject, QThreadPool, Signal, Slot

from model_tools.runtime.errors import GlimpseError, attach_traceback
from model_tools.runtime.files import atomic_write

if TYPE_CHECKING:
    from model_tools.runtime import BlipPipeline, ChatPipeline

log = logging.getLogger("glimpse.app.workers")

CHAT_WARM_UP_SIZE = (64, 64)  # a small blank picture: the model's processor resizes it to what it takes
MEMORY_WORDS = ("bad_alloc", "out of memory", "cannot allocate memory", "failed to allocate")


def raise_memory_error(exc: BaseException) -> None:
    """If `exc` (or its cause) says the machine ran out of memory (OpenVINO reports that as a RuntimeError),
    raise an error that says so, with the fix; else return. runs in: any thread."""
    for cause in (exc, exc.__cause__):
        if cause is not None and (
            isinstance(cause, MemoryError) or any(word in str(cause).lower() for word in MEMORY_WORDS)
        ):
            raise GlimpseError(
                "The model ran out of memory.",
                "Close other programs, or choose a smaller precision (INT8 or INT4) or a smaller model.",
            ) from cause


class WorkerSignals(QObject):
    """Lives on the GUI thread; emitted from the worker thread, so connected slots run queued on the GUI thread."""

    started = Signal()
    progressed = Signal(str)
    text_received = Signal(str)
    finished = Signal(object)
    errored = Signal(object, str)


class Worker:
    """Base: subclasses implement `work()`, which returns the result. Create and start on the GUI thread."""

    name = "work"

    def __init__(self) -> None:
        self.signals = WorkerSignals()
        self.cancel = threading.Event()

    def start(self, pool: QThreadPool) -> None:
        """Run on `pool`. runs in: GUI thread (connect to `signals` before this)."""
        signals = self.signals
        app = QCoreApplication.instance()
        if app is not None:
            signals.setParent(app)  # owned by Qt now: only the deleteLater below ends it, on this thread
        signals.finished.connect(signals.deleteLater)
        signals.errored.connect(signals.deleteLater)
        pool.start(self.run)

    def run(self) -> None:
        """runs in: worker thread."""
        threading.current_thread().name = f"glimpse-{self.name}"
        self.signals.started.emit()
        try:
            result = self.work()
        except BaseException as exc:  # noqa: BLE001 - every failure is reported, none kills the thread
            log.debug("%s failed", self.name, exc_info=True)
            self.signals.errored.emit(exc, traceback.format_exc())
            return
        self.signals.finished.emit(result)

    def work(self) -> Any:
        """runs in: worker thread. Touch no widget here."""
        raise NotImplementedError


class LoadWorker(Worker):
    """Verify and compile a converted model, then warm it up with one tiny answer. Result: BlipPipeline."""

    name = "load"

    def __init__(
        self, model_dir: Path, precision: str, device: str, *, exact: bool = False, warm_up: bool = True
    ) -> None:
        super().__init__()
        self.model_dir, self.precision, self.device = Path(model_dir), precision, device
        self.exact, self.warm_up = exact, warm_up

    def work(self) -> BlipPipeline:
        """runs in: worker thread."""
        self.signals.progressed.emit(
            f"Loading {self.model_dir.name} ({self.precision.upper()}) on {self.device}…"
        )
        from model_tools.runtime import load  # imports openvino: here, on a worker, not at start-up

        try:
            pipe = load(self.model_dir, precision=self.precision, device=self.device, exact=self.exact)
        except Exception as exc:
            raise_memory_error(exc)
            raise
        log.info("Loaded %s %s on %s in %.2f s: %s", self.model_dir, self.precision, self.device, pipe.load_s,
                 pipe.setup_label)
        if self.warm_up and not self.cancel.is_set():
            # The first inference allocates buffers; doing it now keeps the first answer's timings honest.
            self.signals.progressed.emit("Warming up…")
            from PIL import Image

            if pipe.task == "chat":
                blank = Image.new("RGB", CHAT_WARM_UP_SIZE, (128, 128, 128))
                pipe.ask(blank, "Hi", max_new_tokens=2, cancel=self.cancel, keep_partial=False)
                pipe.reset()  # the warm-up is no part of the conversation
                return pipe
            blank = Image.new("RGB", tuple(pipe.image_size[::-1]), (128, 128, 128))
            if pipe.task == "vqa":
                pipe.ask(blank, "what?", max_new_tokens=2, cancel=self.cancel)
            else:
                pipe.caption(blank, max_new_tokens=2, cancel=self.cancel)
        return pipe


class GenerationWorker(Worker):
    """Answer a question (or describe the picture) with a loaded pipeline, streaming text chunks.

    `cancel` (a threading.Event) stops generation within one decode step; the result is then a partial
    Answer with cancelled=True. With a chat model the question goes with `pictures` (the message's own:
    none, one or several) into the pipeline's conversation, which remembers the turns before it; stopped,
    the partial answer stays in that conversation.
    """

    name = "generate"

    def __init__(
        self,
        pipe: BlipPipeline | ChatPipeline,
        image: Path,
        question: str,
        *,
        describe: bool = False,
        max_new_tokens: int = 20,
        num_beams: int = 1,
        pictures: Sequence[Path] = (),
        image_side: int | None = None,
    ) -> None:
        super().__init__()
        self.pipe, self.image, self.question, self.describe = pipe, image, question, describe
        self.max_new_tokens, self.num_beams = max_new_tokens, num_beams
        self.pictures = [Path(p) for p in pictures]
        self.image_side = image_side  # a chat model's limit (ignored by one that scales pictures itself)

    def work(self) -> Any:
        """runs in: worker thread; `on_text` is called here and becomes the `text_received` signal."""
        if self.pipe.task == "chat":
            try:
                self.pipe.set_image_side(self.image_side)
                return self.pipe.ask(
                    self.pictures,
                    self.question,
                    max_new_tokens=self.max_new_tokens,
                    on_text=self.signals.text_received.emit,
                    cancel=self.cancel,
                )
            except Exception as exc:
                raise_memory_error(exc)
                raise
        kwargs: dict[str, Any] = {
            "max_new_tokens": self.max_new_tokens,
            "num_beams": self.num_beams,
            "on_text": self.signals.text_received.emit,
            "cancel": self.cancel,
        }
        if self.describe:
            return self.pipe.caption(self.image, **kwargs)
        return self.pipe.ask(self.image, self.question, **kwargs)


@dataclass
class ImageRead:
    """A picture read and checked by the runtime's loader, ready to show."""

    source: Path | bytes
    path: Path | None  # None for image data until it is saved
    image: Any  # QImage, as the model sees it (upright RGB), scaled to at most DISPLAY_MAX
    thumbnail: Any  # QImage, at most THUMB_MAX
    width: int
    height: int
    error: BaseException | None = None


class ImageReadWorker(Worker):
    """Read several pictures with `model_tools.runtime.load_image`; one bad file does not stop the rest.

    Image data (pasted or dropped from another application) is saved to `save_dir` so conversations can
    refer to it by path. Result: list[ImageRead], in input order, with `error` set on failures.
    """

    name = "read-images"
    DISPLAY_MAX = 4096
    THUMB_MAX = 160

    def __init__(self, sources: list[Path | bytes], save_dir: Path) -> None:
        super().__init__()
        self.sources, self.save_dir = sources, save_dir

    def work(self) -> list[ImageRead]:
        """runs in: worker thread (QImage is safe off the GUI thread; QPixmap is not)."""
        out = []
        for source in self.sources:
            if self.cancel.is_set():
                break
            try:
                out.append(self._read(source))
            except Exception as exc:  # noqa: BLE001 - reported per file
                out.append(
                    ImageRead(source, source if isinstance(source, Path) else None, None, None, 0, 0, exc)
                )
        return out

    def _read(self, source: Path | bytes) -> ImageRead:
        import hashlib
        import io

        from PIL import Image

        from model_tools.runtime import load_image

        rgb = load_image(source)
        path: Path | None
        if isinstance(source, bytes):
            self.save_dir.mkdir(parents=True, exist_ok=True)
            path = self.save_dir / f"pasted-{hashlib.sha1(source).hexdigest()[:12]}.png"
            if not path.exists():
                png = io.BytesIO()
                rgb.save(png, format="PNG")
                atomic_write(path, png.getvalue())
        else:
            path = source.resolve()
        display = rgb
        if max(rgb.size) > self.DISPLAY_MAX:
            display = rgb.copy()
            display.thumbnail((self.DISPLAY_MAX, self.DISPLAY_MAX), Image.Resampling.LANCZOS)
        thumb = rgb.copy()
        thumb.thumbnail((self.THUMB_MAX, self.THUMB_MAX), Image.Resampling.LANCZOS)
        return ImageRead(source, path, pil_to_qimage(display), pil_to_qimage(thumb), rgb.width, rgb.height)


def pil_to_qimage(image: Any) -> Any:
    """An RGB PIL image as a QImage that owns its pixels. runs in: any thread.

    The pixels are copied into memory Qt allocated: a QImage wrapping a Python buffer ties Qt's image to
    Python's memory management across threads.
    """
    from PySide6.QtGui import QImage

    rgbx = image.convert("RGB").convert("RGBX")  # 4 bytes a pixel: rows need no padding
    qimage = QImage(rgbx.width, rgbx.height, QImage.Format.Format_RGBX8888)
    if qimage.isNull():
        raise MemoryError(f"No memory for a {rgbx.width}x{rgbx.height} picture")
    pixels = qimage.bits()
    pixels[: qimage.sizeInBytes()] = rgbx.tobytes("raw", "RGBX")
    del pixels
    return qimage


class FunctionWorker(Worker):
    """Any callable as a worker: `fn(*args, **kwargs)` runs on the pool; its return value is the result.

        devices = await run_worker(pool, FunctionWorker(list_devices, name="devices"))

    For quick work with no progress of its own (listing devices, deleting a model). `signals` may be a
    WorkerSignals subclass with more signals, for a host that connects to them.
    """

    def __init__(
        self,
        fn: Callable[..., Any],
        *args: Any,
        name: str = "call",
        signals: WorkerSignals | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__()
        self.fn, self.args, self.kwargs, self.name = fn, args, kwargs, name
        if signals is not None:
            self.signals = signals

    def stop(self) -> None:
        """Ask it to stop: a plain function cannot be interrupted, so it runs to its end (runs in: any thread)."""
        self.cancel.set()

    kill = stop  # nothing more to end: the function runs on a thread, not in a process

    def work(self) -> Any:
        """runs in: worker thread."""
        return self.fn(*self.args, **self.kwargs)


def release_later(pool: QThreadPool, retired: list[Any]) -> None:
    """Free the loaded pipelines in `retired` (emptied here, so the caller holds none) on a `pool` thread.

    Freeing a compiled model stops OpenVINO's inference threads: 40-50 ms on a quiet machine and seconds
    on a busy one, which the window must not wait for. Whoever still holds one of them frees it instead.
    runs in: GUI thread."""
    held = [item for item in retired if item is not None]
    retired.clear()
    if held:
        pool.start(held.clear)


class _Waiter(QObject):
    """Completes an asyncio future from a worker's signals; lives on the GUI thread."""

    def __init__(self, future: asyncio.Future[Any]) -> None:
        super().__init__()
        self.future = future

    @Slot(object)
    def _on_finished(self, result: Any) -> None:
        if not self.future.done():
            self.future.set_result(result)

    @Slot(object, str)
    def _on_errored(self, exc: BaseException, tb: str) -> None:
        if not self.future.done():
            attach_traceback(exc, tb)
            self.future.set_exception(exc)


_waiting: set[_Waiter] = set()


async def run_worker(pool: QThreadPool, worker: Worker) -> Any:
    """Start `worker` on `pool` and wait for its result without blocking the event loop.

    Raises what the worker raised. If the awaiting task is cancelled, the worker's `cancel` event is set
    (the worker stops at its next check) and the result is dropped.
    runs in: GUI thread (asyncio on Qt's event loop, through qasync).
    """
    future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    waiter = _Waiter(future)
    worker.signals.finished.connect(waiter._on_finished)
    worker.signals.errored.connect(waiter._on_errored)
    _waiting.add(waiter)
    worker.start(pool)
    try:
        return await future
    except asyncio.CancelledError:
        worker.cancel.set()
        raise
    finally:
        _waiting.discard(waiter)
