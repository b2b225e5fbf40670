"""ingest.series_adjustment: whether a stored bar series (instrument, timeframe) is RAW or ADJUSTED.

One row per series is enough because a series never mixes the two: an import whose adjustment differs
from the series' is refused unless it replaces every stored bar (its range covers them all).
"""

from __future__ import annotations

from datetime import datetime

from shared.contracts.models.enums import BarAdjustment
from shared.platform.db.types import Connection


class AdjustmentConflict(Exception):
    """The import would leave a series partly RAW and partly ADJUSTED."""


async def check_compatible(
    conn: Connection, instrument_id: str, timeframe: str, wanted: BarAdjustment, lo: datetime, hi: datetime
) -> None:
    """Raise AdjustmentConflict when bars outside [lo, hi] are stored with another adjustment."""
    stored = await conn.fetchval(
        "SELECT price_adjustment FROM ingest.series_adjustment WHERE instrument_id = $1 AND timeframe = $2",
        instrument_id,
        timeframe,
    )
    if stored is None or stored == wanted.value:
        return
    outside = await conn.fetchrow(
        'SELECT min("timestamp") AS first, max("timestamp") AS last, count(*) AS bars FROM ingest.market_data '
        'WHERE instrument_id = $1 AND timeframe = $2 AND ("timestamp" < $3 OR "timestamp" > $4)',
        instrument_id,
        timeframe,
        lo,
        hi,
    )
    if outside is not None and outside["bars"]:
        raise AdjustmentConflict(
            f"{instrument_id} {timeframe} is stored {stored} and this import is {wanted.value}: {outside['bars']} "
            f"stored bar(s) between {outside['first']:%Y-%m-%d} and {outside['last']:%Y-%m-%d} lie outside the "
            f"file's range ({lo:%Y-%m-%d}..{hi:%Y-%m-%d}), so the series would mix both; import a file covering "
            f"them all, or import it {stored}"
        )


async def record(conn: Connection, instrument_id: str, timeframe: str, adjustment: BarAdjustment) -> None:
    """The series' bars are now all `adjustment` (called in the import's transaction, after the merge)."""
    await conn.execute(
        "INSERT INTO ingest.series_adjustment (instrument_id, timeframe, price_adjustment) VALUES ($1, $2, $3) "
        "ON CONFLICT (instrument_id, timeframe) DO UPDATE SET price_adjustment = EXCLUDED.price_adjustment, "
        "updated_at = now() WHERE ingest.series_adjustment.price_adjustment <> EXCLUDED.price_adjustment",
        instrument_id,
        timeframe,
        adjustment.value,
    )
