"""Exchanges -> trading calendars (exchange-calendars). Used to validate bars and to stamp bar closes.

An exchange we cannot map is an error where the instrument is registered, not later in a backtest.
"""

from __future__ import annotations

from datetime import date
from functools import lru_cache
from typing import Any, Final

# The data model's currencies are USD, EUR, GBP and JPY: US venues, the main European venues and Tokyo.
# Keys are the exchange names people (and IB) use; values are ISO MIC calendar codes.
EXCHANGE_CALENDARS: Final[dict[str, str]] = {
    # United States (equities and ETFs)
    "NASDAQ": "XNAS",
    "XNAS": "XNAS",
    "ISLAND": "XNAS",
    "NYSE": "XNYS",
    "XNYS": "XNYS",
    "ARCA": "ARCX",
    "NYSEARCA": "ARCX",
    "ARCX": "ARCX",
    "AMEX": "XASE",
    "NYSEAMERICAN": "XASE",
    "XASE": "XASE",
    "BATS": "BATS",
    "CBOE": "BATS",
    "BZX": "BATS",
    "SMART": "XNYS",
    # United Kingdom and Europe
    "LSE": "XLON",
    "XLON": "XLON",
    "XETRA": "XETR",
    "IBIS": "XETR",
    "XETR": "XETR",
    "FWB": "XFRA",
    "XFRA": "XFRA",
    "SBF": "XPAR",
    "EURONEXT": "XPAR",
    "XPAR": "XPAR",
    "AEB": "XAMS",
    "XAMS": "XAMS",
    "EBS": "XSWX",
    "SIX": "XSWX",
    "XSWX": "XSWX",
    "BM": "XMAD",
    "BME": "XMAD",
    "XMAD": "XMAD",
    "BVME": "XMIL",
    "XMIL": "XMIL",
    # Japan
    "TSE": "XTKS",
    "TSEJ": "XTKS",
    "JPX": "XTKS",
    "XTKS": "XTKS",
    # FX trades around the clock on weekdays
    "IDEALPRO": "24/5",
    "FX": "24/5",
    # US futures
    "CME": "CMES",
    "GLOBEX": "CMES",
    "CBOT": "CMES",
    "NYMEX": "CMES",
}

CALENDAR_START: Final = date(2019, 1, 1)
CALENDAR_END: Final = date(2024, 12, 31)


class UnknownExchangeError(ValueError):
    def __init__(self, exchange: str) -> None:
        known = ", ".join(sorted(EXCHANGE_CALENDARS))
        super().__init__(f"exchange {exchange!r} has no trading calendar; known exchanges: {known}")
        self.exchange = exchange


def calendar_code(exchange: str) -> str:
    try:
        return EXCHANGE_CALENDARS[exchange.upper()]
    except KeyError:
        raise UnknownExchangeError(exchange) from None


@lru_cache(maxsize=32)
def calendar_for(exchange: str) -> Any:
    """The exchange_calendars calendar of `exchange` over the platform's date range (cached)."""
    import exchange_calendars

    # Include a little history before 2019 so a session lookup never falls off the edge.
    return exchange_calendars.get_calendar(calendar_code(exchange), start="2018-12-01", end=CALENDAR_END.isoformat())
