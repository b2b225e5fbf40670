"""Run manifests: canonical encodings and SHA-256 digests of what a result was computed from (pure).

Every digest is over a documented text encoding, so anyone can recompute it:

- bars, per instrument: the line `bts-bars-v1`, then one line per bar in time order,
  `<timestamp>,<open>,<high>,<low>,<close>,<volume>`: the timestamp as integer nanoseconds since the
  Unix epoch (UTC) of the bar as handed to NautilusTrader (its close), numbers as plain decimals
  without exponent or trailing zeros (100.10 -> 100.1, 100.00 -> 100);
- trades: the line `bts-trades-v1`, then one line per trade in entry order, `instrument_id, side,
  entry_time, entry_price, exit_time, exit_price, quantity, commission, slippage, pnl, pnl_pct`
  (times as nanoseconds, numbers as above, an open trade's missing values empty);
- JSON documents (configuration, parameters): keys sorted, no whitespace, decimals (money, percentages)
  as strings in the form above, floats as JSON numbers (shortest round-trip form).

Each line ends with a newline.
"""

from __future__ import annotations

import hashlib
import json
import numbers
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Final

import pandas as pd

from services.engine.domain.ledger import TradeRecord

MANIFEST_VERSION: Final = 1
BAR_COLUMNS: Final = ("open", "high", "low", "close", "volume")


def canonical_number(value: Any) -> str:
    """A number as a plain decimal: no exponent, no trailing zeros, no sign on zero; None is empty.

    Hot (five values per bar): the common types are dispatched first, and plain notation is trimmed as
    text; only exponents, nan and inf go through Decimal."""
    kind = type(value)
    if kind is Decimal:
        text = str(value)
    elif kind is int:
        return str(value)
    elif value is None:
        return ""
    elif kind is bool:
        raise TypeError("a boolean is not a number here")
    elif isinstance(value, numbers.Integral):
        return str(int(value))
    elif isinstance(value, float):
        text = float.__repr__(float(value))
    else:
        text = str(value)
    if "e" in text or "E" in text or "n" in text or "N" in text:  # exponent, nan, inf
        number = Decimal(text)
        if not number.is_finite():
            raise ValueError(f"not a finite number: {value!r}")
        return "0" if number == 0 else format(number.normalize(), "f")
    if "." in text:  # drop trailing zeros (100.10 -> 100.1, 100.00 -> 100)
        text = text.rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def canonical_time(value: Any) -> str:
    """Nanoseconds since the epoch (UTC) of an aware timestamp; None is empty."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return ""
    stamp = pd.Timestamp(value)
    if stamp.tzinfo is None:
        raise ValueError(f"timestamp {value!r} has no time zone")
    return str(stamp.value)


def _digest(header: str, lines: Iterable[str]) -> str:
    """SHA-256 of the header line and `lines`, each ended by a newline (hashed as one text: one call)."""
    text = "".join(f"{line}\n" for line in lines)
    return hashlib.sha256(f"{header}\n{text}".encode()).hexdigest()


def canonical_floats(values: list[float]) -> list[str]:
    """canonical_number of each float, for whole columns: repr() is already the shortest round-trip text
    without trailing zeros, so only "x.0", "-0.0", exponents, nan and inf need more."""
    texts = []
    for value in values:
        text = float.__repr__(value)
        if text[-2:] == ".0":
            text = "0" if text == "-0.0" else text[:-2]
        elif "e" in text or "n" in text:  # 1e+16, 1e-05, nan, inf
            text = canonical_number(value)
        texts.append(text)
    return texts


def bars_sha256(frame: pd.DataFrame) -> str:
    """Digest of bars indexed by (aware) timestamp with columns open, high, low, close, volume."""
    ordered = frame.sort_index(kind="stable")
    index = pd.DatetimeIndex(ordered.index)
    if len(index) and index.tz is None:
        raise ValueError("bar timestamps have no time zone")
    stamps = [str(ns) for ns in index.as_unit("ns").asi8.tolist()]
    columns = [
        canonical_floats(ordered[c].tolist())
        if ordered[c].dtype == "float64"
        else [canonical_number(v) for v in ordered[c].tolist()]
        for c in BAR_COLUMNS
    ]
    return _digest("bts-bars-v1", (",".join(row) for row in zip(stamps, *columns, strict=True)))


def series_sha256(series: pd.Series) -> str:
    """Digest of a dated series (the benchmark's daily closes): `<timestamp>,<value>` lines."""
    ordered = series.sort_index(kind="stable")
    index = pd.DatetimeIndex(ordered.index)
    index = index.tz_localize("UTC") if index.tz is None else index
    values = ordered.tolist()
    texts = canonical_floats(values) if ordered.dtype == "float64" else [canonical_number(v) for v in values]
    return _digest(
        "bts-series-v1", (f"{ns},{text}" for ns, text in zip(index.as_unit("ns").asi8.tolist(), texts, strict=True))
    )


def trade_line(trade: TradeRecord) -> str:
    return ",".join(
        [
            trade.instrument_id,
            trade.side,
            canonical_time(trade.entry_time),
            canonical_number(trade.entry_price),
            canonical_time(trade.exit_time),
            canonical_number(trade.exit_price),
            canonical_number(trade.quantity),
            canonical_number(trade.commission),
            canonical_number(trade.slippage),
            canonical_number(trade.pnl),
            canonical_number(trade.pnl_pct),
        ]
    )


def trades_sha256(trades: Sequence[TradeRecord]) -> str:
    return _digest("bts-trades-v1", (trade_line(t) for t in trades))


def canonical_json(value: Any) -> Any:
    """JSON values: decimals (money, percentages) as canonical decimal strings, dates in ISO form, keys sorted.
    Floats stay numbers (Python writes their shortest round-trip form, the same everywhere)."""
    if isinstance(value, Mapping):
        return {str(k): canonical_json(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, list | tuple):
        return [canonical_json(v) for v in value]
    if isinstance(value, Decimal):
        return canonical_number(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def json_sha256(document: Any) -> str:
    text = json.dumps(canonical_json(document), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def bars_digest(frame: pd.DataFrame) -> dict[str, Any]:
    """What the manifest says of one instrument's bars: digest, count, first and last timestamp."""
    index = frame.index
    return {
        "sha256": bars_sha256(frame),
        "bars": len(frame),
        "first": pd.Timestamp(index.min()).isoformat() if len(frame) else None,
        "last": pd.Timestamp(index.max()).isoformat() if len(frame) else None,
    }
