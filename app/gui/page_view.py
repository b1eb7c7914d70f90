"""The page: image, regions, line polygons and baselines in a QGraphicsView.

Wheel zooms around the mouse, dragging pans, a click selects a line. In drawing mode clicks
add baseline points; a double click, Enter or a right click finishes the line, Esc cancels.
"""

from __future__ import annotations

from PySide6.QtCore import QEasingCurve, QPointF, QRectF, Qt, QVariantAnimation, Signal
from PySide6.QtGui import (QBrush, QColor, QImage, QImageReader, QKeyEvent, QMouseEvent,
                           QPainter, QPainterPath, QPen, QPixmap, QPolygonF, QTransform,
                           QWheelEvent)
from PySide6.QtWidgets import (QGraphicsPathItem, QGraphicsPixmapItem, QGraphicsPolygonItem,
                               QGraphicsScene, QGraphicsView)

from engine.document import Line, Origin, Page

LINE_COLOUR = QColor(30, 110, 220)
PERSON_COLOUR = QColor(20, 150, 60)
CURRENT_COLOUR = QColor(230, 120, 0)
REGION_COLOUR = QColor(150, 60, 180)
CLICK_SLOP = 4  # pixels the mouse may move and still count as a click
MIN_SCALE, MAX_SCALE = 0.02, 20.0
EMPTY_HINT = "Open a folder of page images (Ctrl+O) or drop it here."
ZOOM_MS = 120  # length of the zoom animation


def _pen(colour: QColor, width: float = 1.5, style=Qt.SolidLine) -> QPen:
    pen = QPen(colour, width, style)
    pen.setCosmetic(True)  # same on-screen width at every zoom
    return pen


def _polygon(points) -> QPolygonF:
    return QPolygonF([QPointF(x, y) for x, y in points])


class LineItem(QGraphicsPolygonItem):
    """One text line: its polygon, with its baseline as a child."""

    def __init__(self, line: Line) -> None:
        super().__init__(_polygon(line.polygon or line.baseline))
        self.line_id = line.id
        self.person = line.origin == Origin.PERSON
        self.baseline = QGraphicsPathItem(self)
        if line.baseline:
            path = QPainterPath(QPointF(*line.baseline[0]))
            for x, y in line.baseline[1:]:
                path.lineTo(x, y)
            self.baseline.setPath(path)
        self.setZValue(2)
        self.set_current(False)

    def set_current(self, current: bool) -> None:
        colour = CURRENT_COLOUR if current else (PERSON_COLOUR if self.person else LINE_COLOUR)
        fill = QColor(colour)
        fill.setAlpha(60 if current else 18)
        self.setPen(_pen(colour, 2.5 if current else 1.2))
        self.setBrush(QBrush(fill))
        self.baseline.setPen(_pen(colour.darker(130), 2.0))


class PageView(QGraphicsView):
    lineClicked = Signal(str)
    baselineDrawn = Signal(list)  # [(x, y), ...] in page pixels
    imageFailed = Signal(str)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setScene(QGraphicsScene(self))
        self.setRenderHints(QPainter.Antialiasing | QPainter.SmoothPixmapTransform)
        self.setTransformationAnchor(QGraphicsView.AnchorUnderMouse)
        self.setResizeAnchor(QGraphicsView.AnchorViewCenter)
        self.setBackgroundBrush(QColor(70, 70, 74))
        self.setFocusPolicy(Qt.ClickFocus)
        self.image = QImage()
        self.items_by_id: dict[str, LineItem] = {}
        self.current_id = ""
        self.drawing = False
        self._draft: list[tuple[int, int]] = []
        self._draft_item: QGraphicsPathItem | None = None
        self._press: QPointF | None = None
        self._panning = False
        self._image_path = ""
        self._pixmap_item: QGraphicsPixmapItem | None = None
        self._zoom_anchor: tuple[QPointF, QPointF] | None = None  # scene point, viewport point
        self._zoom_animation = QVariantAnimation(self)
        self._zoom_animation.setDuration(ZOOM_MS)
        self._zoom_animation.setEasingCurve(QEasingCurve.OutCubic)
        self._zoom_animation.valueChanged.connect(self._set_scale)

    # -- content ---------------------------------------------------------------------------
    def show_page(self, page: Page | None, image_path: str = "") -> None:
        """Show a page (None clears the view); the image is reloaded only when it changes."""
        self.cancel_drawing()
        new_image = image_path != self._image_path
        if new_image:
            self._image_path = image_path
            self.image = QImage()
            if image_path:
                reader = QImageReader(image_path)
                reader.setAutoTransform(True)  # as engine.imaging: EXIF-oriented pixels
                self.image = reader.read()
                if self.image.isNull():
                    self.imageFailed.emit(f"{image_path}: {reader.errorString()}")
            self.scene().clear()
            self._pixmap_item = None
            if not self.image.isNull():
                self._pixmap_item = self.scene().addPixmap(QPixmap.fromImage(self.image))
        else:  # same image: only the lines and regions are drawn again
            for item in self.scene().items():
                if item is not self._pixmap_item and item.parentItem() is None:
                    self.scene().removeItem(item)
        self.items_by_id = {}
        self._draft_item = None
        if page is None:
            self.scene().setSceneRect(QRectF())
            return
        self.scene().setSceneRect(QRectF(0, 0, page.width, page.height))
        for region in page.regions:
            if len(region.polygon) >= 3:
                item = self.scene().addPolygon(_polygon(region.polygon),
                                               _pen(REGION_COLOUR, 1.0, Qt.DashLine))
                item.setZValue(1)
            for line in region.lines:
                item = LineItem(line)
                self.scene().addItem(item)
                self.items_by_id[line.id] = item
        self.set_current_line(self.current_id, center=False)
        if new_image:
            self.fit_page()

    def set_current_line(self, line_id: str, center: bool = True) -> None:
        old = self.items_by_id.get(self.current_id)
        if old is not None:
            old.set_current(False)
        self.current_id = line_id
        item = self.items_by_id.get(line_id)
        if item is not None:
            item.set_current(True)
            if center:
                self.ensureVisible(item, 40, 40)

    def line_crop(self, line: Line, pad: int = 6) -> QImage:
        """The image under a line's bounding box (empty when the image is missing)."""
        if self.image.isNull():
            return QImage()
        x0, y0, x1, y1 = line.bbox()
        rect = QRectF(x0 - pad, y0 - pad, x1 - x0 + 2 * pad, y1 - y0 + 2 * pad).toRect()
        return self.image.copy(rect.intersected(self.image.rect()))

    def drawForeground(self, painter: QPainter, rect: QRectF) -> None:
        if not self.scene().items():  # nothing open yet: say how to start
            painter.save()
            painter.resetTransform()
            painter.setPen(QColor(220, 220, 220))
            painter.drawText(self.viewport().rect(), Qt.AlignCenter | Qt.TextWordWrap,
                             EMPTY_HINT)
            painter.restore()

    # -- zoom and pan ----------------------------------------------------------------------
    def zoom(self, factor: float) -> None:
        scale = self.transform().m11()
        factor = min(max(factor, MIN_SCALE / scale), MAX_SCALE / scale)
        self.scale(factor, factor)

    def fit_page(self) -> None:
        if not self.scene().sceneRect().isEmpty():
            self.fitInView(self.scene().sceneRect(), Qt.KeepAspectRatio)

    def wheelEvent(self, event: QWheelEvent) -> None:
        """Zoom around the mouse, animated; a factor per eighth of a degree suits touchpads."""
        current = self.transform().m11()
        running = self._zoom_animation.state() == QVariantAnimation.Running
        start = float(self._zoom_animation.endValue()) if running else current
        target = min(max(start * 1.0015 ** event.angleDelta().y(), MIN_SCALE), MAX_SCALE)
        self._zoom_anchor = (self.mapToScene(event.position().toPoint()), event.position())
        self._zoom_animation.stop()
        self._zoom_animation.setStartValue(current)
        self._zoom_animation.setEndValue(target)
        self._zoom_animation.start()
        event.accept()

    def _set_scale(self, value: float) -> None:
        anchor = self.transformationAnchor()
        self.setTransformationAnchor(QGraphicsView.NoAnchor)
        self.setTransform(QTransform.fromScale(float(value), float(value)))
        self.setTransformationAnchor(anchor)
        if self._zoom_anchor is not None:  # keep the point under the mouse where it was
            scene_point, view_point = self._zoom_anchor
            delta = QPointF(self.mapFromScene(scene_point)) - view_point
            hbar, vbar = self.horizontalScrollBar(), self.verticalScrollBar()
            hbar.setValue(hbar.value() + round(delta.x()))
            vbar.setValue(vbar.value() + round(delta.y()))

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.RightButton and self.drawing:
            self.finish_drawing()
            return
        if event.button() == Qt.LeftButton:
            self._press = event.position()
            self._panning = False
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self._press is not None and event.buttons() & Qt.LeftButton:
            delta = event.position() - self._press
            if self._panning or abs(delta.x()) + abs(delta.y()) > CLICK_SLOP:
                self._panning = True
                self.viewport().setCursor(Qt.ClosedHandCursor)
                hbar, vbar = self.horizontalScrollBar(), self.verticalScrollBar()
                hbar.setValue(hbar.value() - int(delta.x()))
                vbar.setValue(vbar.value() - int(delta.y()))
                self._press = event.position()
            return
        if self.drawing and self._draft:  # rubber band from the last point to the mouse
            self._draw_draft(self.mapToScene(event.position().toPoint()))
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.LeftButton and self._press is not None:
            if not self._panning:
                self._click(self.mapToScene(event.position().toPoint()))
            self._press, self._panning = None, False
            self._update_cursor()
            return
        super().mouseReleaseEvent(event)

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:
        if self.drawing:
            self.finish_drawing()
            return
        super().mouseDoubleClickEvent(event)

    def _click(self, pos: QPointF) -> None:
        if self.drawing:
            self.add_draft_point(pos)
            return
        for item in self.scene().items(pos):
            if isinstance(item, LineItem) and item.contains(item.mapFromScene(pos)):
                self.lineClicked.emit(item.line_id)
                return

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if self.drawing and event.key() in (Qt.Key_Return, Qt.Key_Enter):
            self.finish_drawing()
        elif self.drawing and event.key() == Qt.Key_Escape:
            self.cancel_drawing()
        else:
            super().keyPressEvent(event)

    # -- drawing a baseline ----------------------------------------------------------------
    def _update_cursor(self) -> None:
        if self.drawing:
            self.viewport().setCursor(Qt.CrossCursor)
        else:
            self.viewport().unsetCursor()

    def start_drawing(self) -> None:
        self.drawing = True
        self._draft = []
        self._update_cursor()
        self.setFocus()

    def add_draft_point(self, pos: QPointF) -> None:
        rect = self.scene().sceneRect()
        x = int(min(max(pos.x(), rect.left()), rect.right() - 1))
        y = int(min(max(pos.y(), rect.top()), rect.bottom() - 1))
        self._draft.append((x, y))
        self._draw_draft()

    def _draw_draft(self, mouse: QPointF | None = None) -> None:
        path = QPainterPath(QPointF(*self._draft[0]))
        for px, py in self._draft[1:]:
            path.lineTo(px, py)
        if mouse is not None:
            path.lineTo(mouse)
        if self._draft_item is None:
            self._draft_item = self.scene().addPath(path, _pen(CURRENT_COLOUR, 2.5, Qt.DashLine))
            self._draft_item.setZValue(5)
        else:
            self._draft_item.setPath(path)

    def finish_drawing(self) -> None:
        points = list(dict.fromkeys(self._draft))
        self.cancel_drawing()
        if len(points) >= 2:
            self.baselineDrawn.emit(points)

    def cancel_drawing(self) -> None:
        self.drawing = False
        self._draft = []
        if self._draft_item is not None:
            self.scene().removeItem(self._draft_item)
            self._draft_item = None
        self._update_cursor()
