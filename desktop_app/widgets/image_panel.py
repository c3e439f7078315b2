"""The image panel: the current picture fitted and zoomable, and a strip of this session's pictures.

Empty, it invites: "Open an image (Ctrl+O), drop one here, or paste (Ctrl+V)", with sample pictures.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon, QImage, QPainter, QPalette, QPen, QPixmap, QTransform, QWheelEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFrame,
    QGraphicsPixmapItem,
    QGraphicsScene,
    QGraphicsView,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QStackedWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from desktop_app.resources import Sample, samples
from desktop_app.widgets.image_size import ImageSizeBox

STRIP_ICON = 56
FOCUS_RING = 2  # pixels
ZOOM_STEP = 1.25
ZOOM_MIN, ZOOM_MAX = 0.05, 32.0


@dataclass
class SessionImage:
    """A picture opened in this session, as the model sees it (upright RGB)."""

    path: Path
    image: QImage
    thumbnail: QImage
    width: int
    height: int

    @property
    def name(self) -> str:
        return self.path.name


class ImageView(QGraphicsView):
    """One picture: fitted to the view until the user zooms (Ctrl+wheel, Ctrl++ / Ctrl+-), then pannable."""

    zoom_changed = Signal(float)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("imageView")
        self.setAccessibleName("Current picture")
        self.setScene(QGraphicsScene(self))
        self._item = QGraphicsPixmapItem()
        self._item.setTransformationMode(Qt.TransformationMode.SmoothTransformation)
        self.scene().addItem(self._item)
        self.setRenderHints(QPainter.RenderHint.SmoothPixmapTransform | QPainter.RenderHint.Antialiasing)
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setAcceptDrops(False)
        self.viewport().setAcceptDrops(False)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self._fit = True

    def set_image(self, image: QImage | None, name: str = "") -> None:
        self._item.setPixmap(QPixmap.fromImage(image) if image is not None else QPixmap())
        self.scene().setSceneRect(self._item.boundingRect())
        self.setAccessibleName(f"Current picture: {name}" if name else "Current picture")
        self.fit()

    def zoom(self) -> float:
        return self.transform().m11()

    def fit(self) -> None:
        self._fit = True
        if not self._item.pixmap().isNull():
            self.fitInView(self._item, Qt.AspectRatioMode.KeepAspectRatio)
            if self.zoom() > 4.0:  # tiny pictures: enlarge, but not into a blur
                self.setTransform(QTransform.fromScale(4.0, 4.0))
                self.centerOn(self._item)
        self.zoom_changed.emit(self.zoom())

    def actual_size(self) -> None:
        self._fit = False
        self.resetTransform()
        self.zoom_changed.emit(1.0)

    def zoom_by(self, factor: float) -> None:
        target = min(ZOOM_MAX, max(ZOOM_MIN, self.zoom() * factor))
        factor = target / self.zoom() if self.zoom() else 1.0
        self._fit = False
        self.scale(factor, factor)
        self.zoom_changed.emit(self.zoom())

    def wheelEvent(self, event: QWheelEvent) -> None:  # noqa: N802 - Qt override
        if event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            self.zoom_by(ZOOM_STEP if event.angleDelta().y() > 0 else 1 / ZOOM_STEP)
            event.accept()
        else:
            super().wheelEvent(event)

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        if self._fit:
            self.fit()

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt override
        """The picture, and a focus ring over its edge while the view has the keyboard focus (a style
        sheet border would need room the picture already fills)."""
        super().paintEvent(event)
        if self.hasFocus():
            painter = QPainter(self.viewport())
            pen = QPen(self.palette().color(QPalette.ColorRole.Highlight), FOCUS_RING)
            pen.setJoinStyle(Qt.PenJoinStyle.MiterJoin)
            painter.setPen(pen)
            half = FOCUS_RING // 2
            painter.drawRect(self.viewport().rect().adjusted(half, half, -half, -half))
            painter.end()

    def focusInEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().focusInEvent(event)
        self.viewport().update()

    def focusOutEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().focusOutEvent(event)
        self.viewport().update()


class ImageStrip(QListWidget):
    """Thumbnails of this session's pictures; the selected one is the current picture."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("imageStrip")
        self.setAccessibleName("Pictures in this session")
        self.setViewMode(QListWidget.ViewMode.IconMode)
        self.setFlow(QListWidget.Flow.LeftToRight)
        self.setWrapping(False)
        self.setMovement(QListWidget.Movement.Static)
        self.setIconSize(QSize(STRIP_ICON, STRIP_ICON))
        self.setSpacing(4)
        self.setFixedHeight(STRIP_ICON + 30)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setAcceptDrops(False)
        self.setDragEnabled(False)


class ImagePanel(QWidget):
    """Empty state, or the current picture above the strip of session pictures."""

    current_changed = Signal(object)  # SessionImage | None
    open_requested = Signal()
    paste_requested = Signal()
    sample_chosen = Signal(object)  # resources.Sample

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("imagePanel")
        self.images: list[SessionImage] = []
        self.view = ImageView()
        self.strip = ImageStrip()
        self.strip.currentRowChanged.connect(self._on_row_changed)
        self.caption = QLabel()
        self.caption.setObjectName("imageCaption")
        self.caption.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        viewer = QWidget()
        v = QVBoxLayout(viewer)
        v.setContentsMargins(0, 0, 0, 0)
        v.setSpacing(6)
        v.addWidget(self.view, 1)
        self.image_size = ImageSizeBox()
        self._caption_row = QHBoxLayout()
        self._caption_row.addWidget(self.caption, 1)
        self._caption_row.addWidget(self.image_size)
        v.addLayout(self._caption_row)
        v.addWidget(self.strip)

        self.empty = self._make_empty_state()
        self.stack = QStackedWidget()
        self.stack.addWidget(self.empty)
        self.stack.addWidget(viewer)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.stack)
        self.setAcceptDrops(False)

    def add_tool(self, widget: QWidget) -> None:
        """A tool's button under the picture, beside its caption (e.g. Segment). runs in: GUI thread."""
        self._caption_row.insertWidget(self._caption_row.count() - 1, widget)

    def _make_empty_state(self) -> QWidget:
        box = QFrame()
        box.setObjectName("imageEmpty")
        box.setAccessibleName("No picture yet")
        title = QLabel("Open an image (Ctrl+O), drop one here, or paste (Ctrl+V)")
        title.setObjectName("imageEmptyTitle")
        title.setWordWrap(True)
        title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_title = title
        open_button = QPushButton("&Open Image…")
        open_button.setObjectName("emptyOpen")
        open_button.setAccessibleName("Open an image")
        open_button.clicked.connect(self.open_requested)
        paste_button = QPushButton("&Paste")
        paste_button.setObjectName("emptyPaste")
        paste_button.setAccessibleName("Paste an image")
        paste_button.clicked.connect(self.paste_requested)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(open_button)
        buttons.addWidget(paste_button)
        buttons.addStretch(1)
        layout = QVBoxLayout(box)
        layout.setContentsMargins(24, 24, 24, 24)
        layout.setSpacing(14)
        layout.addStretch(2)
        icon = QLabel()
        icon.setPixmap(
            QIcon.fromTheme(
                "image-x-generic", self.style().standardIcon(self.style().StandardPixmap.SP_DirOpenIcon)
            ).pixmap(48, 48)
        )
        icon.setAlignment(Qt.AlignmentFlag.AlignCenter)
        layout.addWidget(icon)
        layout.addWidget(title)
        layout.addLayout(buttons)
        found = samples()
        if found:
            hint = QLabel("…or try a sample:")
            hint.setObjectName("imageEmptyHint")
            hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
            row = QHBoxLayout()
            row.addStretch(1)
            for sample in found:
                row.addWidget(self._sample_button(sample))
            row.addStretch(1)
            layout.addSpacing(8)
            layout.addWidget(hint)
            layout.addLayout(row)
        layout.addStretch(3)
        return box

    def _sample_button(self, sample: Sample) -> QToolButton:
        button = QToolButton()
        button.setObjectName("sampleButton")
        button.setIcon(QIcon(str(sample.path)))
        button.setIconSize(QSize(64, 64))
        button.setAutoRaise(True)
        button.setToolTip(f"{sample.title}: try “{sample.question}”")
        button.setAccessibleName(f"Sample picture: {sample.title}")
        button.clicked.connect(lambda: self.sample_chosen.emit(sample))
        return button

    # -- pictures ------------------------------------------------------------------------------------------

    def add_images(self, images: list[SessionImage]) -> None:
        """Add (or refresh) pictures and show the last one."""
        for image in images:
            row = self.index_of(image.path)
            if row is None:
                self.images.append(image)
                item = QListWidgetItem(QIcon(QPixmap.fromImage(image.thumbnail)), "")
                item.setToolTip(f"{image.name} ({image.width}×{image.height})")
                item.setData(Qt.ItemDataRole.AccessibleTextRole, image.name)
                item.setSizeHint(QSize(STRIP_ICON + 10, STRIP_ICON + 10))
                self.strip.addItem(item)
            else:
                self.images[row] = image
        if images:
            self.select(images[-1].path)

    def index_of(self, path: Path | str) -> int | None:
        target = Path(path)
        for i, image in enumerate(self.images):
            if image.path == target:
                return i
        return None

    def image_for(self, path: Path | str) -> SessionImage | None:
        row = self.index_of(path)
        return None if row is None else self.images[row]

    def select(self, path: Path | str) -> bool:
        row = self.index_of(path)
        if row is None:
            return False
        if self.strip.currentRow() == row:
            self._on_row_changed(row)
        else:
            self.strip.setCurrentRow(row)
        return True

    def step(self, delta: int) -> None:
        if self.images:
            self.strip.setCurrentRow((max(self.strip.currentRow(), 0) + delta) % len(self.images))

    def current(self) -> SessionImage | None:
        row = self.strip.currentRow()
        return self.images[row] if 0 <= row < len(self.images) else None

    def set_multi_select(self, on: bool) -> None:
        """Several pictures may be selected (Ctrl+click, Shift+click) to go with one chat message; off: only
        the current one is."""
        mode = QAbstractItemView.SelectionMode.ExtendedSelection if on else QAbstractItemView.SelectionMode.SingleSelection
        if self.strip.selectionMode() == mode:
            return
        self.strip.setSelectionMode(mode)
        if not on:
            row = self.strip.currentRow()
            self.strip.clearSelection()
            if 0 <= row < self.strip.count():
                self.strip.item(row).setSelected(True)
        self.strip.setAccessibleDescription(
            "Ctrl+click or Shift+click to send several pictures with one message" if on else ""
        )

    def selected(self) -> list[SessionImage]:
        """The pictures selected in the strip, in strip order; the current one always among them."""
        rows = {self.strip.row(item) for item in self.strip.selectedItems()}
        if 0 <= self.strip.currentRow() < len(self.images):
            rows.add(self.strip.currentRow())
        return [self.images[row] for row in sorted(rows) if 0 <= row < len(self.images)]

    def select_several(self, paths: list[Path]) -> None:
        """Select the pictures at `paths` (with multi-select on), the last of them current."""
        rows = [row for row in (self.index_of(p) for p in paths) if row is not None]
        if not rows:
            return
        self.select(self.images[rows[-1]].path)
        for row in rows:
            self.strip.item(row).setSelected(True)

    def _on_row_changed(self, row: int) -> None:
        image = self.images[row] if 0 <= row < len(self.images) else None
        self.stack.setCurrentIndex(1 if image else 0)
        if image is None:
            self.view.set_image(None)
            self.caption.setText("")
        else:
            self.view.set_image(image.image, image.name)
            self.caption.setText(f"{image.name}  ·  {image.width} × {image.height}")
            self.caption.setToolTip(str(image.path))
        self.current_changed.emit(image)

    def set_drop_highlight(self, on: bool) -> None:
        self.setProperty("dropping", on)
        self.empty.setProperty("dropping", on)
        for w in (self, self.empty):
            w.style().unpolish(w)
            w.style().polish(w)
