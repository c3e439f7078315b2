"""The Segment tool on the picture: the mask drawn over it, the prompt's points and box, and the mouse and keys.

    overlay = SegmentOverlay(image_panel.view)
    overlay.activate((width, height))           # the picture's own size: signals carry its pixels
    overlay.point_clicked.connect(...)          # (x, y, positive): a click, Shift+click or right-click
    overlay.show_mask(levels_image)             # Indexed8: 0 outside, 1 inside, 2 outline, stretched over it

While active, a click adds a point on the object, Shift+click or a right-click one off it, and a drag draws a
box; Tab / Shift+Tab step through the candidates, Ctrl+Z or Backspace undoes, Esc clears. The keys are the
overlay's only while the picture has the keyboard focus (the window's own Esc and Ctrl+Z work elsewhere).

Coordinates: the view's scene is the shown pixmap, which may be smaller than the picture (the window shows
large pictures scaled down), so picture pixels = scene pixels x (picture size / pixmap size). Mouse positions
are mapped with their fractions (`QGraphicsView.mapToScene` would round them to whole view pixels).
Every method runs in: the GUI thread.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QLineF, QObject, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import (
    QBrush,
    QColor,
    QImage,
    QKeyEvent,
    QKeySequence,
    QMouseEvent,
    QPen,
    QPixmap,
    QTransform,
)
from PySide6.QtWidgets import (
    QGraphicsEllipseItem,
    QGraphicsItem,
    QGraphicsPixmapItem,
    QGraphicsRectItem,
    QGraphicsView,
)

MASK_FILL = QColor(30, 144, 255, 110)  # translucent: the picture shows through
MASK_OUTLINE = QColor(255, 214, 0, 235)
POSITIVE_COLOR, NEGATIVE_COLOR = QColor(40, 200, 90), QColor(230, 60, 60)
MARKER = 9  # view pixels, whatever the zoom
DRAG_START = 5  # view pixels the mouse moves before a press becomes a box
MOUSE_EVENTS = (
    QEvent.Type.MouseButtonPress,
    QEvent.Type.MouseButtonDblClick,
    QEvent.Type.MouseMove,
    QEvent.Type.MouseButtonRelease,
    QEvent.Type.ContextMenu,
)
KEY_EVENTS = (QEvent.Type.ShortcutOverride, QEvent.Type.KeyPress)


class SegmentOverlay(QObject):
    """Draws over an `ImageView` and turns its mouse and keys into prompt changes while active.

    Signals: `point_clicked(x, y, positive)`, `box_drawn(x0, y0, x1, y1)` in picture pixels;
    `undo_requested()`, `clear_requested()` (Esc), `cycle_requested(step)` (Tab: 1, Shift+Tab: -1)."""

    point_clicked = Signal(float, float, bool)
    box_drawn = Signal(float, float, float, float)
    undo_requested = Signal()
    clear_requested = Signal()
    cycle_requested = Signal(int)

    def __init__(self, view: QGraphicsView) -> None:
        super().__init__(view)
        self.view = view
        self._viewport = view.viewport()
        self.active = False
        self.picture_size: tuple[int, int] = (0, 0)
        self._press: QPointF | None = None  # where (in the viewport) the press was that may become a box
        self._dragging = False
        self._drag_mode = view.dragMode()
        self._mask = QGraphicsPixmapItem()
        self._mask.setZValue(1)
        self._mask.setTransformationMode(Qt.TransformationMode.SmoothTransformation)
        self._box = self._rect_item(Qt.PenStyle.SolidLine)
        self._band = self._rect_item(Qt.PenStyle.DashLine)
        self.markers: list[QGraphicsEllipseItem] = []  # the prompt's points, as drawn
        self.shown: QImage | None = None  # the candidate drawn (its levels image), None: no mask
        for item in (self._mask, self._box, self._band):
            item.setVisible(False)
            view.scene().addItem(item)

    def _rect_item(self, style: Qt.PenStyle) -> QGraphicsRectItem:
        item = QGraphicsRectItem()
        pen = QPen(MASK_OUTLINE, 2, style)
        pen.setCosmetic(True)  # 2 view pixels at any zoom
        item.setPen(pen)
        item.setZValue(2)
        return item

    # -- on and off ----------------------------------------------------------------------------------------

    def activate(self, picture_size: tuple[int, int]) -> None:
        """Start taking the mouse and keys on the picture, which is `picture_size` (width, height) pixels."""
        self.picture_size = picture_size
        if not self.active:
            self.active = True
            self._drag_mode = self.view.dragMode()
            self.view.setDragMode(QGraphicsView.DragMode.NoDrag)
            self._viewport.setCursor(Qt.CursorShape.CrossCursor)
            self._viewport.installEventFilter(self)
            self.view.installEventFilter(self)
            self.view.setAccessibleDescription(
                "Segment: click the object, Shift+click or right-click what is not part of it, drag a box; "
                "Tab: next mask, Ctrl+Z: undo, Esc: clear"
            )
        self.show_mask(None)
        self.show_prompt([], [], None)

    def deactivate(self) -> None:
        if not self.active:
            return
        self.active = False
        self._viewport.removeEventFilter(self)
        self.view.removeEventFilter(self)
        self.view.setDragMode(self._drag_mode)
        self._viewport.unsetCursor()
        self.view.setAccessibleDescription("")
        self._press, self._dragging = None, False
        self.show_mask(None)
        self.show_prompt([], [], None)
        self._band.setVisible(False)

    # -- coordinates ---------------------------------------------------------------------------------------

    def _factors(self) -> tuple[float, float]:
        """(x, y) factors from scene (pixmap) pixels to picture pixels."""
        rect = self.view.sceneRect()
        w, h = self.picture_size
        if rect.width() <= 0 or rect.height() <= 0 or w <= 0 or h <= 0:
            return 1.0, 1.0
        return w / rect.width(), h / rect.height()

    def to_picture(self, view_pos: QPointF) -> tuple[float, float]:
        """A position in the view's viewport (with its fractions) -> the picture's pixels."""
        inverted, _ok = self.view.viewportTransform().inverted()
        scene = inverted.map(QPointF(view_pos))
        fx, fy = self._factors()
        return scene.x() * fx, scene.y() * fy

    def to_view(self, x: float, y: float) -> QPointF:
        """The picture's pixels -> a position in the view's viewport."""
        fx, fy = self._factors()
        return self.view.viewportTransform().map(QPointF(x / fx, y / fy))

    def _inside(self, x: float, y: float) -> bool:
        w, h = self.picture_size
        return 0 <= x <= w and 0 <= y <= h

    # -- drawing -------------------------------------------------------------------------------------------

    def show_mask(self, levels: QImage | None) -> None:
        """Draw a candidate (0 outside, 1 inside, 2 outline; the picture's size or smaller) over the picture."""
        self.shown = None if levels is None or levels.isNull() else levels
        if self.shown is None:
            self._mask.setVisible(False)
            self._mask.setPixmap(QPixmap())
            return
        tinted = QImage(levels)
        tinted.setColorTable([QColor(0, 0, 0, 0).rgba(), MASK_FILL.rgba(), MASK_OUTLINE.rgba()])
        self._mask.setPixmap(QPixmap.fromImage(tinted))
        rect = self.view.sceneRect()  # the image may be smaller than the picture: stretched over it
        self._mask.setTransform(QTransform.fromScale(rect.width() / levels.width(), rect.height() / levels.height()))
        self._mask.setVisible(True)

    def show_prompt(self, points: list[tuple[float, float]], labels: list[int], box) -> None:
        """The prompt's points (green on the object, red off it) and its box."""
        scene = self.view.scene()
        for marker in self.markers:
            scene.removeItem(marker)
        self.markers = []
        fx, fy = self._factors()
        for (x, y), label in zip(points, labels, strict=True):
            marker = QGraphicsEllipseItem(-MARKER / 2, -MARKER / 2, MARKER, MARKER)
            marker.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations)
            marker.setPos(x / fx, y / fy)
            marker.setBrush(QBrush(POSITIVE_COLOR if label else NEGATIVE_COLOR))
            marker.setPen(QPen(QColor("white"), 1.5))
            marker.setZValue(3)
            scene.addItem(marker)
            self.markers.append(marker)
        if box is None:
            self._box.setVisible(False)
        else:
            x0, y0, x1, y1 = box
            self._box.setRect(QRectF(QPointF(x0 / fx, y0 / fy), QPointF(x1 / fx, y1 / fy)))
            self._box.setVisible(True)

    # -- mouse and keys ------------------------------------------------------------------------------------

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt override
        kind = event.type()  # first: while the view is being deleted only other kinds of events come
        if kind in MOUSE_EVENTS and self.active and watched is self._viewport:
            if kind == QEvent.Type.MouseMove:
                return self._moved(event)  # type: ignore[arg-type]
            if kind == QEvent.Type.MouseButtonRelease:
                return self._released(event)  # type: ignore[arg-type]
            if kind in (QEvent.Type.ContextMenu, QEvent.Type.MouseButtonDblClick):
                return True  # the right button marks what is not part of the object; a double-click is one click
            return self._pressed(event)  # type: ignore[arg-type]
        if kind in KEY_EVENTS and self.active and watched is self.view:
            return self._key(event)  # type: ignore[arg-type]
        return super().eventFilter(watched, event)

    def _pressed(self, event: QMouseEvent) -> bool:
        if event.button() not in (Qt.MouseButton.LeftButton, Qt.MouseButton.RightButton):
            return False
        self.view.setFocus(Qt.FocusReason.MouseFocusReason)
        self._press = event.position()
        self._dragging = False
        return True

    def _moved(self, event: QMouseEvent) -> bool:
        if self._press is None or not event.buttons() & Qt.MouseButton.LeftButton:
            return self._press is not None
        if QLineF(self._press, event.position()).length() >= DRAG_START:
            self._dragging = True
        if self._dragging:
            fx, fy = self._factors()
            (x0, y0), (x1, y1) = self._clamped(self._press), self._clamped(event.position())
            self._band.setRect(QRectF(QPointF(x0 / fx, y0 / fy), QPointF(x1 / fx, y1 / fy)).normalized())
            self._band.setVisible(True)
        return True

    def _released(self, event: QMouseEvent) -> bool:
        press, dragging = self._press, self._dragging
        self._press, self._dragging = None, False
        self._band.setVisible(False)
        if press is None:
            return False
        if dragging and event.button() == Qt.MouseButton.LeftButton:
            (x0, y0), (x1, y1) = self._clamped(press), self._clamped(event.position())
            if abs(x1 - x0) >= 1 and abs(y1 - y0) >= 1:
                self.box_drawn.emit(min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))
            return True
        x, y = self.to_picture(press)
        if self._inside(x, y):
            shift = bool(event.modifiers() & Qt.KeyboardModifier.ShiftModifier)
            positive = event.button() == Qt.MouseButton.LeftButton and not shift
            self.point_clicked.emit(x, y, positive)
        return True

    def _clamped(self, view_pos: QPointF) -> tuple[float, float]:
        x, y = self.to_picture(view_pos)
        w, h = self.picture_size
        return min(max(x, 0.0), float(w)), min(max(y, 0.0), float(h))

    def _key(self, event: QKeyEvent) -> bool:
        """Tab, Shift+Tab, Ctrl+Z, Backspace and Esc are the tool's while the picture has the focus."""
        key, mods = event.key(), event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier
        if key in (Qt.Key.Key_Tab, Qt.Key.Key_Backtab) and not mods & ~Qt.KeyboardModifier.ShiftModifier:
            action = lambda: self.cycle_requested.emit(-1 if key == Qt.Key.Key_Backtab or mods else 1)  # noqa: E731
        elif event.matches(QKeySequence.StandardKey.Undo) or (key == Qt.Key.Key_Backspace and not mods):
            action = self.undo_requested.emit
        elif key == Qt.Key.Key_Escape and not mods:
            action = self.clear_requested.emit
        else:
            return False
        if event.type() == QEvent.Type.ShortcutOverride:
            event.accept()  # the key comes to the picture, not to the window's Esc or Undo shortcut
            return True
        action()
        return True
