"""Reading the pick: statement numbers of one and two digits, "none", and whether the message
asks anything."""

from __future__ import annotations

import pytest

from engine.knowledge.evidence import Pick, first_digits, read_pick
from engine.knowledge.statements import Statement


class Layout:
    def __init__(self, count: int) -> None:
        self.statements = tuple(
            Statement(f"s{number}", "", f"statement {number}", "en")
            for number in range(1, count + 1)
        )
        self.first_digits = first_digits(count)
        self.yes_tokens = 2


def _digits(**probabilities: float) -> list[float]:
    row = [0.0] * 10
    for digit, probability in probabilities.items():
        row[int(digit.removeprefix("d"))] = probability
    return row


def test_a_two_digit_number_is_its_first_digit_times_its_second() -> None:
    layout = Layout(12)
    first = _digits(d0=0.1, d1=0.8, d3=0.05)
    after_one = _digits(d2=0.75)  # "12"; the rest (0.25) ends the answer at "1"
    asks = [0.6, 0.2, 0.15, 0.05]  # yes, Yes, no, No
    pick = read_pick(layout, [first, after_one, asks])
    scores = dict(zip([s.id for s in pick.statements], pick.probabilities, strict=True))
    total = 0.1 + 0.8 * 0.25 + 0.05 + 0.8 * 0.75
    assert scores["s12"] == pytest.approx(0.6 / total)
    assert scores["s1"] == pytest.approx(0.2 / total)
    assert scores["s3"] == pytest.approx(0.05 / total)
    assert pick.none == pytest.approx(0.1 / total)
    assert pick.asks == pytest.approx(0.8)
    assert pick.best is not None and pick.best[0].id == "s12"
    assert pick.margin == pytest.approx((0.6 - 0.2) / total)
    assert pick.outside == pytest.approx(1 - 0.95)


def test_a_single_digit_beyond_the_two_digit_range_is_final() -> None:
    layout = Layout(9)
    pick = read_pick(layout, [_digits(d9=0.9, d0=0.1), [1.0, 0.0, 0.0, 0.0]])
    assert pick.best is not None and pick.best[0].id == "s9"
    assert pick.best[1] == pytest.approx(0.9)


def test_no_statements_reads_only_whether_it_asks() -> None:
    pick = read_pick(Layout(0), [_digits(d0=0.7), [0.1, 0.0, 0.9, 0.0]])
    assert pick.statements == () and pick.best is None
    assert pick.asks == pytest.approx(0.1)
    assert isinstance(pick, Pick)
