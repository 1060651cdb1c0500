"""Small server-drawn SVG bar charts, each with a text alternative, so pages need no chart library
and a screen reader gets the same figures as a table."""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

from markupsafe import Markup

BAR = "#0b4f8a"  # 8:1 against white
AXIS = "#4a4a4a"


def bar_chart(points: Sequence[tuple[str, float | str]], title: str, *, unit: str = "", height: int = 160,
              label_every: int = 1, table_caption: str | None = None, wide: bool = False) -> Markup:
    """A bar per point (label, value); every ``label_every``-th label is printed under its bar. A
    value that is text (a figure withheld, "<5") gets no bar: its height would give it away. A wide
    chart fills a report page's width at a readable height; the others stay legible on a phone."""
    n = max(len(points), 1)
    width = max(960 if wide else 320, n * 6)
    top = max((v for _, v in points if not isinstance(v, str)), default=0) or 1
    bar_w = width / n
    # Print no more labels than fit side by side (about 6.5 units a character at this size).
    widest = max((len(label) for label, _ in points), default=0) * 6.5 + 6
    label_every = max(label_every, math.ceil(widest / bar_w))
    plot_h = height - 24
    bars, labels = [], []
    for i, (label, value) in enumerate(points):
        h = 0 if isinstance(value, str) else plot_h * value / top
        x = i * bar_w
        bars.append(f'<rect x="{x:.1f}" y="{plot_h - h:.1f}" width="{max(bar_w - 1, 1):.1f}" height="{h:.1f}" '
                    f'fill="{BAR}"><title>{escape(label)}: {_figure(value)}{escape(unit)}</title></rect>')
        if i % label_every == 0:
            labels.append(f'<text x="{x:.1f}" y="{height - 6}" font-size="11" fill="{AXIS}">{escape(label)}</text>')
    svg = (f'<svg class="chart{" wide-chart" if wide else ""}" viewBox="0 0 {width} {height}" role="img" '
           f'aria-label="{escape(title)}" focusable="false">'
           f'<line x1="0" y1="{plot_h}" x2="{width}" y2="{plot_h}" stroke="{AXIS}"/>'
           + "".join(bars) + "".join(labels) + "</svg>")
    rows = "".join(f"<tr><th scope=row>{escape(label)}</th><td>{_figure(value)}{escape(unit)}</td></tr>"
                   for label, value in points)
    table = (f'<details class="chart-table"><summary>{escape(table_caption or "Show the figures as a table")}</summary>'
             f"<table><thead><tr><th scope=col>When</th><th scope=col>{escape(title)}</th></tr></thead>"
             f"<tbody>{rows}</tbody></table></details>")
    return Markup(f'<figure class="chart-figure"><figcaption>{escape(title)}</figcaption>{svg}{table}</figure>')


def _figure(value: float | str) -> str:
    return escape(value) if isinstance(value, str) else f"{value:g}"
