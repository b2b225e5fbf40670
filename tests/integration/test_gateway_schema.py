"""Schemathesis drives the running gateway from its own OpenAPI document: generated requests (valid
and invalid) must never get a 500, and every response must match the schema it documents."""

from __future__ import annotations

import asyncio
import re
import uuid
from typing import Any

import asyncpg
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import content_type_conformance, not_a_server_error, response_schema_conformance

from bts.stackfile import StackFile
from services.api.users import create_user
from shared.db.urls import asyncpg_dsn

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]


async def _key(stack: StackFile) -> str:
    conn = await asyncpg.connect(asyncpg_dsn(stack.database_url))
    try:
        return (await create_user(conn, f"fuzz-{uuid.uuid4().hex[:6]}")).api_key
    finally:
        await conn.close()


@pytest.fixture(scope="module")
def fuzz_key(running_stack: StackFile) -> str:
    return asyncio.run(_key(running_stack))


@pytest.fixture(scope="module")
def gateway_schema(running_stack: StackFile) -> Any:
    return schemathesis.openapi.from_url(running_stack.api_url + "/openapi.json")


SKIPPED = re.compile(r"(/events$|^/metrics$)")  # a stream that lasts until a backtest ends; Prometheus text


CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]


def test_no_server_errors_and_responses_match_the_schema(
    gateway_schema: Any, fuzz_key: str, running_stack: StackFile
) -> None:
    failures: list[str] = []
    operations = [result.ok() for result in gateway_schema.get_all_operations()]
    operations = [op for op in operations if not SKIPPED.search(op.path)]
    assert len(operations) >= 18
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck), database=None)
            def call(case: Any) -> None:
                case.call_and_validate(base_url=running_stack.api_url, checks=CHECKS, timeout=30,
                                       headers={"Authorization": f"Bearer {fuzz_key}"})  # fmt: skip

            try:
                call()
            except Unsatisfiable:  # nothing to make invalid (an operation without parameters)
                continue
            except Exception as exc:  # collect every operation's failure, not only the first
                failures.append(f"{operation.label} ({mode.value}): {exc}")
    assert not failures, "\n\n".join(failures)
