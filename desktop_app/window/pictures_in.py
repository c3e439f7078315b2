"""Pictures coming in: from drops, the clipboard and text holding file paths, as paths or raw image data.

Nothing here decodes pictures: `workers.ImageReadWorker` does, with the runtime's `load_image`, so exotic
files (CMYK, 16-bit, palette, alpha, animated, EXIF-rotated) behave as in the CLI.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlparse

from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QMimeData, QUrl
from PySide6.QtGui import QImage

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
