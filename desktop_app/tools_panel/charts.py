"""Bar charts (QtCharts) of a comparison report: the series come from `model_tools.library.compare_report.chart_data`."""

from __future__ import annotations

from typing import Any

from PySide6.QtCharts import QBarCategoryAxis, QBarSeries, QBarSet, QChart, QChartView, QValueAxis
from PySide6.QtCore import QMargins, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QFontMetricsF, QGuiApplication, QPainter, QPalette
from PySide6.QtWidgets import QWidget

from desktop_app.widgets.theme import is_dark

# The CLI chart's colours (compare.save_chart), so both tell the same story at a glance.
COLORS = {"fp16": "#8c9bab", "int8": "#2a7ab9"}
LABEL_PRECISION = 3  # significant digits of the values written on the bars
HEADROOM = 1.18  # the value axis goes this far above the highest bar: room for its label


def _wrap(label: str, width: int = 6) -> str:
    """A label of several words on two centred lines (axis labels take rich text), so narrow categories
    keep whole words instead of eliding them."""
    if len(label) <= width or " " not in label:
        return label
    spaces = [i for i, c in enumerate(label) if c == " "]
    cut = min(spaces, key=lambda i: abs(i - len(label) / 2))
    return f"<center>{label[:cut]}<br>{label[cut + 1 :]}</center>"


def _plain(label: str) -> str:
    return label.replace("<center>", "").replace("</center>", "").replace("<br>", " ")


class BarChartView(QChartView):
    """One bar chart: categories on x, one bar set per precision, values written on the bars (upright where
    they fit across a bar, else turned to run up from it, so neighbours never run into each other)."""

    def __init__(self, object_name: str, parent: QWidget | None = None) -> None:
        chart = QChart()
        chart.setAnimationOptions(QChart.AnimationOption.NoAnimation)
        chart.legend().setAlignment(Qt.AlignmentFlag.AlignBottom)
        chart.setMargins(QMargins(4, 4, 4, 4))
        chart.setBackgroundRoundness(6)
        super().__init__(chart, parent)
        self.setObjectName(object_name)
        self.setRenderHint(QPainter.RenderHint.Antialiasing)
        self.setMinimumSize(320, 240)
        self.series: QBarSeries | None = None
        self.spec: dict[str, Any] | None = None
        self.top, self.room = 0.0, HEADROOM
        chart.plotAreaChanged.connect(self._fit_labels)

    def set_data(self, spec: dict[str, Any]) -> None:
        """Show one chart of `chart_data(report)`: {title, unit, categories, series: [(label, precision, values)]}."""
        chart = self.chart()
        chart.removeAllSeries()
        for axis in chart.axes():
            chart.removeAxis(axis)
        self._apply_palette()
        self.spec = spec
        series = QBarSeries()
        series.setBarWidth(0.82)
        series.setLabelsVisible(True)
        series.setLabelsPosition(QBarSeries.LabelsPosition.LabelsOutsideEnd)
        series.setLabelsPrecision(LABEL_PRECISION)
        series.setLabelsFormat("@value")
        top = 0.0
        for label, precision, values in spec["series"]:
            bar_set = QBarSet(label)
            bar_set.setObjectName(precision)
            bar_set.append([float(v) for v in values])
            bar_set.setColor(QColor(COLORS.get(precision, "#5b8f5b")))
            bar_set.setBorderColor(QColor(COLORS.get(precision, "#5b8f5b")).darker(115))
            bar_set.setLabelColor(chart.titleBrush().color())
            label_font = QFont(bar_set.labelFont())
            label_font.setPointSizeF(8.0)
            bar_set.setLabelFont(label_font)
            series.append(bar_set)
            top = max([top, *[float(v) for v in values]])
        chart.addSeries(series)
        chart.setTitle(spec["title"])
        x = QBarCategoryAxis()
        x.append([_wrap(c) for c in spec["categories"]])
        chart.addAxis(x, Qt.AlignmentFlag.AlignBottom)
        series.attachAxis(x)
        y = QValueAxis()
        y.setRange(0, top * HEADROOM if top > 0 else 1)
        y.setTitleText(spec["unit"])
        y.setLabelFormat("%.3g")
        y.applyNiceNumbers()
        chart.addAxis(y, Qt.AlignmentFlag.AlignLeft)
        series.attachAxis(y)
        self._style_axes()
        self.series, self.top, self.room = series, top, HEADROOM
        self._fit_labels(chart.plotArea())

    def label_texts(self) -> list[str]:
        """The values as written on the bars (Qt writes them with %g at LABEL_PRECISION digits)."""
        return [f"{s.at(i):.{LABEL_PRECISION}g}" for s in self.bar_sets() for i in range(s.count())]

    def bar_width_px(self, plot: QRectF | None = None) -> float:
        """The width of one bar on screen."""
        plot = plot or self.chart().plotArea()
        sets, categories = len(self.bar_sets()), len(self.categories())
        if self.series is None or not sets or not categories:
            return 0.0
        return plot.width() / categories * self.series.barWidth() / sets

    def _fit_labels(self, plot: QRectF) -> None:
        """Value labels across the bars where the widest fits one bar, else up the bars (with room above)."""
        series = self.series
        if series is None or plot.width() <= 0 or not self.bar_sets():
            return
        metrics = QFontMetricsF(self.bar_sets()[0].labelFont())
        widest = max((metrics.horizontalAdvance(t) for t in self.label_texts()), default=0.0)
        turned = widest + 2 > self.bar_width_px(plot)
        angle = -90.0 if turned else 0.0
        if series.labelsAngle() != angle:
            series.setLabelsAngle(angle)
        room = max(HEADROOM, 1 + (widest + 8) / plot.height()) if turned and plot.height() > 0 else HEADROOM
        if self.top > 0 and abs(room - self.room) > 0.02:  # not for every pixel: the axis moves the plot
            self.room = room
            for axis in self.chart().axes(Qt.Orientation.Vertical):
                if isinstance(axis, QValueAxis):
                    axis.setRange(0, self.top * room)
                    axis.applyNiceNumbers()

    def bar_sets(self) -> list[QBarSet]:
        return list(self.series.barSets()) if self.series is not None else []

    def values(self) -> dict[str, list[float]]:
        """The numbers on the chart, per bar set label (what a test reads back)."""
        return {s.label(): [s.at(i) for i in range(s.count())] for s in self.bar_sets()}

    def categories(self) -> list[str]:
        for axis in self.chart().axes(Qt.Orientation.Horizontal):
            if isinstance(axis, QBarCategoryAxis):
                return [_plain(c) for c in axis.categories()]
        return []

    def _apply_palette(self) -> None:
        chart = self.chart()
        chart.setTheme(QChart.ChartTheme.ChartThemeDark if is_dark() else QChart.ChartTheme.ChartThemeLight)
        palette = QGuiApplication.palette()
        chart.setBackgroundBrush(palette.color(QPalette.ColorRole.Base))
        text = palette.color(QPalette.ColorRole.Text)
        chart.setTitleBrush(text)
        font = QFont(chart.titleFont())
        font.setBold(True)
        font.setPointSizeF(max(9.0, font.pointSizeF()))
        chart.setTitleFont(font)
        chart.legend().setLabelColor(text)

    def _style_axes(self) -> None:
        palette = QGuiApplication.palette()
        text = palette.color(QPalette.ColorRole.Text)
        grid = palette.color(QPalette.ColorRole.Mid)
        for axis in self.chart().axes():
            axis.setLabelsColor(text)
            axis.setTitleBrush(text)
            axis.setGridLineColor(grid.lighter(130) if not is_dark() else grid)
