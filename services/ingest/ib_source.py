"""Interactive Brokers history through ib_async (the maintained continuation of ib_insync), paced and
chunked, written as a CSV the normal import then validates and loads like any file.

Requests wait for the pacer; pacing violations (162) and dropped connections are retried with
backoff (reconnecting); "no security definition" (200) and other request errors end the fetch with a
clear message, and what was fetched until then is kept.
"""

from __future__ import annotations

import asyncio
import csv
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import structlog
from ib_async import IB, BarData, Contract, Forex, Stock
from ib_async.wrapper import RequestError

from services.ingest.domain.ib_chunks import IB_BAR_SIZE, IbEndpoint, plan_chunks
from services.ingest.domain.ib_pacing import HistoricalPacer, PacedRequest
from services.ingest.domain.ib_reachability import IbReachability
from shared.platform.db.reads import InstrumentRow

log = structlog.get_logger()
PACING_VIOLATION = 162
NO_SECURITY = 200
HEADER = ["timestamp", "open", "high", "low", "close", "volume"]
ChunkProgress = Callable[[int, int, int], Awaitable[None]]  # chunks done, chunks total, bars so far


@dataclass
class FetchOutcome:
    chunks_total: int
    chunks_done: int = 0
    bars: int = 0
    error: str | None = None


class IbUnavailable(Exception):
    """TWS / IB Gateway cannot be reached (after retries)."""


def contract_for(instrument: InstrumentRow) -> Contract:
    if instrument.asset_class in ("EQUITY", "ETF"):
        return Stock(instrument.symbol, "SMART", instrument.currency, primaryExchange=instrument.exchange)
    if instrument.asset_class == "FX":
        return Forex(instrument.symbol.replace("/", "").replace(".", ""))
    raise ValueError(f"IB history for {instrument.asset_class} instruments is not supported (equities, ETFs, FX)")


class IbHistory:
    def __init__(
        self,
        endpoint: IbEndpoint,
        pacer: HistoricalPacer,
        reachability: IbReachability | None = None,
        max_attempts: int = 4,
        backoff_s: float = 1.0,
        request_timeout_s: float = 120.0,
    ) -> None:
        self.endpoint, self.pacer = endpoint, pacer
        self.reachability = reachability or IbReachability()
        self.max_attempts, self.backoff_s, self.request_timeout_s = max_attempts, backoff_s, request_timeout_s
        self.ib = IB()
        self.ib.RaiseRequestErrors = True

    async def _connect(self) -> None:
        refusal = self.reachability.refusal()
        if refusal is not None:
            raise IbUnavailable(refusal)
        last: Exception | None = None
        for attempt in range(1, self.max_attempts + 1):
            try:
                await self.ib.connectAsync(
                    self.endpoint.host, self.endpoint.port, clientId=self.endpoint.client_id, timeout=10, readonly=True
                )
                self.reachability.reached()
                return
            except (OSError, TimeoutError, ConnectionError) as exc:
                last = exc
                self.ib.disconnect()
                log.warning("IB connect failed", attempt=attempt, error=repr(exc))
                await asyncio.sleep(self.backoff_s * 2 ** (attempt - 1))
        reason = (
            f"cannot reach TWS / IB Gateway at {self.endpoint.host}:{self.endpoint.port} after "
            f"{self.max_attempts} attempts ({last!r}); set BTS_IB_HOST / BTS_IB_PORT"
        )
        self.reachability.failed(reason)
        raise IbUnavailable(reason)

    async def fetch(
        self,
        instrument: InstrumentRow,
        timeframe: str,
        start: datetime,
        end: datetime,
        target: Path,
        on_chunk: ChunkProgress | None = None,
        what_to_show: str = "TRADES",
    ) -> FetchOutcome:
        """Fetch [start, end) into `target` (CSV, UTC, ascending, no duplicates)."""
        bar_size = IB_BAR_SIZE[timeframe]
        contract = contract_for(instrument)
        chunks = plan_chunks(start, end, bar_size)
        outcome = FetchOutcome(chunks_total=len(chunks))
        daily = timeframe == "BAR_DAILY"
        last_written: datetime | None = None
        await self._connect()
        try:
            with target.open("w", newline="") as file:
                writer = csv.writer(file)
                writer.writerow(HEADER)
                for chunk in chunks:
                    request = PacedRequest(
                        instrument.id,
                        instrument.exchange,
                        what_to_show,
                        bar_size,
                        chunk.duration,
                        chunk.end.strftime("%Y%m%d %H:%M:%S"),
                    )
                    try:
                        bars = await self._request(contract, request, chunk.end)
                    except _ChunkFailed as exc:
                        outcome.error = str(exc)
                        break
                    for bar in bars:
                        ts = _utc(bar.date)
                        if not start <= ts < end or (last_written is not None and ts <= last_written):
                            continue  # outside the range, or already written by the previous chunk
                        volume = int(bar.volume) if math.isfinite(bar.volume) else -1
                        stamp = ts.date().isoformat() if daily else ts.isoformat()
                        writer.writerow([stamp, bar.open, bar.high, bar.low, bar.close, volume])
                        last_written = ts
                        outcome.bars += 1
                    file.flush()
                    outcome.chunks_done += 1
                    if on_chunk is not None:
                        await on_chunk(outcome.chunks_done, outcome.chunks_total, outcome.bars)
        finally:
            self.ib.disconnect()
        return outcome

    async def _request(self, contract: Contract, request: PacedRequest, end: datetime) -> list[BarData]:
        for attempt in range(1, self.max_attempts + 1):
            try:
                if not self.ib.isConnected():
                    await self._connect()
                async with self.pacer.slot(request):
                    bars = await self.ib.reqHistoricalDataAsync(
                        contract,
                        endDateTime=end,
                        durationStr=request.duration,
                        barSizeSetting=request.bar_size,
                        whatToShow=request.what_to_show,
                        useRTH=request.use_rth,
                        formatDate=2,
                        timeout=self.request_timeout_s,
                    )
                return list(bars)
            except RequestError as exc:
                if exc.code == PACING_VIOLATION and "no data" in exc.message.lower():
                    return []  # a window without bars (a holiday): nothing to load, not an error
                if exc.code == NO_SECURITY:
                    raise _ChunkFailed(f"IB has no contract for {request.contract} ({exc.message})") from exc
                if exc.code != PACING_VIOLATION or attempt == self.max_attempts:
                    raise _ChunkFailed(
                        f"IB error {exc.code} for the window ending {request.end}: {exc.message}"
                    ) from exc
                log.warning("IB pacing violation; backing off", attempt=attempt)
            except (ConnectionError, OSError, TimeoutError, IbUnavailable) as exc:
                self.ib.disconnect()
                if attempt == self.max_attempts:
                    raise _ChunkFailed(f"lost the connection to IB and could not get it back: {exc}") from exc
                log.warning("IB connection lost; reconnecting", attempt=attempt, error=repr(exc))
            await asyncio.sleep(self.backoff_s * 2 ** (attempt - 1))
        raise _ChunkFailed("unreachable")  # pragma: no cover


class _ChunkFailed(Exception):
    pass


def _utc(value: date | datetime) -> datetime:
    """IB daily bars are dates (the session), intraday ones aware datetimes (formatDate=2: UTC)."""
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime(value.year, value.month, value.day, tzinfo=UTC)
