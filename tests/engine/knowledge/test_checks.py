"""The checks a reply written from evidence must pass."""

from __future__ import annotations

import pytest

from engine.knowledge.checks import (
    Verdict,
    asks_yes_or_no,
    check_reply,
    opens_with_yes,
    says_we_do_not,
)
from engine.reply_text import FALLBACKS


@pytest.mark.parametrize(
    ("question", "language", "yes_or_no"),
    [
        ("Do you deliver to Canada?", "en", True),
        ("Can I pay cash when the package arrives?", "en", True),
        ("How long does delivery take?", "en", False),
        ("空调要自己找人安装吗？", "zh", True),
        ("可不可以货到付款", "zh", True),
        ("寄到西藏要几天？", "zh", False),
    ],
)
def test_yes_or_no_questions_are_told_apart(question: str, language: str, yes_or_no: bool) -> None:
    assert asks_yes_or_no(question, language) is yes_or_no  # type: ignore[arg-type]


def test_a_yes_that_the_statement_contradicts_fails() -> None:
    verdict = check_reply(
        "Yes, we do deliver to Canada!",
        question="Do you deliver to Canada?",
        language="en",
        mood="neutral",
        evidence=["We do not ship abroad."],
        conversation=[],
    )
    assert "says yes where the facts say no" in verdict.problems
    agreeing = check_reply(
        "I'm sorry, we do not ship abroad, only within mainland China.",
        question="Do you deliver to Canada?",
        language="en",
        mood="neutral",
        evidence=["We do not ship abroad."],
        conversation=[],
    )
    assert agreeing.passed


def test_chinese_yes_against_a_chinese_no_fails() -> None:
    verdict = check_reply(
        "可以的，我们支持货到付款。",
        question="可以货到付款吗？",
        language="zh",
        mood="neutral",
        evidence=["不支持货到付款。"],
        conversation=[],
    )
    assert "says yes where the facts say no" in verdict.problems


def test_numbers_must_come_from_the_evidence_or_the_conversation() -> None:
    verdict = check_reply(
        "The RC-30 costs 199 yuan.",
        question="How much is the RC-30?",
        language="en",
        mood="neutral",
        evidence=["The RC-30 rice cooker comes in white and red."],
        conversation=[],
    )
    assert "numbers not in the facts: 199" in verdict.problems
    from_conversation = check_reply(
        "Your order 4411 is noted, and it comes in white and red.",
        question="What colours for my order?",
        language="en",
        mood="neutral",
        evidence=["The RC-30 rice cooker comes in white and red."],
        conversation=["I ordered it, number 4411."],
    )
    assert from_conversation.passed


@pytest.mark.parametrize("reply", ["Yes.", "可以。", FALLBACKS["en"]["neutral"]])
def test_a_reply_that_says_nothing_fails(reply: str) -> None:
    verdict = check_reply(
        reply,
        question="Can I return it?",
        language="en",
        mood="neutral",
        evidence=["Unused products can be returned within 7 days."],
        conversation=[],
    )
    assert "no usable answer" in verdict.problems


def test_negations_and_affirmations() -> None:
    assert says_we_do_not("We ship within mainland China only.")
    assert says_we_do_not("暂不支持海外配送。")
    assert not says_we_do_not("Unused products can be returned, no reason needed.")
    assert opens_with_yes("Yes, of course!", "en")
    assert opens_with_yes("是的，可以。", "zh")
    assert not opens_with_yes("Unfortunately not.", "en")


def checked(reply: str, question: str, evidence: str) -> Verdict:
    """The verdict on a neutral reply from one statement, in the question's language."""
    return check_reply(
        reply,
        question=question,
        language="zh" if "？" in question else "en",
        mood="neutral",
        evidence=[evidence],
        conversation=[],
    )


@pytest.mark.parametrize(
    ("reply", "question", "evidence", "problem"),
    [
        # The condition is the answer: a yes without it is wrong.
        (
            "可以使用花呗分期。",
            "可以用花呗分期吗？",
            "订单满 1000 元可使用花呗 3 期或 6 期免息分期。",
            "leaves out the numbers of the facts",
        ),
        # Kind words around the question's own words answer nothing.
        (
            "感谢您的理解和支持。我们会尽力帮助您完成空调的安装。",
            "空调要自己找人安装吗？",
            "AC-12 空调为 1.5 匹，需要安装，在 2–4 天送达的城市免费安装。",
            "says nothing of the facts",
        ),
        (
            "The customer asked about the MT-7's components. The FACT states that it has "
            "27.5-inch wheels and 21 speeds.",
            "Does the MT-7 come ready to ride?",
            "The MT-7 mountain bike has 27.5-inch wheels, 21 speeds and comes in sizes S, M, L.",
            "talks about its instructions",
        ),
        (
            "资料显示，早餐时间 7:30–10:00。",
            "早餐几点开始？",
            "早餐时间 7:30–10:00，每间房含 2 人早餐。",
            "talks about its instructions",
        ),
        (
            "Thanks for asking! We are happy to help with your delivery.",
            "Do you deliver to Canada?",
            "We ship within mainland China only.",
            "says nothing of the facts",
        ),
    ],
)
def test_a_reply_must_say_what_its_statement_says(
    reply: str, question: str, evidence: str, problem: str
) -> None:
    verdict = checked(reply, question, evidence)
    assert problem in verdict.problems


@pytest.mark.parametrize(
    ("reply", "question", "evidence"),
    [
        (
            "订单满 1000 元即可用花呗 3 期或 6 期免息分期。",
            "可以用花呗分期吗？",
            "订单满 1000 元可使用花呗 3 期或 6 期免息分期。",
        ),
        # The statement's number the message already names need not come again.
        (
            "The RC-30 comes in white and red.",
            "Which colours does the RC-30 come in?",
            "The RC-30 rice cooker comes in white and red.",
        ),
        (
            "I'm sorry, we only ship within mainland China.",
            "Do you deliver to Canada?",
            "We ship within mainland China only.",
        ),
        (
            "感谢您的理解。我们会在周一恢复工作。",
            "请问你们周日上班吗？",
            "周日及法定节假日休息，留言将在下一个工作日回复。",
        ),
    ],
)
def test_a_reply_that_carries_its_statement_passes(
    reply: str, question: str, evidence: str
) -> None:
    verdict = checked(reply, question, evidence)
    assert verdict.passed, verdict.problems
