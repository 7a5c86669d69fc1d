"""Charts as SVG drawn on the server (pygal), shown as images: no script, nothing fetched."""

import base64
import math
import re

import pygal
from flask_babel import gettext as _
from pygal.style import Style

SCRIPT = re.compile(rb"<script\b.*?</script>", re.S)
STYLE = Style(
    background="#ffffff", plot_background="#ffffff", foreground="#1b1f24",
    foreground_strong="#1b1f24", foreground_subtle="#4a5560", font_family="sans-serif",
    label_font_size=13, major_label_font_size=13, legend_font_size=13, title_font_size=16,
    value_font_size=12,
    colors=("#0b5c8a", "#a4161a", "#1e6b34", "#7a4d00", "#5b2a86", "#00707a", "#8a3b0b",
            "#333333"),
)


def _image(chart) -> str:
    """A data: URL of the chart, for an <img> (its own styles stay inside the image).

    pygal writes its configuration into a <script> even without its JavaScript; an image
    never runs it, but it has no business in the page, so it goes."""
    svg = SCRIPT.sub(b"", chart.render())
    return "data:image/svg+xml;base64," + base64.b64encode(svg).decode()


def _whole_ticks(values) -> list[int]:
    """Axis ticks on whole numbers: counts of people have no fractions, even near zero."""
    top = max([v for v in values if v is not None] or [0])
    step = max(1, math.ceil(top / 8))
    return list(range(0, top + step + 1, step))


def _whole(value) -> str:
    return f"{value:,.0f}"


def _base(kind, **options):
    return kind(style=STYLE, js=[], disable_xml_declaration=False, width=800, height=380,
                no_data_text=_("Nothing published"),
                legend_at_bottom=True, legend_at_bottom_columns=3, print_values=False,
                show_minor_x_labels=True, truncate_legend=40, **options)


def lines(title: str, labels: list[str], series: dict[str, list], *, percent=False) -> str:
    """One line per series; a suppressed value (None) is a gap in its line."""
    chart = _base(pygal.Line, title=title, allow_interruptions=True, x_label_rotation=30,
                  range=(0, 1) if percent else None,
                  value_formatter=(lambda v: f"{v:.0%}") if percent else _whole)
    chart.x_labels = labels
    if not percent:
        chart.y_labels = _whole_ticks(v for values in series.values() for v in values)
    for name, values in series.items():
        chart.add(name, values)
    return _image(chart)


def bars(title: str, values: dict[str, int | None]) -> str:
    """Horizontal bars, largest first; a suppressed value draws no bar."""
    chart = _base(pygal.HorizontalBar, title=title, show_legend=False, value_formatter=_whole)
    ordered = sorted(values.items(), key=lambda item: -(item[1] or 0))
    chart.x_labels = [name for name, _ in ordered]
    chart.y_labels = _whole_ticks(values.values())
    chart.add(title, [value for _, value in ordered])
    return _image(chart)
