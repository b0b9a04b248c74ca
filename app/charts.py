"""Charts drawn as SVG on the server.

FAB's chart views load Google's charting scripts from the internet, which
fail on the ministry's offline network; an inline SVG needs no script at
all, prints, and is readable by screen readers through its <title>s. Bars
run right-to-left with their labels on the right, as Arabic reads; time runs
left-to-right like the figures' digits. The SVG is laid out left-to-right
(an RTL page would otherwise flip every text anchor) and only the Arabic
labels are set right-to-left.
"""
import math

from markupsafe import Markup, escape

PALETTE = ("#1f6f8b", "#e07b39", "#3c9d5d", "#b5485d", "#7a5ea8", "#8a8a2e")
FONT = "font-family=\"inherit\" font-size=\"12\""


def _nice_max(value, ticks=4):
    """A round axis maximum at or above value, in `ticks` whole steps of
    1, 2 or 5 × 10^n (never fractions: these are counts)."""
    if value <= ticks:
        return ticks
    raw = value / ticks
    power = 10 ** math.floor(math.log10(raw))
    steps = (1, 2, 2.5, 5, 10) if power >= 10 else (1, 2, 5, 10)
    step = next(s * power for s in steps if raw <= s * power)
    return int(step * ticks)


def _fmt(n):
    return f"{n:,}" if isinstance(n, int) else str(n)


def line_chart(labels, series, title, width=720, height=260):
    """labels: x labels (oldest first); series: [(name, [values])]."""
    left, right, top, bottom = 48, 16, 16, 64
    plot_w, plot_h = width - left - right, height - top - bottom
    top_value = _nice_max(max([max(values or [0]) for _name, values in series] + [0]))
    step_x = plot_w / max(len(labels) - 1, 1)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="sijill-chart" viewBox="0 0 {width} {height}" '
             f'direction="ltr" role="img" aria-label="{escape(title)}"><title>{escape(title)}</title>']
    for i in range(5):
        value = top_value * i / 4
        y = top + plot_h - plot_h * i / 4
        parts.append(f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e3e3e3"/>')
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" {FONT} fill="#666">'
                     f'{_fmt(int(value))}</text>')
    for i, text in enumerate(labels):
        x = left + step_x * i
        parts.append(f'<text x="{x:.1f}" y="{top + plot_h + 16}" text-anchor="middle" {FONT} fill="#666">'
                     f'{escape(text)}</text>')
    for index, (name, values) in enumerate(series):
        color = PALETTE[index % len(PALETTE)]
        points = [(left + step_x * i, top + plot_h - plot_h * (v or 0) / top_value) for i, v in enumerate(values)]
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
        parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="2" points="{path}"/>')
        for (x, y), label, value in zip(points, labels, values):
            parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{color}">'
                         f'<title>{escape(name)} — {escape(label)}: {_fmt(value)}</title></circle>')
    # legend, laid out from the right (RTL)
    x = width - right
    y = height - 18
    for index, (name, _values) in enumerate(series):
        color = PALETTE[index % len(PALETTE)]
        parts.append(f'<rect x="{x - 12}" y="{y - 9}" width="12" height="12" fill="{color}"/>')
        parts.append(f'<text x="{x - 18}" y="{y + 1}" text-anchor="start" direction="rtl" {FONT}>'
                     f'{escape(name)}</text>')
        x -= 30 + 7 * len(str(name))
    parts.append("</svg>")
    return Markup("".join(parts))


def bar_chart(items, title, width=720, row=24, label_width=170, color=PALETTE[0], highlight=None):
    """Horizontal bars: items [(label, value)] in the order given."""
    height = row * len(items) + 12
    plot_w = width - label_width - 60
    top_value = _nice_max(max([v for _l, v in items] + [0]))
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="sijill-chart" viewBox="0 0 {width} {height}" '
             f'direction="ltr" role="img" aria-label="{escape(title)}"><title>{escape(title)}</title>']
    origin = width - label_width
    for i, (label, value) in enumerate(items):
        y = 6 + i * row
        length = plot_w * (value or 0) / top_value
        fill = PALETTE[1] if highlight is not None and label == highlight else color
        parts.append(f'<text x="{width - 4}" y="{y + row * 0.65:.1f}" text-anchor="start" direction="rtl" '
                     f'{FONT}>{escape(label)}</text>')
        parts.append(f'<rect x="{origin - length:.1f}" y="{y + 3}" width="{length:.1f}" height="{row - 8}" '
                     f'fill="{fill}"><title>{escape(label)}: {_fmt(value)}</title></rect>')
        parts.append(f'<text x="{origin - length - 6:.1f}" y="{y + row * 0.65:.1f}" text-anchor="end" {FONT} '
                     f'fill="#333">{_fmt(value)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))
