"""Which send failures park an outbox row (no retry can fix them) and which are retried (the broker is away)."""

from __future__ import annotations

import pytest
from aiokafka import errors

from shared.platform.kafka.outbox import refused_for_good


@pytest.mark.parametrize(
    "exc",
    [
        errors.MessageSizeTooLargeError(),
        errors.RecordListTooLargeError(),
        errors.InvalidTopicError(),
        errors.CorruptRecordException(),
        errors.PolicyViolationError(),
        UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogates not allowed"),
        TypeError("not serialisable"),
    ],
)
def test_what_no_retry_can_fix_is_parked(exc: BaseException) -> None:
    assert refused_for_good(exc)


@pytest.mark.parametrize(
    "exc",
    [
        errors.KafkaConnectionError(),
        errors.KafkaTimeoutError(),
        errors.RequestTimedOutError(),
        errors.NotLeaderForPartitionError(),
        errors.UnknownTopicOrPartitionError(),
        errors.TopicAuthorizationFailedError(),  # retried: an operator fixes the ACL and the row leaves
        errors.NoBrokersAvailable(),
        OSError("connection refused"),
    ],
)
def test_passing_failures_are_retried(exc: BaseException) -> None:
    assert not refused_for_good(exc)
