"""How results are shown to people, for every program that shows them: metric labels and formats, the
chart layout, the HTML look (style) and the comparison report. The reporting service renders its reports
with it; `bts backtest compare` renders a comparison with it, without importing a service."""
