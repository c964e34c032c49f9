"""Mood scores: negative recall and the neutral band's share of each gold class, per language."""

import pytest

from engine.evaluation import evaluate


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
