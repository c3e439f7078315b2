"""The Segment tool's state, without widgets: one segment model, one picture, the prompt, the masks shown.

    segmenter = Segmenter(pool)
    segmenter.set_model(path, "fp16", "CPU")     # loaded on a worker on first use (a second model beside the
                                                 # window's question-answering or chat model)
    segmenter.set_picture(path)                  # the encoder runs once per picture and model, on a worker
    segmenter.add_point(x, y)                    # picture pixels; each change runs the decoder on a worker
    segmenter.mask_ready.connect(...)            # SegmentResult (the three candidates), or None: nothing shown

The prompt is points (label 1 on the object, 0 off it) and at most one box. Every change asks for masks again;
one decoder job runs at a time and the newest prompt wins: a result for an older prompt (or another picture) is
dropped, and the newest prompt runs next. Embeddings are kept per (model, precision, picture file), so coming
back to a picture does not encode it again. The pixel work (outlines) is `model_tools.runtime.segment.regions`'s.

Signals: `mask_ready(SegmentResult | None)`, `busy_changed(bool)`, `activity_changed(str)` (what runs, in
words; "" when idle), `encoded(Path)` (the picture's embedding is ready), `failed(exception)`.
Every method runs in: the GUI thread, unless it says otherwise.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, QThreadPool, Signal
from PySide6.QtGui import QImage

from desktop_app.session.aio import spawn
from desktop_app.session.workers import (
    FunctionWorker,
    ImageReadWorker,
    LoadWorker,
    pil_to_qimage,
    release_later,
    run_worker,
)
from model_tools.runtime.files import atomic_write

if TYPE_CHECKING:
    from model_tools.runtime.segment.pipeline import Embedding, Masks, SegmentPipeline

log = logging.getLogger("glimpse.app.segment")

POSITIVE, NEGATIVE = 1, 0  # as model_tools.runtime.segment (not imported here: the window starts light)
ENCODING = "Encoding the picture for Segment…"
CACHED_EMBEDDINGS = 6
OVERLAY_MAX = 2048  # longest side of the images drawn over the picture (a 12 Mpx photo's masks are scaled down)  # pictures kept encoded (a real SAM's embedding is 4 MB)

Point = tuple[float, float]
Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class SegmentResult:
    """The decoder's answer to one prompt on one picture: three candidate masks and what to draw for each."""

    picture: Path
    masks: Masks  # bool [3, H, W] at the picture's size, their IoU estimates
    levels: tuple[QImage, ...]  # per candidate, Indexed8 (at most OVERLAY_MAX): 0 outside, 1 inside, 2 outline
    points: tuple[Point, ...]
    labels: tuple[int, ...]
    box: Box | None

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the picture."""
        return int(self.masks.masks.shape[2]), int(self.masks.masks.shape[1])


def levels_image(levels: Any) -> QImage:
    """A uint8 [H, W] array as an Indexed8 QImage that owns its pixels (grey colour table; the overlay tints
    it). runs in: any thread (QImage, not QPixmap)."""
    height, width = levels.shape
    image = QImage(levels.tobytes(), width, height, width, QImage.Format.Format_Indexed8).copy()
    image.setColorTable([0xFF000000 | v * 0x010101 for v in range(3)])
    return image


def segment_and_draw(
    pipe: SegmentPipeline, embedding: Embedding, points: list[Point], labels: list[int], box: Box | None
) -> tuple[Masks, tuple[QImage, ...]]:
    """The three masks for the prompt, and each one's outline image. runs in: worker thread."""
    from model_tools.runtime.segment.regions import overlay_levels

    masks = pipe.segment(embedding, points, labels, box)
    return masks, tuple(levels_image(overlay_levels(mask, max_side=OVERLAY_MAX)) for mask in masks.masks)


def write_png(kind: str, path: Path, picture: Path, mask: Any) -> Path:
    """Export `mask`: "mask", black and white, or "cutout", the picture with a transparent background; both
    the picture's size, written atomically. runs in: worker thread."""
    from model_tools.runtime import load_image
    from model_tools.runtime.segment.regions import cutout_png, mask_png

    data = mask_png(mask) if kind == "mask" else cutout_png(load_image(picture), mask)
    return atomic_write(path, data)


def region_file(picture: Path, mask: Any, folder: Path) -> tuple[Path, QImage]:
    """The picture cropped to the mask's box with the rest dimmed, as a PNG in `folder` (named by its
    content), and its thumbnail. runs in: worker thread."""
    import hashlib
    import io

    from model_tools.runtime import load_image
    from model_tools.runtime.segment.regions import region_picture

    region = region_picture(load_image(picture), mask)
    png = io.BytesIO()
    region.save(png, format="PNG")
    data = png.getvalue()
    path = folder / f"{Path(picture).stem}-region-{hashlib.sha1(data).hexdigest()[:12]}.png"
    if not path.exists():
        atomic_write(path, data)
    region.thumbnail((ImageReadWorker.THUMB_MAX, ImageReadWorker.THUMB_MAX))
    return path, pil_to_qimage(region)


class Segmenter(QObject):
    """The Segment tool of one window (signals: see the module's docstring); its workers run on `pool`."""

    mask_ready = Signal(object)
    busy_changed = Signal(bool)
    activity_changed = Signal(str)
    encoded = Signal(object)
    failed = Signal(object)

    def __init__(self, pool: QThreadPool, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._pool = pool
        self.model: tuple[Path, str, str] | None = None  # (folder, precision, device)
        self.pipe: SegmentPipeline | None = None
        self.picture: Path | None = None
        self.embedding: Embedding | None = None
        self.points: list[Point] = []
        self.labels: list[int] = []
        self.box: Box | None = None
        self.result: SegmentResult | None = None
        self.index = 0  # the candidate shown
        self._history: list[tuple[str, Box | None]] = []  # ("point", None) or ("box", the box it replaced)
        self._cache: OrderedDict[tuple, Embedding] = OrderedDict()
        self._encoding: dict[tuple, asyncio.Future] = {}
        self._loading: asyncio.Future | None = None
        self._version = 0  # bumped by every change of prompt, picture or model
        self._running = False
        self._jobs: dict[str, int] = {}  # activity -> how many of it run
        self._was_busy = False
        self._retired: list[Any] = []

    # -- state ---------------------------------------------------------------------------------------------

    @property
    def busy(self) -> bool:
        return bool(self._jobs)

    @property
    def activity(self) -> str:
        """What runs now, in words ("" when idle)."""
        return next(reversed(self._jobs), "")

    @property
    def mask(self) -> Any:
        """The candidate shown (bool [H, W]), or None."""
        return None if self.result is None else self.result.masks.masks[self.index]

    @property
    def iou(self) -> float | None:
        return None if self.result is None else float(self.result.masks.iou[self.index])

    def has_prompt(self) -> bool:
        return bool(self.points) or self.box is not None

    # -- choosing ------------------------------------------------------------------------------------------

    def set_model(self, path: Path | None, precision: str = "fp16", device: str = "CPU") -> None:
        """The segment model to use (None: none); a new one is loaded when first needed."""
        model = None if path is None else (Path(path), precision, device)
        if model == self.model:
            return
        self.model = model
        self._retired.append(self.pipe)
        self.pipe, self._loading, self.embedding = None, None, None
        release_later(self._pool, self._retired)
        self._changed(clear_result=True)
        if self.picture is not None and model is not None:
            self._prepare(self.picture)

    def set_picture(self, path: Path | None) -> None:
        """The picture to segment: the prompt starts over, the embedding comes from the cache or the encoder."""
        path = None if path is None else Path(path)
        if path == self.picture and (self.embedding is not None or path is None):
            return
        self.picture, self.embedding = path, None
        self.points, self.labels, self.box, self._history = [], [], None, []
        self._changed(clear_result=True)
        if path is not None and self.model is not None:
            self._prepare(path)

    # -- the prompt ----------------------------------------------------------------------------------------

    def add_point(self, x: float, y: float, positive: bool = True) -> None:
        """A point in the picture's pixels: on the object (positive) or off it."""
        self.points.append((float(x), float(y)))
        self.labels.append(POSITIVE if positive else NEGATIVE)
        self._history.append(("point", None))
        self._changed()

    def set_box(self, x0: float, y0: float, x1: float, y1: float) -> None:
        """The box around the object (replaces an earlier box; Undo brings that back)."""
        self._history.append(("box", self.box))
        self.box = (min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))
        self._changed()

    def undo(self) -> bool:
        """Take back the last point or box; False when there was nothing to take back."""
        if not self._history:
            return False
        kind, previous = self._history.pop()
        if kind == "point":
            self.points.pop()
            self.labels.pop()
        else:
            self.box = previous
        self._changed()
        return True

    def clear(self) -> bool:
        """Drop the whole prompt and the mask; False when there was nothing to drop."""
        if not self._history and self.result is None:
            return False
        self.points, self.labels, self.box, self._history = [], [], None, []
        self._changed(clear_result=True)
        return True

    def cycle(self, step: int = 1) -> None:
        """Show the next (or previous) of the three candidates."""
        if self.result is not None:
            self.index = (self.index + step) % len(self.result.levels)
            self.mask_ready.emit(self.result)

    # -- work ----------------------------------------------------------------------------------------------

    def _changed(self, *, clear_result: bool = False) -> None:
        self._version += 1
        if clear_result or not self.has_prompt():
            if self.result is not None:
                self.result = None
                self.mask_ready.emit(None)
        if self.has_prompt() and not self._running:
            spawn(self._run_segments(), self._fail)

    def _prepare(self, picture: Path) -> None:
        """Encode `picture` (or take it from the cache); busy from now on, so the window says so at once."""
        self._begin(ENCODING)
        spawn(self._encode(picture), self._fail).add_done_callback(lambda _task: self._end(ENCODING))

    def _key(self, picture: Path) -> tuple:
        assert self.model is not None
        try:
            stamp = picture.stat().st_mtime_ns
        except OSError:
            stamp = 0
        return (self.model[0], self.model[1], picture, stamp)

    async def _pipeline(self) -> SegmentPipeline:
        """The segment model, loaded on a worker the first time (one load however many ask)."""
        if self.pipe is not None:
            return self.pipe
        model = self.model
        assert model is not None
        if self._loading is None:
            self._loading = asyncio.get_running_loop().create_task(self._load(model))
        loading = self._loading
        pipe = await asyncio.shield(loading)
        if model != self.model:
            raise asyncio.CancelledError  # another model was chosen meanwhile: this one is not wanted
        self.pipe = pipe
        return pipe

    async def _load(self, model: tuple[Path, str, str]) -> SegmentPipeline:
        path, precision, device = model
        with self._job(f"Loading {path.name} for Segment…"):
            try:
                return await run_worker(self._pool, LoadWorker(path, precision, device, warm_up=False))
            except BaseException:
                if self.model == model:
                    self._loading = None  # the next use tries again
                raise

    async def _encode(self, picture: Path) -> None:
        key = self._key(picture)
        embedding = self._cache.get(key)
        if embedding is None:
            future = self._encoding.get(key)
            if future is None:
                future = asyncio.get_running_loop().create_task(self._run_encoder(key, picture))
                self._encoding[key] = future
            try:
                embedding = await asyncio.shield(future)
            except asyncio.CancelledError:
                return
        if key in self._cache:
            self._cache.move_to_end(key)
        if picture != self.picture or self.model is None or key[:2] != self.model[:2]:
            return  # another picture or model is wanted now: this one waits in the cache
        self.embedding = embedding
        self.encoded.emit(picture)
        if self.has_prompt():
            self._changed()

    async def _run_encoder(self, key: tuple, picture: Path) -> Embedding:
        try:
            pipe = await self._pipeline()
            with self._job(ENCODING):
                embedding = await run_worker(self._pool, FunctionWorker(pipe.encode, picture, name="segment-encode"))
            log.info("Encoded %s for Segment in %.0f ms", picture.name, embedding.encoder_ms)
            self._cache[key] = embedding
            while len(self._cache) > CACHED_EMBEDDINGS:
                self._cache.popitem(last=False)
            return embedding
        finally:
            self._encoding.pop(key, None)

    async def _run_segments(self) -> None:
        """Run the decoder for the newest prompt until a result matches the prompt still wanted."""
        self._running = True
        try:
            with self._job("Segmenting…"):
                while self.has_prompt() and self.embedding is not None:
                    version, picture, embedding = self._version, self.picture, self.embedding
                    points, labels, box = list(self.points), list(self.labels), self.box
                    pipe = await self._pipeline()
                    if version != self._version:
                        continue
                    worker = FunctionWorker(segment_and_draw, pipe, embedding, points, labels, box, name="segment")
                    masks, levels = await run_worker(self._pool, worker)
                    if version == self._version:
                        assert picture is not None
                        self.result = SegmentResult(picture, masks, levels, tuple(points), tuple(labels), box)
                        self.index = masks.best
                        self.mask_ready.emit(self.result)
                        return
                    log.debug("Dropped the masks of an older prompt")
        finally:
            self._running = False

    def _fail(self, exc: BaseException) -> None:
        if not isinstance(exc, asyncio.CancelledError):
            self.failed.emit(exc)

    @contextmanager
    def _job(self, activity: str) -> Iterator[None]:
        """Count `activity` as running while the block runs (busy, and what the window says)."""
        self._begin(activity)
        try:
            yield
        finally:
            self._end(activity)

    def _begin(self, activity: str) -> None:
        self._jobs[activity] = self._jobs.get(activity, 0) + 1
        self._jobs_changed()

    def _end(self, activity: str) -> None:
        self._jobs[activity] -= 1
        if not self._jobs[activity]:
            del self._jobs[activity]
        self._jobs_changed()

    def _jobs_changed(self) -> None:
        self.activity_changed.emit(self.activity)
        if self.busy != self._was_busy:
            self._was_busy = self.busy
            self.busy_changed.emit(self.busy)
