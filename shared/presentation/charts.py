"""The layout every time-series chart of a report shares (plotly): title, labelled axes, legend below."""

from __future__ import annotations

import plotly.graph_objects as go

TEMPLATE = "plotly_white"


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
