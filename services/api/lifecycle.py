"""Delete, cancel and clone: the gateway's side of a resource's end of life (docs/api.md, Lifecycle).

The gateway removes its own rows and, in the same transaction, enqueues an event for the services that own
the rest (outbox): `backtest.deleted` (the engine's result, trades and snapshots; reporting's reports and
files), `sweep.deleted` (the sweep's report) and `backtest.cancel_requested` (the engine refuses the request
if it has not started, or stops the run within a second). Only the owner can do any of it: another user's
id is "not found", as everywhere.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from services.api import correlation, sharing
from services.api.domain import lifecycle as rules
from services.api.finished import FINISHED
from services.api.repository import sweeps as sweep_repo
from services.api.repository.backtests import status_row
from services.api.repository.instruments import get_instrument
from services.api.repository.strategies import get_strategy, insert_strategy
from services.api.service_layer import sweep_flow
from services.api.service_layer.unit_of_work import PostgresUnitOfWork
from shared.contracts import topics
from shared.contracts.events import (
    BacktestCancelRequested,
    BacktestDeleted,
    MarketDataDeleteRequested,
    Payload,
    SweepDeleted,
    make_event,
)
from shared.contracts.models import StrategyStatus, Timeframe
from shared.contracts.models.backtest import CANCELLED_BY_USER
from shared.contracts.models.strategy import TradingStrategy
from shared.platform.db.reads import may_write_instrument, writer_refused
from shared.platform.db.types import Connection
from shared.platform.kafka.outbox import enqueue

SOURCE = "bts/api"


class NotFound(Exception):
    def __init__(self, kind: str, ident: UUID | str) -> None:
        self.kind, self.ident = kind, ident
        super().__init__(f"{kind} {ident} does not exist")


class Refused(Exception):
    """The resource exists but is in a state that does not allow it (409, the message says what to do)."""


@dataclass(frozen=True)
class CancelAccepted:
    id: UUID
    status: str
    cancelling: list[UUID]  # backtests asked to stop (the backtest itself, or a sweep's running children)
    dropped: int = 0  # a sweep's children that had not been published yet


async def _publish(conn: Connection, topic: str, data: Payload, subject: UUID, key: UUID) -> None:
    event = make_event(topic, data, source=SOURCE, subject=str(subject), correlation_id=correlation.current())
    await enqueue(conn, "api", event, key=str(key))


async def _sweep_of_backtest(conn: Connection, backtest_id: UUID) -> UUID | None:
    found: UUID | None = await conn.fetchval(
        "SELECT sweep_id FROM api.sweep_children WHERE backtest_id = $1", backtest_id
    )
    return found


async def _forget(conn: Connection, user: UUID, backtest_ids: list[UUID]) -> None:
    """The gateway's rows of these backtests (status read model, configuration); the others go by event."""
    await conn.execute(
        "DELETE FROM api.backtest_configurations WHERE user_id = $1 AND id IN "
        "(SELECT configuration_id FROM api.backtest_status WHERE user_id = $1 AND id = ANY($2::uuid[]))",
        user,
        backtest_ids,
    )
    for backtest_id in backtest_ids:
        await sharing.forget_files(conn, backtest_id)  # an imported one's bundle files
    await conn.execute(
        "DELETE FROM api.backtest_status WHERE user_id = $1 AND id = ANY($2::uuid[])", user, backtest_ids
    )
    for backtest_id in backtest_ids:
        await _publish(
            conn, topics.BACKTEST_DELETED, BacktestDeleted(backtest_id=backtest_id, user_id=user), backtest_id, user
        )
        FINISHED.forget(user, backtest_id)


async def delete_backtest(conn: Connection, user: UUID, backtest_id: UUID) -> None:
    """A finished backtest of the caller's, with its trades, snapshots, reports and their files."""
    async with conn.transaction():
        row = await status_row(conn, user, backtest_id, for_update=True)
        if row is None:
            raise NotFound("backtest", backtest_id)
        refusal = rules.backtest_delete_refusal(backtest_id, row["status"], await _sweep_of_backtest(conn, backtest_id))
        if refusal:
            raise Refused(refusal)
        await _forget(conn, user, [backtest_id])


async def cancel_backtest(conn: Connection, user: UUID, backtest_id: UUID) -> CancelAccepted:
    """Ask the engine to stop a PENDING or RUNNING backtest: it ends FAILED with CANCELLED_BY_USER."""
    async with conn.transaction():
        row = await status_row(conn, user, backtest_id, for_update=True)
        if row is None:
            raise NotFound("backtest", backtest_id)
        refusal = rules.backtest_cancel_refusal(backtest_id, row["status"])
        if refusal:
            raise Refused(refusal)
        data = BacktestCancelRequested(backtest_id=backtest_id, user_id=user)
        await _publish(conn, topics.BACKTEST_CANCEL_REQUESTED, data, backtest_id, user)
    return CancelAccepted(id=backtest_id, status=row["status"], cancelling=[backtest_id])


async def cancel_sweep(conn: Connection, user: UUID, sweep_id: UUID, now: datetime | None = None) -> CancelAccepted:
    """Drop the sweep's queued children and stop its published ones; the sweep then finishes as usual
    (sweep.completed, with what did run)."""
    now = now or datetime.now(UTC)
    async with conn.transaction():
        sweep = await sweep_repo.sweep_for_update(conn, sweep_id)
        if sweep is None or sweep.user_id != user:
            raise NotFound("sweep", sweep_id)
        cancelled = sweep.error_message == CANCELLED_BY_USER
        refusal = rules.sweep_cancel_refusal(sweep_id, sweep.status, cancelled)
        if refusal:
            raise Refused(refusal)
        dropped = await conn.execute(
            "DELETE FROM api.sweep_children WHERE sweep_id = $1 AND state = 'QUEUED'", sweep_id
        )
        await conn.execute(
            "UPDATE api.sweeps SET error_message = $2, updated_at = $3 WHERE id = $1", sweep_id, CANCELLED_BY_USER, now
        )
        running = [
            r["backtest_id"]
            for r in await conn.fetch(
                "SELECT c.backtest_id FROM api.sweep_children c JOIN api.backtest_status s ON s.id = c.backtest_id "
                "WHERE c.sweep_id = $1 AND c.state = 'PUBLISHED' AND s.status NOT IN ('COMPLETED', 'FAILED')",
                sweep_id,
            )
        ]
        for backtest_id in running:
            data = BacktestCancelRequested(backtest_id=backtest_id, user_id=user)
            await _publish(conn, topics.BACKTEST_CANCEL_REQUESTED, data, backtest_id, user)
        if await sweep_repo.open_children(conn, sweep_id) == 0:  # nothing was running: it ends now
            await sweep_flow.finish(PostgresUnitOfWork(conn), sweep, now)
    return CancelAccepted(id=sweep_id, status=sweep.status, cancelling=running, dropped=int(dropped.split()[-1]))


async def delete_sweep(conn: Connection, user: UUID, sweep_id: UUID) -> int:
    """A finished sweep, its children (each as a deleted backtest) and its report; how many backtests went."""
    async with conn.transaction():
        sweep = await sweep_repo.sweep_for_update(conn, sweep_id)
        if sweep is None or sweep.user_id != user:
            raise NotFound("sweep", sweep_id)
        refusal = rules.sweep_delete_refusal(sweep_id, sweep.status)
        if refusal:
            raise Refused(refusal)
        children = [
            r["backtest_id"]
            for r in await conn.fetch(
                "SELECT backtest_id FROM api.sweep_children WHERE sweep_id = $1 AND backtest_id IS NOT NULL", sweep_id
            )
        ]
        await _forget(conn, user, children)
        await conn.execute("DELETE FROM api.sweeps WHERE id = $1", sweep_id)  # its children rows: ON DELETE CASCADE
        await _publish(conn, topics.SWEEP_DELETED, SweepDeleted(sweep_id=sweep_id, user_id=user), sweep_id, user)
    return len(children)


async def delete_strategy(conn: Connection, user: UUID, strategy_id: UUID) -> None:
    """A strategy nothing refers to any more; else Refused naming its backtests and sweeps."""
    async with conn.transaction():
        if await get_strategy(conn, user, strategy_id, for_update=True) is None:
            raise NotFound("strategy", strategy_id)
        backtests = [
            r["id"]
            for r in await conn.fetch(
                "SELECT id FROM api.backtest_status WHERE user_id = $1 AND strategy_id = $2 ORDER BY submitted_at, id",
                user,
                strategy_id,
            )
        ]
        sweeps = [
            r["id"]
            for r in await conn.fetch(
                "SELECT id FROM api.sweeps WHERE user_id = $1 AND strategy_id = $2 ORDER BY submitted_at, id",
                user,
                strategy_id,
            )
        ]
        refusal = rules.strategy_delete_refusal(strategy_id, backtests, sweeps)
        if refusal:
            raise Refused(refusal)
        # configurations whose backtest never reached the read model (an outside producer's, say)
        await conn.execute(
            "DELETE FROM api.backtest_configurations WHERE user_id = $1 AND strategy_id = $2", user, strategy_id
        )
        await conn.execute("DELETE FROM api.strategies WHERE id = $1 AND user_id = $2", strategy_id, user)


async def clone_strategy(conn: Connection, user: UUID, strategy_id: UUID, name: str | None) -> TradingStrategy:
    """A new DRAFT with the same type and parameters (from any status, ARCHIVED included); named `name`, or
    "<name> (copy)" (then "(copy 2)", ...)."""
    async with conn.transaction():
        source = await get_strategy(conn, user, strategy_id)
        if source is None:
            raise NotFound("strategy", strategy_id)
        if name is None:
            taken = {r["name"] for r in await conn.fetch("SELECT name FROM api.strategies WHERE user_id = $1", user)}
            name = rules.clone_name(source.name, taken)
        now = datetime.now(UTC)
        values: dict[str, Any] = {
            **source.model_dump(),
            "id": uuid.uuid4(),
            "name": name,
            "status": StrategyStatus.DRAFT,
            "created_at": now,
            "updated_at": now,
        }
        clone = TradingStrategy.model_validate(values)
        await insert_strategy(conn, clone)  # DuplicateStrategyName when `name` is taken
    return clone


class Forbidden(Exception):
    """The caller may not do it (not the instrument's owner nor an admin): 403."""


@dataclass(frozen=True)
class MarketDataDeletion:
    instrument_id: str
    timeframe: str | None
    results_using: int  # results computed from these bars (every user's)
    versions_kept: bool


async def delete_market_data(
    conn: Connection, user: UUID, instrument_id: str, timeframe: str | None, force: bool
) -> MarketDataDeletion:
    """Ask ingest to delete an instrument's bars (one timeframe, or all): for its owner or an admin."""
    if await get_instrument(conn, instrument_id) is None:
        raise NotFound("instrument", instrument_id)
    if not await may_write_instrument(conn, user, instrument_id):
        raise Forbidden(writer_refused(instrument_id))
    unfinished = await conn.fetch(
        "SELECT id, user_id FROM api.backtest_status WHERE $1 = ANY(instrument_ids) "
        "AND status NOT IN ('COMPLETED', 'FAILED') ORDER BY submitted_at",
        instrument_id,
    )
    using = await conn.fetch(
        "SELECT id, user_id FROM engine.v_backtest_results WHERE status = 'COMPLETED' AND "
        "((request->'configuration'->'instrument_ids') ? $1 "
        "AND ($2::text IS NULL OR coalesce(request->>'timeframe', 'BAR_DAILY') = $2) "
        "OR benchmark_instrument_id = $1 AND coalesce($2, 'BAR_DAILY') = 'BAR_DAILY') ORDER BY completed_at",
        instrument_id,
        timeframe,
    )
    mine = [r["id"] for r in unfinished if r["user_id"] == user]
    results = [r["id"] for r in using if r["user_id"] == user]
    users = rules.DataUsers(mine, len(unfinished) - len(mine), results, len(using) - len(results))
    refusal = rules.market_data_refusal(instrument_id, users, force)
    if refusal:
        raise Refused(refusal)
    data = MarketDataDeleteRequested(
        instrument_id=instrument_id,
        timeframe=Timeframe(timeframe) if timeframe else None,
        user_id=user,
        keep_versions=bool(using),
    )
    event = make_event(
        topics.MARKET_DATA_DELETE_REQUESTED,
        data,
        source=SOURCE,
        subject=instrument_id,
        correlation_id=correlation.current(),
    )
    async with conn.transaction():
        await enqueue(conn, "api", event, key=instrument_id)
    return MarketDataDeletion(instrument_id, timeframe, len(using), bool(using))
