"""A `backtest.requested` from any producer, read as far as it goes: the shared model's rules (the same
as REST's) decide whether it may run; one that breaks them but names its backtest and user is kept as an
`UncheckedRequest`, so the engine can FAIL it with the field errors (worded as REST words them) and the
gateway can leave it to the engine instead of dead-lettering it. Anything less goes to the dead-letter topic.
"""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID

from pydantic import ConfigDict, Field, ValidationError

from shared.contracts import topics
from shared.contracts.events import Envelope, Payload, parse_event
from shared.contracts.models.errors import FieldProblem, field_problems


class UncheckedRequest(Payload):
    """A `backtest.requested` whose envelope and ids parse but whose content breaks the shared model's rules:
    enough to write its FAILED result (with the field problems) and tell the user why."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    backtest_id: UUID
    user_id: UUID
    configuration: dict[str, Any] = Field(default_factory=dict)
    sweep_id: UUID | None = None
    problems: list[str] = Field(default_factory=list)

    @property
    def configuration_id(self) -> UUID:
        """The configuration's id when it parses, else the backtest's (a result row needs one)."""
        try:
            return UUID(str(self.configuration.get("id")))
        except ValueError:
            return self.backtest_id


def configuration_problems(exc: ValidationError) -> list[FieldProblem]:
    """A refused request's problems, named as REST names them (without REST's `body.` and the event's
    `data.configuration.`), so the same mistake reads the same whichever way it came."""
    problems = []
    for problem in field_problems(exc.errors(), drop=1):  # the envelope's `data`
        problems.append(
            FieldProblem(problem.field.removeprefix("configuration."), problem.message, problem.type)
            if problem.field.startswith("configuration.")
            else problem
        )
    return problems


def parse_request(topic: str, raw: bytes | str) -> Envelope[Any]:
    """`parse_event`, except that a request whose payload breaks the rules but names its backtest and user
    comes back as an `UncheckedRequest` (to be FAILED with its problems); anything less raises ValueError
    (the dead-letter topic)."""
    try:
        return parse_event(topic, raw)
    except ValidationError as exc:
        if topic != topics.BACKTEST_REQUESTED or any(
            not error["loc"] or error["loc"][0] != "data" for error in exc.errors()
        ):
            raise  # another topic, or the envelope itself is broken
        document = json.loads(raw)
        data = document.get("data")
        if not isinstance(data, dict):
            raise
        try:
            unchecked = UncheckedRequest.model_validate(
                {**data, "problems": [str(p) for p in configuration_problems(exc)]}
            )
        except ValidationError:
            raise exc from None  # not even the ids: nothing to fail, the message is dead-lettered
        envelope: Envelope[Any] = Envelope[UncheckedRequest].model_validate({**document, "data": unchecked})
        return envelope
