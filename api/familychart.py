"""The family page's week: one horizontal bar a day, today's hatched and labelled "so far", so a
day that is not over never looks like a collapse next to full days. Drawn by the server as SVG;
the figures (split by kind) are in a table beside it."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from markupsafe import Markup

from tecwatch.registry.familyweek import DayActivity

BAR = "#0b4f8a"
INK = "#1a1a1a"
ROW = 30
LABEL_W = 92
BAR_W = 190


def week_chart(days: Sequence[DayActivity], title: str) -> Markup:
    top = max((d.total for d in days), default=0) or 1
    height = ROW * len(days) + 6
    rows = []
    for i, d in enumerate(days):
        y = i * ROW + 4
        w = BAR_W * d.total / top
        fill = "url(#so-far)" if d.so_far else BAR
        label = f"{d.day:%a} {d.day.day} {d.day:%b}"
        figure = f"{d.total} so far" if d.so_far else str(d.total)
        rows.append(f'<text x="0" y="{y + 17}" font-size="13" fill="{INK}">{escape(label)}</text>'
                    f'<rect x="{LABEL_W}" y="{y}" width="{max(w, 1):.1f}" height="{ROW - 8}" fill="{fill}" '
                    f'stroke="{BAR}"/>'
                    f'<text x="{LABEL_W + max(w, 1) + 6:.1f}" y="{y + 17}" font-size="13" fill="{INK}">{figure}</text>')
    hatch = (f'<defs><pattern id="so-far" width="6" height="6" patternUnits="userSpaceOnUse" '
             f'patternTransform="rotate(45)"><rect width="6" height="6" fill="#fff"/>'
             f'<line x1="0" y1="0" x2="0" y2="6" stroke="{BAR}" stroke-width="3"/></pattern></defs>')
    return Markup(f'<svg class="chart week" viewBox="0 0 360 {height}" role="img" aria-label="{escape(title)}" '
                  f'focusable="false">{hatch}{"".join(rows)}</svg>')
