"""Reading the pick: each candidate's share of the digits, "none", the model's hesitation, and
whether the message asks anything."""

from __future__ import annotations

import pytest

from engine.knowledge.evidence import (
    MAX_CANDIDATES,
    Pick,
    best_candidate,
    pick_system,
    read_pick,
)
from engine.knowledge.statements import Statement


class Layout:
    def __init__(self, count: int) -> None:
        self.statements = tuple(
            Statement(f"s{number}", "", f"statement {number}", "en")
            for number in range(1, count + 1)
        )
        self.yes_tokens = 2


def test_each_candidate_gets_its_digits_share() -> None:
    digits = [0.1, 0.5, 0.2, 0.1]  # 0 (none), 1, 2, 3; 0.1 went to other tokens
    asks = [0.6, 0.2, 0.15, 0.05]  # yes, Yes, no, No
    pick = read_pick(Layout(3), digits, asks)
    assert pick.probabilities == pytest.approx((0.5 / 0.9, 0.2 / 0.9, 0.1 / 0.9))
    assert pick.none == pytest.approx(0.1 / 0.9)
    assert pick.outside == pytest.approx(0.1)
    assert pick.asks == pytest.approx(0.8)
    assert pick.best is not None and pick.best[0].id == "s1"
    assert pick.margin == pytest.approx((0.5 - 0.2) / 0.9)


def test_the_focused_check_of_the_best_candidate_is_its_yes_share() -> None:
    digits = [0.1, 0.2, 0.6]
    assert best_candidate(digits) == 1
    pick = read_pick(Layout(2), digits, [1.0, 0.0, 0.0, 0.0], [0.2, 0.1, 0.6, 0.1])
    assert pick.verified == pytest.approx(0.3)
    assert read_pick(Layout(2), digits, [1.0, 0.0, 0.0, 0.0]).verified == 0.0


def test_none_beating_every_candidate_leaves_no_margin() -> None:
    pick = read_pick(Layout(2), [0.7, 0.2, 0.1], [1.0, 0.0, 0.0, 0.0])
    assert pick.margin == pytest.approx(0.2 - 0.7)


def test_no_candidates_reads_only_whether_it_asks() -> None:
    pick = read_pick(Layout(0), None, [0.1, 0.0, 0.9, 0.0])
    assert pick.statements == () and pick.best is None
    assert pick.asks == pytest.approx(0.1)
    assert pick.outside == 0.0
    assert isinstance(pick, Pick)


def test_digits_must_match_the_candidates() -> None:
    with pytest.raises(ValueError, match="3 digit probabilities for 1 candidates"):
        read_pick(Layout(1), [0.2, 0.3, 0.5], [1.0, 0.0, 0.0, 0.0])


def test_a_pick_lists_one_to_eight_candidates_numbered_from_one() -> None:
    statements = Layout(MAX_CANDIDATES).statements
    system = pick_system("en", statements)
    assert system.endswith(
        "\n1. statement 1\n2. statement 2"
        + "".join(f"\n{n}. statement {n}" for n in range(3, MAX_CANDIDATES + 1))
    )
    with pytest.raises(ValueError):
        pick_system("en", Layout(MAX_CANDIDATES + 1).statements)
    with pytest.raises(ValueError):
        pick_system("en", ())
