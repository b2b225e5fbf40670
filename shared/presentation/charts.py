"""The layout every time-series chart of a report shares (plotly): title, labelled axes, legend below."""

from __future__ import annotations

import plotly.graph_objects as go
import plotly.io as pio

TEMPLATE = "bts"  # plotly_white, cut to the trace types the charts draw (below)
TRACE_TYPES = ("bar", "heatmap", "histogram", "scatter")


def _template() -> go.layout.Template:
    """plotly_white with only TRACE_TYPES' defaults: every figure copies (and validates) its template, and the
    whole of plotly_white cost ~15 ms a chart and 3.5 KB of each chart's HTML for trace types no chart draws."""
    white = pio.templates["plotly_white"]
    return go.layout.Template(layout=white.layout, data={kind: white.data[kind] for kind in TRACE_TYPES})


pio.templates[TEMPLATE] = _template()
pio.templates.default = TEMPLATE  # a new figure starts from it, not from the full default it would copy too


def layout(fig: go.Figure, title: str, y_title: str, y_format: str | None = None, height: int = 380) -> go.Figure:
    """`fig` with the shared look: `y_format` is a d3 format (".1%" shows ratios as percentages)."""
    fig.update_layout(
        title=title,
        template=TEMPLATE,
        height=height,
        margin={"l": 60, "r": 20, "t": 50, "b": 40},
        legend={"orientation": "h", "y": -0.15},
        hovermode="x unified",
    )
    fig.update_yaxes(title_text=y_title, tickformat=y_format)
    fig.update_xaxes(title_text="Date")
    return fig
