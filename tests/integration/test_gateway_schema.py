"""Schemathesis drives the running gateway from its own OpenAPI document: generated requests (valid
and invalid, and the coverage phase's boundary and negative values of every parameter and body field)
must never get a 500, and every response must match the schema it documents."""

from __future__ import annotations

import asyncio
import re
import uuid
from typing import Any

import asyncpg
import hypothesis
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import content_type_conformance, not_a_server_error, response_schema_conformance
from schemathesis.generation.hypothesis.builder import HypothesisTestConfig, HypothesisTestMode, create_test

from bts.stackfile import StackFile
from services.api.users import create_user
from shared.platform.db.urls import asyncpg_dsn

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
                case.call_and_validate(
                    base_url=running_stack.api_url,
                    checks=CHECKS,
                    timeout=30,
                    headers={"Authorization": f"Bearer {fuzz_key}"},
                )

            try:
                call()
            except Unsatisfiable:  # nothing to make invalid (an operation without parameters)
                continue
            except Exception as exc:  # collect every operation's failure, not only the first
                failures.append(f"{operation.label} ({mode.value}): {exc}")
    assert not failures, "\n\n".join(failures)


COVERAGE_CASES_PER_OPERATION = 120  # an even spread of the phase's cases: ~1,500 in all would take minutes


def _coverage_cases(operation: Any, config: Any) -> list[Any]:
    """The coverage phase's cases of one operation (boundaries: min/max, lengths, formats; and negative
    values: wrong types, out of range, missing required fields), without sending any."""
    cases: list[Any] = []

    def keep(case: Any) -> None:  # hypothesis needs a function with a named `case` argument
        cases.append(case)

    quiet = hypothesis.settings(max_examples=1, database=None, deadline=None, suppress_health_check=list(HealthCheck))
    collect = create_test(
        operation=operation,
        test_func=keep,
        config=HypothesisTestConfig(project=config, modes=[HypothesisTestMode.COVERAGE], settings=quiet),
    )
    collect()
    step = max(1, len(cases) // COVERAGE_CASES_PER_OPERATION)
    return cases[::step][:COVERAGE_CASES_PER_OPERATION]


def test_boundary_and_negative_values_of_every_field_get_no_server_error(
    gateway_schema: Any, fuzz_key: str, running_stack: StackFile
) -> None:
    failures: list[str] = []
    operations = [result.ok() for result in gateway_schema.get_all_operations()]
    operations = [op for op in operations if not SKIPPED.search(op.path)]
    sent = 0
    for operation in operations:
        for case in _coverage_cases(operation, gateway_schema.config):
            sent += 1
            try:
                case.call_and_validate(
                    base_url=running_stack.api_url,
                    checks=CHECKS,
                    timeout=30,
                    headers={"Authorization": f"Bearer {fuzz_key}"},
                )
            except Exception as exc:
                failures.append(f"{operation.label} {case.meta.phase.data if case.meta else ''}: {exc}")
    assert sent >= 500, sent
    assert not failures, f"{len(failures)} of {sent} failed:\n\n" + "\n\n".join(failures[:30])
