"""Corporate actions as uploaded: a CSV (type,ex_date,ratio,amount) or a JSON list, validated row by row
into CorporateAction, every problem named by its line (CSV) or index (JSON) and field (pure)."""

from __future__ import annotations

import csv
import io
from typing import Any, Final

from pydantic import ValidationError

from shared.contracts.models.corporate_action import MAX_ACTIONS, CorporateAction

CSV_HEADER: Final = ("type", "ex_date", "ratio", "amount")
MAX_REPORTED: Final = 20  # problems listed in one answer


class ActionsInvalid(ValueError):
    """`problems`: (field, message) pairs, e.g. ("line 3.ratio", "...")."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{f}: {m}" for f, m in problems[:5]))
        self.problems = problems[:MAX_REPORTED]


def _validated(rows: list[tuple[str, Any]]) -> list[CorporateAction]:
    """(where, values) pairs into actions; one ActionsInvalid listing every bad row."""
    if not rows:
        raise ActionsInvalid([("body", "no corporate actions: expected at least one")])
    if len(rows) > MAX_ACTIONS:
        raise ActionsInvalid([("body", f"{len(rows)} actions; at most {MAX_ACTIONS} per upload")])
    actions: list[CorporateAction] = []
    problems: list[tuple[str, str]] = []
    for where, values in rows:
        try:
            actions.append(CorporateAction.model_validate(values))
        except ValidationError as exc:
            for error in exc.errors():
                field = ".".join([where, *(str(p) for p in error["loc"])])
                problems.append((field, str(error["msg"]).removeprefix("Value error, ")))
    seen: dict[tuple[str, str], int] = {}
    for position, action in enumerate(actions):
        key = (action.type.value, action.ex_date.isoformat())
        if key in seen:
            problems.append((rows[position][0], f"a second {key[0]} on {key[1]}"))
        seen[key] = position
    if problems:
        raise ActionsInvalid(problems)
    return actions


def actions_from_json(document: Any) -> list[CorporateAction]:
    """A JSON list of {type, ex_date, ratio | amount}."""
    if not isinstance(document, list):
        raise ActionsInvalid([("body", f"expected a JSON list of actions, got {type(document).__name__}")])
    return _validated([(f"body[{n}]", item) for n, item in enumerate(document)])


def actions_from_csv(text: str) -> list[CorporateAction]:
    """A CSV with the header type,ex_date,ratio,amount (any order, any case); empty cells are absent values."""
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    try:
        header = [h.strip().lower() for h in next(reader, [])]
        if sorted(header) != sorted(CSV_HEADER):
            raise ActionsInvalid([("line 1", f"expected the header {','.join(CSV_HEADER)}, got {','.join(header)!r}")])
        rows: list[tuple[str, Any]] = []
        for line, cells in enumerate(reader, start=2):
            if not any(c.strip() for c in cells):
                continue
            if len(cells) != len(header):
                raise ActionsInvalid([(f"line {line}", f"expected {len(header)} fields, found {len(cells)}")])
            rows.append((f"line {line}", {k: v.strip() for k, v in zip(header, cells, strict=True) if v.strip()}))
            if len(rows) > MAX_ACTIONS:
                break
    except csv.Error as exc:
        raise ActionsInvalid([("body", f"not valid CSV: {exc}")]) from exc
    return _validated(rows)
