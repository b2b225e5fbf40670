"""The console's session and CSRF rules, and its form helpers (no I/O)."""

from __future__ import annotations

import pytest

from services.api.problems import FieldError
from services.api.ui.charts import heatmap, polylines
from services.api.ui.forms import parameter_fields, parameter_values, place_errors, split_list, typed_value
from services.api.ui.security import (
    COOKIE_PATH,
    HOME,
    SESSION_COOKIE,
    SESSION_LIFETIME,
    cleared,
    csrf_matches,
    new_token,
    safe_next,
    served_over_tls,
    session_cookie,
    token_digest,
)
from shared.strategy_types import registry


def test_tokens_are_random_and_only_their_digest_is_kept() -> None:
    tokens = {new_token() for _ in range(200)}
    assert len(tokens) == 200
    token = next(iter(tokens))
    assert len(token) >= 43  # 256 bits, URL-safe base64
    digest = token_digest(token)
    assert len(digest) == 64
    assert token not in digest
    assert token_digest(token) == digest != token_digest(token + "x")


@pytest.mark.parametrize(
    ("expected", "given", "ok"),
    [
        ("abc" * 11, "abc" * 11, True),
        ("abc" * 11, "abd" * 11, False),
        ("abc" * 11, "", False),
        ("abc" * 11, None, False),
        ("", "", False),  # no session token: nothing matches, not even nothing
        (None, None, False),
        ("abc" * 11, ("abc" * 11)[:-1], False),
    ],
)
def test_csrf_needs_the_exact_non_empty_token(expected: str | None, given: str | None, ok: bool) -> None:
    assert csrf_matches(expected, given) is ok


def test_session_cookie_is_httponly_strict_scoped_and_secure_only_over_tls() -> None:
    plain = session_cookie("t", served_over_tls("http"))
    tls = session_cookie("t", served_over_tls("https"))
    assert (plain.name, plain.httponly, plain.samesite, plain.path) == (SESSION_COOKIE, True, "strict", COOKIE_PATH)
    assert plain.secure is False
    assert tls.secure is True
    assert plain.max_age == int(SESSION_LIFETIME.total_seconds())
    gone = cleared(SESSION_COOKIE, True)
    assert gone.max_age is None
    assert gone.value == ""
    assert gone.secure


@pytest.mark.parametrize(
    ("target", "went"),
    [
        (None, HOME),
        ("", HOME),
        ("/ui/backtests/42?x=1", "/ui/backtests/42?x=1"),
        ("/ui/ops", "/ui/ops"),
        ("https://evil.example/ui", HOME),
        ("//evil.example/ui", HOME),
        ("/api/v1/keys", HOME),
        ("/ui\\@evil.example", HOME),
        ("javascript:alert(1)", HOME),
    ],
)
def test_after_sign_in_only_console_paths_are_followed(target: str | None, went: str) -> None:
    assert safe_next(target) == went


def test_the_parameter_form_follows_the_types_schema() -> None:
    fields = {f.name: f for f in parameter_fields(registry()["SMA_CROSSOVER"].json_schema())}
    assert set(fields) == {"fast_period", "slow_period", "allow_short"}
    assert fields["fast_period"].kind == "integer"
    assert fields["fast_period"].required
    assert fields["fast_period"].minimum == 1
    assert fields["fast_period"].input_name == "parameters.fast_period"
    assert fields["allow_short"].kind == "boolean"
    assert not fields["allow_short"].required
    form = {"parameters.fast_period": " 10 ", "parameters.slow_period": "x30", "parameters.allow_short": "on"}
    assert parameter_values(fields.values(), form) == {"fast_period": 10, "slow_period": "x30", "allow_short": True}
    assert parameter_values(fields.values(), {}) == {"allow_short": False}  # an unticked box is false


def test_typed_values() -> None:
    assert typed_value("number", "2.5") == 2.5
    assert typed_value("integer", "2.5") == "2.5"  # left for the API to refuse, naming the field
    assert typed_value("string", " a ") == "a"
    assert split_list("aapl.nasdaq, MSFT.NASDAQ\n,\nspy.nasdaq") == ["AAPL.NASDAQ", "MSFT.NASDAQ", "SPY.NASDAQ"]


def test_api_errors_land_next_to_their_fields() -> None:
    errors = [
        FieldError(field="body.instrument_ids.0", message="no bars"),
        FieldError(field="body.parameters.fast_period", message="too small"),
        FieldError(field="body.start_date", message="weekend"),
        FieldError(field="body.benchmark_symbol", message="unknown"),
    ]
    placed = place_errors(errors, ["instrument_ids", "parameters.fast_period", "start_date", "parameters"])
    assert placed.by_field == {
        "instrument_ids": ["no bars"],
        "parameters.fast_period": ["too small"],  # the longest matching name wins
        "start_date": ["weekend"],
    }
    assert placed.general == ["body.benchmark_symbol: unknown"]
    assert place_errors([], ["x"], "a 409 without fields").general == ["a 409 without fields"]


def test_charts() -> None:
    lines = polylines([("a", [1.0, 2.0, 3.0]), ("b", [3.0, 1.0])], width=100, height=10)
    assert lines[0].points == "0.0,10.0 50.0,5.0 100.0,0.0"
    assert lines[1].points == "0.0,0.0 100.0,10.0"  # one shared scale
    assert lines[0].color != lines[1].color
    rows = [
        {"parameters": {"f": 5, "s": 50}, "objective": 2.0},
        {"parameters": {"f": 10, "s": 50}, "objective": 1.0},
        {"parameters": {"f": 5, "s": 50}, "objective": 0.5},  # ranked lower: not the pair's best
        {"parameters": {"f": 5, "s": 100}, "objective": None},
    ]
    hm = heatmap(rows, ["f", "s"])
    assert hm is not None
    assert hm.xs == ["5", "10"]
    assert hm.ys == ["50"]
    assert hm.cells == {("5", "50"): (2.0, 1.0), ("10", "50"): (1.0, 0.0)}
    assert heatmap(rows, ["f"]) is None
