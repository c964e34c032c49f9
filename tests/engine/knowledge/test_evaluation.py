import pytest

from engine.knowledge.evaluation import Question, judge, totals

FACTS = "Delivery takes 2–4 days. Shipping is free over 199 yuan."


def test_a_covered_answer_is_right_when_it_holds_an_expected_phrase_in_any_case() -> None:
    question = Question("How long is delivery?", True, ("2-4", "2–4", "Two to four"))
    assert judge(question, "It takes TWO TO FOUR days.", False, FACTS).right
    assert not judge(question, "It takes a while.", False, FACTS).right


def test_an_uncovered_answer_with_a_number_from_nowhere_is_invented() -> None:
    question = Question("How much is the kettle?", False)
    outcome = judge(question, "The kettle costs 89 yuan.", False, FACTS)
    assert outcome.invented_number and not outcome.right
    assert not judge(question, "Orders over 199 yuan ship free.", False, FACTS).invented_number


@pytest.mark.parametrize("handed_off", [True, False])
def test_totals(handed_off: bool) -> None:
    outcomes = [
        judge(Question("a", True, ("x",)), "x", False, FACTS, ("x is so",)),
        judge(Question("c", True, ("y",)), "z", handed_off, FACTS, ("z is so",)),
        judge(Question("b", False), "costs 5", handed_off, FACTS),
    ]
    assert totals(outcomes) == {
        "covered": 2,
        "covered_right": 1,
        "covered_wrong": int(not handed_off),
        "covered_handed_off": int(handed_off),
        "covered_pick_right": 1,
        "uncovered": 1,
        "uncovered_invented_number": 1,
        "uncovered_handed_off": int(handed_off),
    }


def test_a_handed_off_covered_question_is_neither_right_nor_wrong() -> None:
    outcome = judge(Question("a", True, ("x",)), "x", True, FACTS, ("x",))
    assert not outcome.right and not outcome.wrong and outcome.pick_right
