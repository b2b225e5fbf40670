"""A fake TWS / IB Gateway that speaks the TWS socket protocol (as ib_async 2.1.0 speaks it), so the real
client runs over TCP in the tests: handshake, the sync requests of `IB.connect`, reqHistoricalData (20)
answered with historicalData (17), and error messages (4) such as pacing violations (162).

Layouts follow the TWS protocol as ib_async 2.1.0 reads it (server version 157: errors without the
advancedOrderRejectJson field).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import exchange_calendars as xcals
import pandas as pd

SERVER_VERSION = 157
ACCOUNT = "DU123456"
SYNC_ENDS = {"61": ["62", "1"], "5": ["53", "1"], "99": ["102"]}  # request id -> end message (no reqId)


@dataclass
class HistoricalRequest:
    req_id: int
    symbol: str
    sec_type: str
    exchange: str
    primary_exchange: str
    currency: str
    end: str
    bar_size: str
    duration: str
    use_rth: bool
    what_to_show: str
    format_date: int
    received_at: float = field(default_factory=time.monotonic)

    @property
    def end_datetime(self) -> datetime:
        """ib_async sends an aware datetime as 'YYYYmmdd HH:MM:SS UTC'."""
        return datetime.strptime(self.end.removesuffix(" UTC"), "%Y%m%d %H:%M:%S").replace(tzinfo=UTC)

    @property
    def span(self) -> timedelta:
        amount, unit = self.duration.split()
        seconds = {"S": 1, "D": 86_400, "W": 7 * 86_400, "M": 30 * 86_400, "Y": 365 * 86_400}[unit]
        return timedelta(seconds=int(amount) * seconds)


@dataclass(frozen=True)
class FakeBar:
    date: str
    open: float
    high: float
    low: float
    close: float
    volume: float
    wap: float
    bar_count: int = 10


BAR_SECONDS = {"1 min": 60, "5 mins": 300, "1 hour": 3600}
_XNYS = xcals.get_calendar("XNYS")


def price_at(ts: datetime) -> float:
    """A deterministic price path: the same bar always has the same prices, whatever the request."""
    minutes = int(ts.timestamp() // 60)
    return round(100 + 10 * ((minutes * 7919) % 1000) / 1000 + (minutes % 97) / 100, 2)


def default_bars(request: HistoricalRequest) -> list[FakeBar]:
    """Bars of the requested window: regular-hours bars on NYSE sessions, stamped at their open."""
    end = request.end_datetime
    start = end - request.span
    sessions = _XNYS.sessions_in_range(pd.Timestamp(start.date()), pd.Timestamp(end.date()))
    bars: list[FakeBar] = []
    for session in sessions:
        if request.bar_size == "1 day":
            opened = datetime.combine(session.date(), datetime.min.time(), UTC)
            if start <= opened < end:
                bars.append(_bar(session.strftime("%Y%m%d"), opened, 1_000_000))
            continue
        step = BAR_SECONDS[request.bar_size]
        first = _XNYS.session_open(session).to_pydatetime()
        last = _XNYS.session_close(session).to_pydatetime()
        ts = first
        while ts < last:
            if start <= ts < end:
                label = str(int(ts.timestamp())) if request.format_date == 2 else ts.strftime("%Y%m%d %H:%M:%S UTC")
                bars.append(_bar(label, ts, 1_000))
            # IB aligns bars to the clock: hourly bars start 09:30 (a half hour), 10:00, 11:00, ...
            ts = datetime.fromtimestamp((int(ts.timestamp()) // step + 1) * step, UTC)
    return bars


def _bar(label: str, ts: datetime, volume: int) -> FakeBar:
    open_ = price_at(ts)
    close = price_at(ts + timedelta(minutes=1))
    return FakeBar(
        label, open_, max(open_, close) + 0.05, min(open_, close) - 0.05, close, volume, round((open_ + close) / 2, 4)
    )


def _frame(*fields: object) -> bytes:
    body = b"".join(str(f).encode() + b"\0" for f in fields)
    return struct.pack(">I", len(body)) + body


class FakeTws:
    def __init__(
        self,
        bars: Callable[[HistoricalRequest], list[FakeBar]] = default_bars,
        known_symbols: set[str] | None = None,
        fail_requests: dict[int, tuple[int, str]] | None = None,
        drop_connection_on: set[int] | None = None,
    ) -> None:
        self.bars = bars
        self.known_symbols = known_symbols
        self.fail_requests = fail_requests or {}  # n-th historical request (1-based) -> (code, message)
        self.drop_connection_on = drop_connection_on or set()
        self.requests: list[HistoricalRequest] = []
        self.connections = 0
        self._server: asyncio.Server | None = None

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)

    async def __aenter__(self) -> FakeTws:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            assert await reader.readexactly(4) == b"API\0"
            size = struct.unpack(">I", await reader.readexactly(4))[0]
            await reader.readexactly(size)  # "v157..178[ options]"
            writer.write(_frame(SERVER_VERSION, "20240102 09:30:00 US/Eastern"))
            await writer.drain()
            while True:
                size = struct.unpack(">I", await reader.readexactly(4))[0]
                fields = (await reader.readexactly(size)).decode().split("\0")[:-1]
                if not await self._answer(fields, writer):
                    break
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            with contextlib.suppress(Exception):
                writer.close()

    async def _answer(self, fields: list[str], writer: asyncio.StreamWriter) -> bool:
        kind = fields[0]
        if kind == "71":  # startApi: both of these make ib_async's apiStart fire
            writer.write(_frame(15, 1, ACCOUNT) + _frame(9, 1, 1))
        elif kind in SYNC_ENDS:
            writer.write(_frame(*SYNC_ENDS[kind]))
        elif kind == "6":  # reqAccountUpdates
            writer.write(_frame(54, 1, ACCOUNT))
        elif kind == "76":  # reqAccountUpdatesMulti
            writer.write(_frame(74, 1, fields[2]))
        elif kind == "7":  # reqExecutions
            writer.write(_frame(55, 1, fields[2]))
        elif kind == "20":
            return self._historical(fields, writer)
        return True  # anything else (cancelHistoricalData 25, ...) needs no answer

    def _historical(self, f: list[str], writer: asyncio.StreamWriter) -> bool:
        request = HistoricalRequest(
            req_id=int(f[1]),
            symbol=f[3],
            sec_type=f[4],
            exchange=f[9],
            primary_exchange=f[10],
            currency=f[11],
            end=f[15],
            bar_size=f[16],
            duration=f[17],
            use_rth=f[18] == "1",
            what_to_show=f[19],
            format_date=int(f[20]),
        )
        self.requests.append(request)
        n = len(self.requests)
        if n in self.drop_connection_on:
            writer.transport.abort()
            return False
        if n in self.fail_requests:
            code, message = self.fail_requests[n]
            writer.write(_frame(4, 2, request.req_id, code, message))
            return True
        if self.known_symbols is not None and request.symbol not in self.known_symbols:
            writer.write(_frame(4, 2, request.req_id, 200, "No security definition has been found for the request"))
            return True
        if not re.fullmatch(r"\d+ [SDWMY]", request.duration):
            writer.write(_frame(4, 2, request.req_id, 321, f"Error validating request: duration {request.duration}"))
            return True
        bars = self.bars(request)
        flat: list[object] = []
        for b in bars:
            flat += [b.date, b.open, b.high, b.low, b.close, b.volume, b.wap, b.bar_count]
        start = (request.end_datetime - request.span).strftime("%Y%m%d %H:%M:%S")
        writer.write(
            _frame(17, request.req_id, start, request.end_datetime.strftime("%Y%m%d %H:%M:%S"), len(bars), *flat)
        )
        return True


def session_dates(first: date, last: date) -> list[date]:
    return [s.date() for s in _XNYS.sessions_in_range(pd.Timestamp(first), pd.Timestamp(last))]
