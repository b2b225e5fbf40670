"""Which failures are a dependency's outage (wait and retry) and which are the work's own (count, then give up)."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import asyncpg
import pytest
from aiokafka.errors import CommitFailedError, KafkaConnectionError, KafkaTimeoutError, MessageSizeTooLargeError

from shared.platform.kafka.dlq import KEEP_WHOLE_BYTES, TRUNCATED_PREFIX_BYTES, DeadLetter
from shared.platform.runtime.transient import backoff_delay, is_transient, retry_while_transient


@pytest.mark.parametrize(
    "exc",
    [
        ConnectionRefusedError(111, "Connect call failed"),
        ConnectionResetError(),
        TimeoutError(),
        asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
        asyncpg.exceptions.AdminShutdownError("terminating connection due to administrator command"),
        asyncpg.exceptions.CannotConnectNowError("the database system is starting up"),
        asyncpg.exceptions.TooManyConnectionsError("sorry, too many clients already"),
        asyncpg.exceptions.SerializationError("could not serialize access"),
        asyncpg.exceptions.InterfaceError("cannot perform operation: connection is closed"),
        KafkaConnectionError("Unable to bootstrap"),
        KafkaTimeoutError(),
    ],
)
def test_outages_are_transient(exc: BaseException) -> None:
    assert is_transient(exc)


@pytest.mark.parametrize(
    "exc",
    [
        ValueError("bad parameter"),
        KeyError("x"),
        FileNotFoundError("missing.csv"),
        asyncpg.exceptions.UniqueViolationError("duplicate key"),
        asyncpg.exceptions.CheckViolationError("violates check constraint"),
        asyncpg.exceptions.InterfaceError("cannot call Connection.fetch(): connection has been released"),
        MessageSizeTooLargeError(),
        CommitFailedError("group rebalanced"),
    ],
)
def test_the_works_own_failures_are_not(exc: BaseException) -> None:
    assert not is_transient(exc)


def test_a_wrapped_outage_is_still_an_outage() -> None:
    outer = RuntimeError("loading bars failed")
    outer.__cause__ = ConnectionRefusedError(111, "refused")
    assert is_transient(outer)
    outer.__cause__ = ValueError("bad bar")
    assert not is_transient(outer)


def test_backoff_doubles_and_is_capped() -> None:
    assert [backoff_delay(n) for n in range(1, 7)] == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0]
    assert backoff_delay(1, first=0.1) == 0.1


async def test_retry_waits_out_an_outage_and_lets_other_errors_through(monkeypatch: pytest.MonkeyPatch) -> None:
    slept: list[float] = []

    async def no_sleep(seconds: float) -> None:
        slept.append(seconds)

    monkeypatch.setattr(asyncio, "sleep", no_sleep)
    calls = []

    async def flaky() -> str:
        calls.append(1)
        if len(calls) < 4:
            raise KafkaConnectionError("broker away")
        return "done"

    assert await retry_while_transient(flaky, "test") == "done"
    assert slept == [0.5, 1.0, 2.0]

    async def broken() -> None:
        raise ValueError("not an outage")

    with pytest.raises(ValueError, match="not an outage"):
        await retry_while_transient(broken, "test")


def _record(value: bytes) -> SimpleNamespace:
    return SimpleNamespace(topic="bars.loaded", partition=2, offset=41, key=b"AAPL.NASDAQ", value=value)


def test_a_dead_letter_keeps_the_message_whole_when_it_fits() -> None:
    letter = DeadLetter.of(_record(b"x" * KEEP_WHOLE_BYTES), error="cannot parse", group="g", attempts=0)
    assert letter.value == b"x" * KEEP_WHOLE_BYTES
    assert (letter.value_bytes, letter.truncated) == (KEEP_WHOLE_BYTES, False)


def test_a_dead_letter_of_a_huge_message_keeps_its_start_and_size_and_fits_in_kafka() -> None:
    value = b"y" * 3_000_000
    letter = DeadLetter.of(_record(value), error="too big", group="g", attempts=0)
    assert letter.truncated
    assert letter.value == value[:TRUNCATED_PREFIX_BYTES]
    assert letter.value_bytes == len(value)
    assert len(letter.model_dump_json()) < 1_000_000
