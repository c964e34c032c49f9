"""Mood scores: negative recall and the neutral band's share of each gold class, per language;
intent scores: accuracy, macro-F1 and the confusion matrix, per language."""

import json
from collections import Counter
from pathlib import Path

import pytest

from engine.config import DEFAULT_INTENTS
from engine.evaluation import evaluate, evaluate_intents


def test_negative_recall_counts_complaints_read_as_negative() -> None:
    gold = ["negative", "negative", "negative", "negative", "positive"]
    predicted = ["negative", "negative", "neutral", "positive", "negative"]
    report = evaluate(gold, predicted)
    assert report.negative_recall == pytest.approx(0.5)


def test_negative_recall_is_absent_without_negative_gold() -> None:
    assert evaluate(["positive"], ["positive"]).negative_recall is None


def test_neutral_share_is_per_gold_class() -> None:
    gold = ["positive", "positive", "negative", "negative", "negative", "neutral"]
    predicted = ["neutral", "positive", "neutral", "neutral", "negative", "neutral"]
    report = evaluate(gold, predicted)
    assert report.neutral_share == pytest.approx(
        {"positive": 0.5, "negative": 2 / 3, "neutral": 1.0}
    )


def test_texts_split_the_scores_by_language() -> None:
    texts = ["太差了，再也不来了", "很好，谢谢", "love it", "hate it"]
    gold = ["negative", "positive", "positive", "negative"]
    predicted = ["neutral", "positive", "positive", "negative"]
    report = evaluate(gold, predicted, texts=texts)
    assert set(report.per_language) == {"zh", "en"}
    zh, en = report.per_language["zh"], report.per_language["en"]
    assert (zh.count, zh.accuracy, zh.negative_recall) == (2, 0.5, 0.0)
    assert zh.neutral_share["negative"] == 1.0
    assert (en.accuracy, en.negative_recall) == (1.0, 1.0)
    assert report.as_dict()["per_language"]["zh"]["negative_recall"] == 0.0


# --- intents ---------------------------------------------------------------------------------

INTENT_DEV = Path(__file__).resolve().parents[1] / "data" / "intent_dev.jsonl"


def test_intent_accuracy_macro_f1_and_confusion() -> None:
    gold = ["returns", "returns", "returns", "shipping", "shipping", "other"]
    predicted = ["returns", "returns", "shipping", "shipping", "returns", "other"]

    report = evaluate_intents(gold, predicted)

    assert (report.count, report.accuracy) == (6, pytest.approx(4 / 6))
    # returns: precision 2/3, recall 2/3; shipping: 1/2, 1/2; other: 1, 1.
    assert report.per_intent_f1 == pytest.approx({"returns": 2 / 3, "shipping": 0.5, "other": 1.0})
    assert report.macro_f1 == pytest.approx((2 / 3 + 0.5 + 1.0) / 3)
    # Most frequent gold intent first.
    assert report.intents == ("returns", "shipping", "other")
    assert report.confusion == {
        "returns": {"returns": 2, "shipping": 1, "other": 0},
        "shipping": {"returns": 1, "shipping": 1, "other": 0},
        "other": {"returns": 0, "shipping": 0, "other": 1},
    }


def test_predictions_outside_the_gold_intents_are_wrong_and_get_a_column() -> None:
    gold = ["returns", "returns", "payment"]
    predicted = ["feedback", "(none)", "payment"]

    report = evaluate_intents(gold, predicted)

    assert report.columns == ("returns", "payment", "(none)", "feedback")
    assert report.confusion["returns"] == {
        "returns": 0,
        "payment": 0,
        "(none)": 1,
        "feedback": 1,
    }
    assert report.accuracy == pytest.approx(1 / 3)
    # Macro-F1 is over the gold intents only: returns 0, payment 1.
    assert report.per_intent_f1 == {"returns": 0.0, "payment": 1.0}
    assert report.macro_f1 == 0.5


def test_texts_split_the_intent_scores_by_language() -> None:
    texts = ["我要退货", "快递到哪了", "refund please", "where is my parcel"]
    gold = ["returns", "shipping", "returns", "shipping"]
    predicted = ["returns", "returns", "returns", "shipping"]

    report = evaluate_intents(gold, predicted, texts)

    assert set(report.per_language) == {"zh", "en"}
    zh, en = report.per_language["zh"], report.per_language["en"]
    assert (zh.count, zh.accuracy) == (2, 0.5)
    assert zh.confusion["shipping"]["returns"] == 1
    assert (en.count, en.accuracy, en.macro_f1) == (2, 1.0, 1.0)
    as_dict = report.as_dict()
    assert as_dict["per_language"]["zh"]["accuracy"] == 0.5  # type: ignore[index]
    assert as_dict["intents"] == ["returns", "shipping"]
    assert json.loads(json.dumps(as_dict)) == as_dict


def test_intent_scores_refuse_mismatched_or_empty_input() -> None:
    with pytest.raises(ValueError, match="differ in length"):
        evaluate_intents(["returns"], [])
    with pytest.raises(ValueError, match="differ in length"):
        evaluate_intents(["returns"], ["returns"], ["a", "b"])
    with pytest.raises(ValueError, match="nothing to evaluate"):
        evaluate_intents([], [])


def test_the_intent_dev_set_scores_itself_perfectly_per_language() -> None:
    rows = [json.loads(line) for line in INTENT_DEV.read_text(encoding="utf-8").splitlines()]
    gold = [row["intent"] for row in rows]

    report = evaluate_intents(gold, gold, [row["text"] for row in rows])

    assert (report.count, report.accuracy, report.macro_f1) == (len(rows), 1.0, 1.0)
    assert set(report.intents) == set(DEFAULT_INTENTS)
    # The detected languages are the ones the dev set names.
    assert {lang: part.count for lang, part in report.per_language.items()} == dict(
        Counter(row["lang"] for row in rows)
    )
