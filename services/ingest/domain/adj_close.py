"""An ADJUSTED import: each row's open, high, low and close scaled by its `Adj Close` / `Close` (pure).

The factor a vendor folds into Adj Close covers splits and cash dividends alike and is not broken down, so
volume is left as traded (for dividends that is exact; across a split the volume stays in the shares of the
day; import RAW and load the splits as corporate actions for split-adjusted volume).
"""

from __future__ import annotations

from typing import Final

import numpy as np
import pandas as pd
import pyarrow as pa

from services.ingest.domain.bar_checks import MAX_PRICE, MIN_PRICE, PRICE_FIELDS, CheckedChunk, RowProblem
from shared.contracts.models.enums import BarAdjustment

RAW_NOTE: Final = (
    "Adj Close ignored: the file has an Adj Close column and the import is RAW, so Close and the other prices "
    "were loaded as traded; import with price_adjustment=ADJUSTED (bts ingest csv --adjusted) to scale them by it"
)


def missing_adj_close() -> str:
    """Why an ADJUSTED import of a file without Adj Close fails."""
    return (
        "price_adjustment=ADJUSTED needs an Adj Close column (as in Date,Open,High,Low,Close,Adj Close,Volume); "
        "the file has none: import it RAW and load the instrument's splits and dividends as corporate actions"
    )


def note_for(adjustment: BarAdjustment, has_adj_close: bool) -> list[str]:
    """What the job says about the file's Adj Close column."""
    return [RAW_NOTE] if adjustment is BarAdjustment.RAW and has_adj_close else []


def scale_by_adj_close(checked: CheckedChunk, adj_close: pa.Array) -> list[RowProblem]:
    """Scale the valid rows' prices in place; a row whose Adj Close is not a positive number is a problem
    (and no longer valid)."""
    strings = adj_close.to_pandas()
    values = pd.to_numeric(strings, errors="coerce").to_numpy(dtype=np.float64)
    bad = ~(np.isfinite(values) & (values > 0))
    problems = [
        RowProblem(int(pos), "adj_close", f"Adj Close must be a number > 0, got {strings.iat[pos]!r}")
        for pos in np.flatnonzero(bad & checked.valid)
    ]
    checked.valid &= ~bad
    with np.errstate(invalid="ignore", divide="ignore"):
        factor = np.where(checked.valid, values / checked.close, 1.0)
    for field in PRICE_FIELDS:
        setattr(checked, field, getattr(checked, field) * factor)
    # the scaled prices must still be prices (the same bounds as the file's own)
    scaled = np.vstack([getattr(checked, field) for field in PRICE_FIELDS])
    outside = checked.valid & ((scaled < MIN_PRICE) | (scaled > MAX_PRICE)).any(axis=0)
    problems += [
        RowProblem(
            int(pos), "adj_close", f"Adj Close {values[pos]:g} scales the prices outside {MIN_PRICE:g}..{MAX_PRICE:g}"
        )
        for pos in np.flatnonzero(outside)
    ]
    checked.valid &= ~outside
    return problems
