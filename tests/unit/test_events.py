"""The envelope and per-topic payloads: round trips, and clear refusals of wrong messages."""

from __future__ import annotations

import json
import uuid
from datetime import date

import pytest
from pydantic import ValidationError

from shared.contracts import topics
from shared.contracts.events import (
    TOPIC_PAYLOADS,
    BacktestRequested,
    BarsLoaded,
    StrategySpec,
    make_event,
    parse_event,
)
from shared.contracts.models import BacktestConfiguration, StrategyType


def _request() -> BacktestRequested:
    config = BacktestConfiguration(
        strategy_id=uuid.uuid4(),
        instrument_ids=["AAPL.NASDAQ"],
        start_date=date(2020, 1, 1),
        end_date=date(2020, 12, 31),
    )
    strategy = StrategySpec(strategy_type=StrategyType.SMA_CROSSOVER, parameters={"fast_period": 5, "slow_period": 20})
    return BacktestRequested(backtest_id=uuid.uuid4(), user_id=uuid.uuid4(), configuration=config, strategy=strategy)


def test_every_topic_has_a_payload_model() -> None:
    assert set(TOPIC_PAYLOADS) == set(topics.ALL_TOPICS)
    assert topics.dlq(topics.BACKTEST_REQUESTED) == "backtest.requested.dlq"


def test_envelope_round_trip() -> None:
    event = make_event(topics.BACKTEST_REQUESTED, _request(), source="bts/api", subject="x")
    raw = event.model_dump_json()
    envelope = json.loads(raw)
    assert set(envelope) == {"id", "type", "source", "time", "subject", "correlation_id", "schema_version", "data"}
    parsed = parse_event(topics.BACKTEST_REQUESTED, raw)
    assert parsed == event
    assert parsed.data.configuration.commission_model.per_share is not None


def test_wrong_messages_are_refused_with_the_reason() -> None:
    event = make_event(topics.BACKTEST_REQUESTED, _request(), source="bts/api")
    with pytest.raises(ValueError, match="does not match topic"):
        parse_event(topics.BACKTEST_COMPLETED.replace("completed", "progress"), event.model_dump_json())
    with pytest.raises(ValueError, match="message is not JSON"):
        parse_event(topics.BACKTEST_REQUESTED, b"not json")
    broken = json.loads(event.model_dump_json())
    broken["data"]["configuration"]["position_size_pct"] = 50
    with pytest.raises(ValidationError, match="position_size_pct"):
        parse_event(topics.BACKTEST_REQUESTED, json.dumps(broken))
    with pytest.raises(TypeError, match="carries BarsLoaded"):
        make_event(topics.BARS_LOADED, _request(), source="bts/x")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown topic"):
        make_event("nope", _request(), source="bts/x")
    assert BarsLoaded.model_fields["rows"].description
