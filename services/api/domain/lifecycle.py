"""What may be deleted, cancelled or cloned, and what to say when it may not (pure: no database).

The use cases (services/api/lifecycle.py) read the rows, ask these functions, and then act or refuse with
the message they give (409 Conflict).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from uuid import UUID

from shared.contracts.models.enums import TERMINAL_STATUSES

NAME_MAX = 100  # TradingStrategy.name's max_length
SHOWN = 10  # ids named in a refusal; the rest are counted


def _named(ids: list[UUID]) -> str:
    shown = ", ".join(str(i) for i in ids[:SHOWN])
    more = len(ids) - SHOWN
    return shown + (f" and {more} more" if more > 0 else "")


def backtest_delete_refusal(backtest_id: UUID, status: str, sweep_id: UUID | None) -> str | None:
    """Why a backtest cannot be deleted now, or None: it must be finished, and a sweep's child goes with
    its sweep."""
    if sweep_id is not None:
        return f"backtest {backtest_id} is a run of sweep {sweep_id}: delete the sweep (DELETE /sweeps/{sweep_id})"
    if status not in TERMINAL_STATUSES:
        return f"backtest {backtest_id} is {status}: cancel it first (POST /backtests/{backtest_id}/cancel)"
    return None


def backtest_cancel_refusal(backtest_id: UUID, status: str) -> str | None:
    if status in TERMINAL_STATUSES:
        return f"backtest {backtest_id} is {status} already: nothing to cancel (DELETE /backtests/{backtest_id})"
    return None


def sweep_delete_refusal(sweep_id: UUID, status: str) -> str | None:
    if status not in TERMINAL_STATUSES:
        return f"sweep {sweep_id} is {status}: cancel it first (POST /sweeps/{sweep_id}/cancel)"
    return None


def sweep_cancel_refusal(sweep_id: UUID, status: str, cancelled: bool) -> str | None:
    if status in TERMINAL_STATUSES:
        return f"sweep {sweep_id} is {status} already: nothing to cancel (DELETE /sweeps/{sweep_id})"
    if cancelled:
        return f"sweep {sweep_id} is being cancelled already: its running backtests are stopping"
    return None


def strategy_delete_refusal(strategy_id: UUID, backtest_ids: list[UUID], sweep_ids: list[UUID]) -> str | None:
    """A strategy goes only once nothing refers to it: its backtests and sweeps are named (delete them
    first), so the caller knows what stands in the way."""
    reasons = []
    if backtest_ids:
        reasons.append(f"{len(backtest_ids)} backtest(s): {_named(backtest_ids)}")
    if sweep_ids:
        reasons.append(f"{len(sweep_ids)} sweep(s): {_named(sweep_ids)}")
    if not reasons:
        return None
    return f"strategy {strategy_id} is used by " + "; ".join(reasons) + ": delete them first"


def clone_name(name: str, taken: Collection[str]) -> str:
    """The first free "<name> (copy)", "<name> (copy 2)", ... within the name's length limit."""
    n = 1
    while True:
        suffix = " (copy)" if n == 1 else f" (copy {n})"
        candidate = name[: NAME_MAX - len(suffix)].rstrip() + suffix
        if candidate not in taken:
            return candidate
        n += 1


@dataclass(frozen=True)
class DataUsers:
    """Who reads an instrument's bars: the caller's backtests by id, other users' counted (not named)."""

    unfinished: list[UUID]
    unfinished_others: int
    results: list[UUID]
    results_others: int


def market_data_refusal(instrument_id: str, users: DataUsers, force: bool) -> str | None:
    """Bars may go unless a backtest still to run reads them (always refused) or a result was computed from
    them (refused unless forced: then the version those results read is kept). Only the caller's own
    backtests are named; other users' are counted."""
    unfinished, results, others = users.unfinished, users.results, users.results_others
    if unfinished or users.unfinished_others:
        mine = f": {_named(unfinished)}" if unfinished else ""
        theirs = f" (and {users.unfinished_others} of other users)" if users.unfinished_others else ""
        return (
            f"the bars of {instrument_id} are about to be read by {len(unfinished)} unfinished backtest(s) of "
            f"yours{mine}{theirs}; wait for them or cancel them first"
        )
    if (results or others) and not force:
        mine = f": {_named(results)}" if results else ""
        theirs = f" (and {others} of other users)" if others else ""
        return (
            f"the bars of {instrument_id} were used by {len(results)} result(s) of yours{mine}{theirs}; "
            "?force=true deletes them from the current data but keeps the version those results were computed "
            "from (their reproductions still read it)"
        )
    return None
