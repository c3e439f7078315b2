"""Pictures coming in: from drops, the clipboard and text holding file paths, as paths or raw image data.

`PictureIntake` does it for the main window: the Open dialog, paste, drops, and the pictures read coming
back to the strip. Nothing here decodes pictures: `workers.ImageReadWorker` does, with the runtime's
`load_image`, so exotic files (CMYK, 16-bit, palette, alpha, animated, EXIF-rotated) behave as in the CLI.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlparse

from PySide6.QtCore import QBuffer, QByteArray, QEvent, QIODevice, QMimeData, QObject, QUrl
from PySide6.QtGui import QGuiApplication, QImage
from PySide6.QtWidgets import QFileDialog, QMainWindow

from desktop_app.widgets.error_dialog import show_error
from desktop_app.widgets.image_panel import SessionImage
from model_tools.runtime import ImageError, paths
from model_tools.runtime.errors import explain

if TYPE_CHECKING:
    from desktop_app.resources import Sample
    from desktop_app.session.workers import ImageRead

IMAGE_SUFFIXES = (
    ".png",
    ".jpg",
    ".jpeg",
    ".webp",
    ".bmp",
    ".gif",
    ".tif",
    ".tiff",
    ".ppm",
    ".pgm",
    ".ico",
    ".jfif",
)
# Raw formats other applications put on the clipboard or in drags, most faithful first.
RAW_FORMATS = ("image/png", "image/jpeg", "image/webp", "image/gif", "image/bmp", "image/tiff", "image/x-bmp")
DROP_EVENTS = (QEvent.Type.DragEnter, QEvent.Type.DragMove, QEvent.Type.DragLeave, QEvent.Type.Drop)
OPEN_FILTER = "Images (" + " ".join(f"*{s}" for s in IMAGE_SUFFIXES) + " *.PNG *.JPG *.JPEG);;All files (*)"


@dataclass
class Incoming:
    """What a drop or paste holds: picture sources (paths or encoded bytes), what was skipped, with why,
    and paths named in text that do not exist."""

    sources: list[Path | bytes] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.sources or self.skipped or self.missing)


def qimage_to_png(image: QImage) -> bytes:
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    image.save(buffer, "PNG")  # type: ignore[call-overload]  # the stub says bytes; PySide wants str
    buffer.close()
    return bytes(data.data())


def path_from_text(line: str) -> Path | None:
    """A local file named by a line of text: a plain path, a quoted one, or a file:// URL."""
    text = line.strip().strip('"').strip("'")
    if not text:
        return None
    if text.startswith("file:"):
        url = QUrl(text)
        local = url.toLocalFile() if url.isLocalFile() else unquote(urlparse(text).path)
        text = local
    path = Path(text).expanduser()
    try:
        return path if path.exists() else None
    except OSError:
        return None


def looks_like_path(line: str) -> bool:
    """Whether a line of text is meant as a file's path or file:// URL (whether or not the file exists)."""
    text = line.strip().strip('"').strip("'")
    if "://" in text and not text.startswith("file:"):
        return False  # a web address (said elsewhere: Glimpse opens pictures on this computer only)
    if text.startswith(("file:", "/", "~", "./", "../", "\\\\")) or re.match(r"^[A-Za-z]:[\\/]", text):
        return True
    return text.lower().endswith(IMAGE_SUFFIXES) and ("/" in text or "\\" in text or " " not in text)


def missing_paths(text: str) -> list[str]:
    """Lines of `text` that name files which do not exist, if every line looks like a path (else [])."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines or len(lines) > 200 or not all(looks_like_path(line) for line in lines):
        return []
    return [line for line in lines if path_from_text(line) is None]


def paths_in_text(text: str) -> list[Path]:
    """All lines of `text` if each names an existing file or folder; otherwise [] (it is just text)."""
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines or len(lines) > 200:
        return []
    found = [path_from_text(line) for line in lines]
    return [p for p in found if p is not None] if all(found) else []


def from_mime(mime: QMimeData | None, *, text_paths: bool = True) -> Incoming:
    """Picture sources in a drop or the clipboard; text counts only if every line is an existing path."""
    incoming = Incoming()
    if mime is None:
        return incoming
    remote: list[str] = []
    if mime.hasUrls():
        for url in mime.urls():
            if url.isLocalFile():
                incoming.sources.append(Path(url.toLocalFile()))
            elif url.scheme() in ("http", "https", "ftp", "data"):
                remote.append(url.toString())
    if not incoming.sources:
        data = _image_bytes(mime)
        if data:
            incoming.sources.append(data)
    if not incoming.sources and text_paths and mime.hasText():
        incoming.sources.extend(paths_in_text(mime.text()))
        if not incoming.sources:
            incoming.missing.extend(missing_paths(mime.text()))
    if remote and not incoming.sources:
        incoming.skipped.extend(
            f"{u[:80]}: Glimpse opens pictures on this computer only; save it first, then open the file."
            for u in remote
        )
    return incoming


def _image_bytes(mime: QMimeData) -> bytes | None:
    for fmt in RAW_FORMATS:
        if mime.hasFormat(fmt):
            raw = bytes(mime.data(fmt).data())
            if raw:
                return raw
    if mime.hasImage():
        image = mime.imageData()
        if isinstance(image, QImage) and not image.isNull():
            return qimage_to_png(image)
        if hasattr(image, "toImage"):  # a QPixmap
            qimage = image.toImage()
            if not qimage.isNull():
                return qimage_to_png(qimage)
    return None


def has_pictures(mime: QMimeData | None) -> bool:
    """Cheap check for drag-enter: could this drop hold pictures?"""
    if mime is None:
        return False
    if mime.hasUrls() or mime.hasImage():
        return True
    if any(mime.hasFormat(f) for f in RAW_FORMATS):
        return True
    return mime.hasText() and bool(paths_in_text(mime.text()))


def image_failure(failed: list[ImageRead], total: int) -> BaseException:
    """One error for the pictures of a batch that could not be opened (the error itself for just one)."""
    if len(failed) == 1:
        return failed[0].error  # type: ignore[return-value]
    reasons = "; ".join(explain(r.error).message for r in failed if r.error is not None)
    fix = "The other pictures were opened." if total > len(failed) else "Try PNG, JPEG, WebP, BMP, GIF or TIFF."
    return ImageError(f"{len(failed)} of {total} files could not be opened: {reasons}", fix)


class PictureIntake(QObject):
    """Pictures into `window`: read on a worker, good ones join the strip, bad ones are reported, all in one
    go; the window's `images_added` and `images_failed` say so after each batch. It watches the window's
    drag and drop events too (an event filter)."""

    def __init__(self, window: QMainWindow) -> None:
        super().__init__(window)
        self.window = window
        window.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt override
        """Drags onto the window: pictures are welcome (the strip lights up), anything else is refused."""
        kind, panel = event.type(), self.window.image_panel
        if watched is not self.window or kind not in DROP_EVENTS:
            return super().eventFilter(watched, event)
        if kind == QEvent.Type.DragLeave:
            panel.set_drop_highlight(False)
        elif kind == QEvent.Type.Drop:
            panel.set_drop_highlight(False)
            if self.take_mime(event.mimeData()):  # type: ignore[attr-defined]
                event.acceptProposedAction()  # type: ignore[attr-defined]
            else:
                event.ignore()
        elif has_pictures(event.mimeData()):  # type: ignore[attr-defined]
            event.acceptProposedAction()  # type: ignore[attr-defined]
            if kind == QEvent.Type.DragEnter:
                panel.set_drop_highlight(True)
        elif kind == QEvent.Type.DragEnter:
            event.ignore()
        return True

    def choose_files(self) -> None:
        recent = self.window.settings.recent_files
        start = str(Path(recent[0]).parent) if recent else ""
        files, _ = QFileDialog.getOpenFileNames(self.window, "Open pictures", start, OPEN_FILTER)
        if files:
            self.read([Path(f) for f in files])

    def read(self, sources: list[Path | bytes]) -> None:
        if sources:
            self.window.status.showMessage(
                f"Opening {len(sources)} picture{'s' if len(sources) > 1 else ''}…", 2000
            )
            self.window.controller.read_images(sources, paths.scratch_dir("pasted"), self._preview_size())

    def _preview_size(self) -> int:
        """Pixels a picture's preview needs: the screen's longer side (the model reads the file itself)."""
        screen = self.window.screen() or QGuiApplication.primaryScreen()
        if screen is None:
            return 0
        size = screen.size() * screen.devicePixelRatio()
        return max(size.width(), size.height())

    def take_mime(self, mime: QMimeData | None) -> bool:
        """Pictures from a drop or the clipboard (files, image data, or text naming files). True if any, or if
        the text named files that do not exist (said in a notice)."""
        incoming = from_mime(mime)
        if incoming.skipped:
            self.window.notify(" ".join(incoming.skipped), "warning")
        if incoming.missing:
            self.window.notify(
                f"No such file: {', '.join(incoming.missing)}. Check the path, or open the picture (Ctrl+O).",
                "warning",
            )
        self.read(incoming.sources)
        return bool(incoming.sources or incoming.missing)

    def paste(self) -> None:
        """Edit ▸ Paste: pictures join the strip; other text goes into the question box."""
        mime = QGuiApplication.clipboard().mimeData()
        if self.take_mime(mime):
            return
        edit = self.window.ask_bar.edit
        if mime is not None and mime.hasText() and mime.text().strip():
            edit.insertPlainText(mime.text())
            edit.setFocus()
        else:
            self.window.notify(
                "The clipboard holds no picture. Copy an image or a picture file, then paste.", "info", 6000
            )

    def on_images_read(self, results: list[ImageRead]) -> None:
        window = self.window
        added: list[SessionImage] = []
        failed: list[ImageRead] = []
        for r in results:
            if r.error is None and r.path is not None:
                added.append(SessionImage(r.path, r.image, r.thumbnail, r.width, r.height))
                if isinstance(r.source, Path):
                    window.settings.add_recent(r.path)
            else:
                failed.append(r)
        window.image_panel.add_images(added)
        for image in added:
            window.chat.set_thumbnail(str(image.path), image.thumbnail)
        if failed:
            show_error(window, image_failure(failed, len(results)))
        if added:
            names = ", ".join(i.name for i in added[:3])
            window.status.showMessage(f"Opened {names}{' …' if len(added) > 3 else ''}", 4000)
        window.images_added.emit(added)
        if failed:
            window.images_failed.emit(failed)

    def on_sample_chosen(self, sample: Sample) -> None:
        self.read([sample.path])
        edit = self.window.ask_bar.edit
        if not edit.toPlainText().strip():
            # A suggestion, selected: Enter asks it, typing replaces it.
            edit.setPlainText(sample.question)
            edit.selectAll()
        edit.setFocus()
