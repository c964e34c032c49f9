"""What a reply written from evidence must pass before a customer sees it.

- Every number in it stands in the evidence or the conversation (the number guard).
- A yes/no question answered from a statement that says we do not (or only) do something is not
  answered "Yes": "We do not ship abroad" → the reply may not open with "Yes" or "可以".
- It says something: not the canned fallback of the clean-up, not a bare "Yes." or "可以。".
- It says what the statement says: one of its numbers, when it holds numbers the message does
  not (a condition such as "订单满 1000 元" is the answer, not a detail: "可以使用花呗分期" drops
  it), and at least one of its words beyond the message's own ("我们会尽力帮助您完成空调的安装"
  answers nothing of "需要安装，在 2–4 天送达的城市免费安装").
- It speaks to the customer, not about its prompt ("The customer asked about … The FACT
  states …").
A reply that fails is written once more, then replaced by the statement in a warm frame.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from engine.knowledge.numbers import invented_numbers, numbers_in
from engine.knowledge.retrieval import words
from engine.language import Language
from engine.reply_text import FALLBACKS
from engine.vocabulary import MoodLabel

_EN_YES_NO_QUESTION = re.compile(
    r"^\s*(?:\w+,\s*)?(?:do|does|did|can|could|is|are|was|were|will|would|should|shall|may|"
    r"have|has|had|am)\b",
    re.IGNORECASE,
)
_ZH_YES_NO_QUESTION = re.compile(
    r"[吗么嘛][？?。！!\s]*$|能不能|可不可以|可以不|是不是|有没有|会不会|要不要|行不行|对不对|好不好"
)
# "No reason needed" says nothing against a yes: a bare "no" is not counted.
_EN_NEGATION = re.compile(
    r"\b(?:not|never|cannot|can't|don't|doesn't|isn't|aren't|won't|only|except|unavailable)\b",
    re.IGNORECASE,
)
_ZH_NEGATION = re.compile(r"不|没|无|仅|只|暂不|禁止|除外")
_EN_AFFIRMATIVE = re.compile(
    r"^\W*(?:yes|yeah|yep|sure|of course|absolutely|definitely|certainly)\b", re.IGNORECASE
)
_ZH_AFFIRMATIVE = re.compile(r"^\W*(?:是的|可以|能的|能|有的|会的|对的|当然|没问题)")
_WORDS = re.compile(r"[A-Za-z0-9]+|[\u4e00-\u9fff]")
# A product or model code ("RC-30", "KF8"): its digits name a thing, they answer nothing.
_CODE = re.compile(r"\b[A-Za-z]+-?\d+[A-Za-z]*\b")
# The prompt's own words in a reply: the model narrating its task instead of answering.
_ABOUT_THE_PROMPT = re.compile(
    r"\bFACTS?\b|\bthe customer(?:'s)? (?:asked|asks|is asking|wants|message)\b|"
    r"资料(?:中|里|上)?(?:说|显示|表明|提到|写)|客户(?:询问|问了|想知道|的问题是)"
)
# A reply of this many words (Han characters count one each) or fewer tells the customer nothing.
TERSE_WORDS = 3


def asks_yes_or_no(question: str, language: Language) -> bool:
    if language == "zh":
        return bool(_ZH_YES_NO_QUESTION.search(question.strip()))
    return bool(_EN_YES_NO_QUESTION.match(question))


def says_we_do_not(statement: str) -> bool:
    return bool(_EN_NEGATION.search(statement) or _ZH_NEGATION.search(statement))


def opens_with_yes(reply: str, language: Language) -> bool:
    pattern = _ZH_AFFIRMATIVE if language == "zh" else _EN_AFFIRMATIVE
    return bool(pattern.match(reply))


def too_terse(reply: str) -> bool:
    return len(_WORDS.findall(reply)) <= TERSE_WORDS


def leaves_out_numbers(reply: str, question: str, evidence: Iterable[str]) -> bool:
    """The evidence states numbers the message does not (a product code's aside), and the reply
    states none of them."""
    stated = set().union(*(numbers_in(_CODE.sub(" ", statement)) for statement in evidence))
    news = stated - numbers_in(question)
    return bool(news) and not (numbers_in(reply) & stated)


def says_nothing_of(reply: str, question: str, evidence: Iterable[str]) -> bool:
    """The reply shares no word with the evidence beyond the message's own words."""
    news = {word for statement in evidence for word in words(statement)} - set(words(question))
    return bool(news) and not (set(words(reply)) & news)


@dataclass(frozen=True)
class Verdict:
    """Why a reply must not reach the customer; empty when it may."""

    problems: tuple[str, ...]

    @property
    def passed(self) -> bool:
        return not self.problems


def check_reply(
    reply: str,
    *,
    question: str,
    language: Language,
    mood: MoodLabel,
    evidence: Iterable[str],
    conversation: Iterable[str],
) -> Verdict:
    evidence = list(evidence)
    problems: list[str] = []
    if reply == FALLBACKS[language][mood] or too_terse(reply):
        problems.append("no usable answer")
    invented = invented_numbers(reply, [*evidence, *conversation, question])
    if invented:
        problems.append(f"numbers not in the facts: {', '.join(sorted(invented))}")
    if (
        asks_yes_or_no(question, language)
        and any(says_we_do_not(statement) for statement in evidence)
        and opens_with_yes(reply, language)
    ):
        problems.append("says yes where the facts say no")
    if evidence and leaves_out_numbers(reply, question, evidence):
        problems.append("leaves out the numbers of the facts")
    if evidence and says_nothing_of(reply, question, evidence):
        problems.append("says nothing of the facts")
    if _ABOUT_THE_PROMPT.search(reply):
        problems.append("talks about its instructions")
    return Verdict(tuple(problems))
