"""The gateway accepts an instrument whose exchange is in EXCHANGE_CALENDARS without building its calendar (that
takes seconds once); so every exchange there must have one, or the engine would fail its backtests later."""

from __future__ import annotations

import pytest

from shared.domain.calendars import EXCHANGE_CALENDARS, UnknownExchangeError, calendar_code, calendar_for


@pytest.mark.parametrize("exchange", sorted(EXCHANGE_CALENDARS))
def test_every_known_exchange_has_a_calendar_over_the_platforms_range(exchange: str) -> None:
    calendar = calendar_for(exchange)
    assert calendar.sessions[0].year <= 2019
    assert calendar.sessions[-1].year == 2024


def test_an_unknown_exchange_is_refused_by_its_code_alone() -> None:
    with pytest.raises(UnknownExchangeError, match="known exchanges"):
        calendar_code("MOON")
