"""Price adjustment on the real database: RAW bars with a 5:1 split back-adjusted by the engine from the
corporate actions on record, and a Yahoo file imported ADJUSTED (scaled by its Adj Close) that the engine does
not adjust again. Bars are loaded by the ingest code, runs by the engine's run_job."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path

import asyncpg
import pandas as pd
import pytest
import pytest_asyncio

from services.engine.backtest_job import run_job
from services.ingest.csv_import import ImportPlan, import_csv
from services.ingest.domain.adj_close import RAW_NOTE
from services.ingest.domain.sessions import SessionTable
from services.ingest.series_adjustment import AdjustmentConflict
from shared.contracts.models.enums import BarAdjustment
from shared.devstack.stack import Endpoints
from shared.domain.calendars import calendar_for
from shared.platform.db.urls import asyncpg_dsn, role_url
from tests.integration.market import backtest_job

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]

FIXTURES = Path(__file__).parents[1] / "fixtures" / "adjust"
SPLIT = "ADJS.NASDAQ"  # raw_split_5_1_2020.csv, RAW, with its 5:1 split on record
YAHOO = "ADJY.NASDAQ"  # adj_close_dividends_2023.csv, imported ADJUSTED
EX_DATE = "2020-08-31"


async def _import(conn: asyncpg.Connection, path: Path, instrument: str, adjustment: BarAdjustment) -> list[str]:
    plan = ImportPlan(path, instrument, "BAR_DAILY", SessionTable(calendar_for("NASDAQ")), price_adjustment=adjustment)
    async with conn.transaction():
        return (await import_csv(conn, plan)).notes


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def engine_pool(migrated: Endpoints) -> AsyncIterator[asyncpg.Pool]:
    admin = await asyncpg.connect(asyncpg_dsn(migrated.database_url))
    ingest = await asyncpg.connect(role_url(migrated.database_url, "ingest", "bts"))
    try:
        for instrument in (SPLIT, YAHOO):
            await admin.execute(
                "INSERT INTO api.instruments (id, symbol, exchange, asset_class, currency, tick_size, lot_size, "
                "trading_hours, margin_requirement) VALUES ($1, $2, 'NASDAQ', 'EQUITY', 'USD', 0.01, 1, '{}', 25) "
                "ON CONFLICT DO NOTHING",
                instrument,
                instrument.split(".")[0],
            )
        await admin.execute(
            "INSERT INTO api.corporate_actions (instrument_id, type, ex_date, ratio) VALUES ($1, 'SPLIT', $2, 5), "
            "($3, 'SPLIT', '2022-08-25', 3) ON CONFLICT DO NOTHING",
            SPLIT,
            date.fromisoformat(EX_DATE),
            SPLIT,
        )
        await admin.execute(
            "INSERT INTO api.corporate_actions (instrument_id, type, ex_date, amount) "
            "SELECT $1, 'DIVIDEND', d::date, 0.24 FROM unnest($2::text[]) AS d ON CONFLICT DO NOTHING",
            YAHOO,
            ["2023-02-10", "2023-05-12", "2023-08-11", "2023-11-10"],
        )
        assert await _import(ingest, FIXTURES / "raw_split_5_1_2020.csv", SPLIT, BarAdjustment.RAW) == []
        await _import(ingest, FIXTURES / "adj_close_dividends_2023.csv", YAHOO, BarAdjustment.ADJUSTED)
    finally:
        await admin.close()
        await ingest.close()
    pool = await asyncpg.create_pool(role_url(migrated.database_url, "engine", "bts"), min_size=1, max_size=2)
    yield pool
    await pool.close()


def _closes(outcome: object, instrument: str) -> pd.Series:
    packed = outcome.series["closes"][instrument]  # type: ignore[attr-defined]
    return pd.Series(packed["values"], index=pd.to_datetime(packed["dates"]))


async def test_splits_turn_the_split_crash_into_a_continuous_series(engine_pool: asyncpg.Pool) -> None:
    period = {"start_date": date(2020, 5, 1), "end_date": date(2020, 12, 31)}
    raw = await run_job(engine_pool, backtest_job([SPLIT], "SPY", price_adjustment="NONE", **period))
    adjusted = await run_job(engine_pool, backtest_job([SPLIT], "SPY", **period))  # SPLITS: the default
    assert raw.status == adjusted.status == "COMPLETED", (raw.error_message, adjusted.error_message)
    raw_moves, adjusted_moves = _closes(raw, SPLIT).pct_change(), _closes(adjusted, SPLIT).pct_change()
    assert raw_moves[EX_DATE] < -0.75  # the split read as a one-day crash
    assert abs(adjusted_moves[EX_DATE]) < 0.15
    assert adjusted_moves.abs().max() < 0.15  # continuous throughout
    assert _closes(adjusted, SPLIT).iloc[-1] == _closes(raw, SPLIT).iloc[-1]  # the last bar keeps its price
    # the split is on record, so its move is explained, not suspect; NONE says it stays in the prices
    assert not any(w.startswith(f"SPLIT_SUSPECT {SPLIT}") for w in raw.warnings)
    assert any(w.startswith(f"ADJUSTMENT {SPLIT}: price_adjustment NONE: 1 split(s)") for w in raw.warnings)
    assert not any(w.startswith("SPLIT_SUSPECT") for w in adjusted.warnings)
    assert raw.manifest is not None
    assert adjusted.manifest is not None
    # the 2022 split lies after the data: not applied, so the run's prices end as traded
    assert adjusted.manifest["price_adjustment"][SPLIT] == {
        "bars": "RAW",
        "requested": "SPLITS",
        "applied": "SPLITS",
        "splits": 1,
        "dividends": 0,
    }
    assert raw.manifest["price_adjustment"][SPLIT]["applied"] == "NONE"
    assert adjusted.manifest["configuration"]["price_adjustment"] == "SPLITS"
    assert adjusted.manifest["data"][SPLIT]["sha256"] != raw.manifest["data"][SPLIT]["sha256"]


async def test_bars_imported_adjusted_are_not_adjusted_again(engine_pool: asyncpg.Pool) -> None:
    yahoo = pd.read_csv(FIXTURES / "adj_close_dividends_2023.csv", index_col="Date", parse_dates=True)
    job = backtest_job(
        [YAHOO],
        "SPY",
        start_date=date(2023, 1, 3),
        end_date=date(2023, 12, 29),
        price_adjustment="SPLITS_AND_DIVIDENDS",
    )
    outcome = await run_job(engine_pool, job)
    assert outcome.status == "COMPLETED", outcome.error_message
    closes = _closes(outcome, YAHOO)
    pd.testing.assert_series_equal(closes, yahoo["Adj Close"].round(2), check_names=False, atol=0.006)
    assert outcome.manifest is not None
    assert outcome.manifest["price_adjustment"][YAHOO] == {
        "bars": "ADJUSTED",
        "requested": "SPLITS_AND_DIVIDENDS",
        "applied": "NONE",
    }
    assert any("imported ADJUSTED" in w for w in outcome.warnings)


async def test_a_raw_import_says_it_ignored_adj_close_and_a_mixed_series_is_refused(
    migrated: Endpoints, engine_pool: asyncpg.Pool, tmp_path: Path
) -> None:
    ingest = await asyncpg.connect(role_url(migrated.database_url, "ingest", "bts"))
    try:
        # the whole file again, RAW: every bar is replaced, so the series may change its adjustment
        notes = await _import(ingest, FIXTURES / "adj_close_dividends_2023.csv", YAHOO, BarAdjustment.RAW)
        assert notes == [RAW_NOTE]
        assert (
            await ingest.fetchval(
                "SELECT price_adjustment FROM ingest.series_adjustment WHERE instrument_id = $1", YAHOO
            )
            == "RAW"
        )
        # a part of it ADJUSTED would leave the rest RAW: refused, nothing written
        part = tmp_path / "part.csv"
        pd.read_csv(FIXTURES / "adj_close_dividends_2023.csv").head(40).to_csv(part, index=False)
        with pytest.raises(AdjustmentConflict, match="stored RAW and this import is ADJUSTED"):
            await _import(ingest, part, YAHOO, BarAdjustment.ADJUSTED)
        first_close = await ingest.fetchval(
            'SELECT close FROM ingest.market_data WHERE instrument_id = $1 ORDER BY "timestamp" LIMIT 1', YAHOO
        )
        assert float(first_close) == 150.12  # the raw Close of the file's first row
    finally:
        await ingest.close()
