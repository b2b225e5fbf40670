"""The pure parts of adjusted imports and corporate-action uploads: scaling a chunk by Adj Close, and reading
actions from CSV or JSON with every problem named by line or index and field."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import numpy as np
import pyarrow as pa
import pytest

from services.api.domain.corporate_actions import ActionsInvalid, actions_from_csv, actions_from_json
from services.ingest.domain.adj_close import RAW_NOTE, note_for, scale_by_adj_close
from services.ingest.domain.bar_checks import check_chunk
from services.ingest.domain.csv_layout import ADJ_CLOSE, BAR_FIELDS, detect_layout
from shared.contracts.models.enums import BarAdjustment, CorporateActionType


def _chunk(rows: list[tuple[str, ...]]) -> dict[str, pa.Array]:
    names = (*BAR_FIELDS, ADJ_CLOSE)
    return {name: pa.array([row[i] for row in rows]) for i, name in enumerate(names)}


def test_adjusted_rows_are_scaled_by_adj_close_over_close_and_volume_is_kept() -> None:
    columns = _chunk(
        [
            ("2023-01-03", "100", "110", "90", "105", "1000", "52.5"),
            ("2023-01-04", "105", "106", "104", "105", "2000", "n/a"),
            ("2023-01-05", "105", "106", "104", "105", "3000", "-1"),
            ("2023-01-06", "105", "106", "104", "105", "4000", "1e-12"),
        ]
    )
    checked = check_chunk(columns, np.arange(4, dtype=np.int64), np.ones(4, dtype=bool))
    problems = scale_by_adj_close(checked, columns[ADJ_CLOSE])
    assert [(p.position, p.field) for p in problems] == [(1, "adj_close"), (2, "adj_close"), (3, "adj_close")]
    assert "got 'n/a'" in problems[0].message
    assert "outside" in problems[2].message
    assert checked.valid.tolist() == [True, False, False, False]
    assert (checked.open[0], checked.high[0], checked.low[0], checked.close[0]) == (50.0, 55.0, 45.0, 52.5)
    assert checked.volume.tolist() == [1000, 2000, 3000, 4000]


def test_the_yahoo_header_has_adj_close_and_a_raw_import_notes_it() -> None:
    layout = detect_layout(["Date", "Open", "High", "Low", "Close", "Adj Close", "Volume"])
    assert layout.fields == (*BAR_FIELDS, ADJ_CLOSE)
    assert detect_layout(["timestamp", "open", "high", "low", "close", "volume"]).fields == BAR_FIELDS
    assert note_for(BarAdjustment.RAW, has_adj_close=True) == [RAW_NOTE]
    assert note_for(BarAdjustment.ADJUSTED, has_adj_close=True) == []
    assert note_for(BarAdjustment.RAW, has_adj_close=False) == []


def test_actions_from_csv_in_any_column_order() -> None:
    actions = actions_from_csv("\ufeffEx_Date,Type,Amount,Ratio\n2020-08-31,SPLIT,,5\n\n2023-02-10,DIVIDEND,0.24,\n")
    assert [(a.type, a.ex_date, a.value) for a in actions] == [
        (CorporateActionType.SPLIT, date(2020, 8, 31), Decimal(5)),
        (CorporateActionType.DIVIDEND, date(2023, 2, 10), Decimal("0.24")),
    ]


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("type,ex_date\nSPLIT,2020-08-31\n", "line 1"),
        ("type,ex_date,ratio,amount\nSPLIT,2020-08-31,5\n", "line 2"),
        ("type,ex_date,ratio,amount\nSPLIT,2020-08-31,5,\nSPLIT,2020-08-31,2,\n", "line 3"),
        ("type,ex_date,ratio,amount\nSPLIT,2020-08-31,five,\n", "line 2.ratio"),
        ("type,ex_date,ratio,amount\nBONUS,2020-08-31,5,\n", "line 2.type"),
        ("type,ex_date,ratio,amount\n", "body"),
    ],
)
def test_a_bad_csv_names_the_line_and_field(text: str, field: str) -> None:
    with pytest.raises(ActionsInvalid) as caught:
        actions_from_csv(text)
    assert caught.value.problems[0][0] == field


def test_actions_from_json_name_the_index() -> None:
    assert len(actions_from_json([{"type": "DIVIDEND", "ex_date": "2023-02-10", "amount": "0.24"}])) == 1
    for document, field in [
        ({"type": "SPLIT"}, "body"),
        ([{"type": "SPLIT", "ex_date": "2020-08-31"}], "body[0]"),
        ([1], "body[0]"),
        ([], "body"),
    ]:
        with pytest.raises(ActionsInvalid) as caught:
            actions_from_json(document)
        assert caught.value.problems[0][0] == field
