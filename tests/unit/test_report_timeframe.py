"""An intraday run's reports say so: the timeframe and the time zone of the times they print."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime

from benchmarks.reporting import backtest_report_data
from services.reporting.domain.render import render_html, render_json, render_trades_csv


def test_reports_show_the_timeframe_and_the_time_zone_of_their_times() -> None:
    data = dataclasses.replace(backtest_report_data(), timeframe="BAR_1HOUR")
    now = datetime(2025, 1, 2, tzinfo=UTC)
    document = json.loads(render_json(data, now))
    assert (document["timeframe"], document["time_zone"]) == ("BAR_1HOUR", "UTC")
    html = render_html(data, now)
    assert "BAR_1HOUR bars · times in UTC" in html
    assert "<th>Entry (UTC)</th>" in html
    assert "<th>Exit (UTC)</th>" in html
    assert "end-of-day equity whatever the bars (BAR_1HOUR)" in html
    first_entry = data.trades["entry_time"].iloc[0]
    assert f"<td>{first_entry.tz_convert('UTC'):%Y-%m-%d %H:%M} UTC</td>" in html  # each time says its zone
    assert f"{first_entry.tz_convert('UTC'):%Y-%m-%dT%H:%M:%S}Z" in render_trades_csv(data)


def test_a_daily_run_says_daily() -> None:
    data = backtest_report_data()
    assert json.loads(render_json(data, datetime(2025, 1, 2, tzinfo=UTC)))["timeframe"] == "BAR_DAILY"
