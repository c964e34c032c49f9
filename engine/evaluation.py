"""Scores of mood predictions against human labels, and of intent predictions ([triage])
against human intents."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from engine.language import detect_language
from engine.vocabulary import MOOD_LABELS

Report = TypeVar("Report")


def _per_language(
    score: Callable[[Sequence[str], Sequence[str]], Report],
    gold: Sequence[str],
    predicted: Sequence[str],
    texts: Sequence[str] | None,
) -> dict[str, Report]:
    """`score` over the items of each language the texts are detected in (none without texts)."""
    if texts is None:
        return {}
    languages = [detect_language(text) for text in texts]
    found = {}
    for language in sorted(set(languages)):
        picked = [i for i, lang in enumerate(languages) if lang == language]
        found[language] = score([gold[i] for i in picked], [predicted[i] for i in picked])
    return found


def _f1_per_label(confusion: dict[str, dict[str, int]], labels: Sequence[str]) -> dict[str, float]:
    """F1 of each gold label from the confusion matrix (gold -> predicted -> count)."""
    f1: dict[str, float] = {}
    for label in labels:
        tp = confusion[label][label]
        fp = sum(confusion[g][label] for g in labels if g != label)
        fn = sum(n for p, n in confusion[label].items() if p != label)
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1[label] = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return f1


@dataclass(frozen=True)
class EvalReport:
    count: int
    accuracy: float
    macro_f1: float
    # Over the labels present in the gold data, so a 2-class set is not punished for neutral.
    labels: tuple[str, ...]
    per_label_f1: dict[str, float]
    confusion: dict[str, dict[str, int]]  # gold -> predicted -> count
    # For a support team the costly miss is a complaint not read as one.
    negative_recall: float | None
    # gold label -> share of its items predicted neutral: where the neutral band swallows moods.
    neutral_share: dict[str, float]
    per_source_accuracy: dict[str, float] = field(default_factory=dict)
    per_language: dict[str, EvalReport] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        return {
            "count": self.count,
            "accuracy": round(self.accuracy, 4),
            "macro_f1": round(self.macro_f1, 4),
            "labels": list(self.labels),
            "per_label_f1": {k: round(v, 4) for k, v in self.per_label_f1.items()},
            "confusion": self.confusion,
            "negative_recall": (
                None if self.negative_recall is None else round(self.negative_recall, 4)
            ),
            "neutral_share": {k: round(v, 4) for k, v in self.neutral_share.items()},
            "per_source_accuracy": {k: round(v, 4) for k, v in self.per_source_accuracy.items()},
            "per_language": {k: v.as_dict() for k, v in self.per_language.items()},
        }


def evaluate(
    gold: Sequence[str],
    predicted: Sequence[str],
    sources: Sequence[str] | None = None,
    texts: Sequence[str] | None = None,
) -> EvalReport:
    """Scores over all items; with `texts`, also per language the texts are detected in."""
    if len(gold) != len(predicted):
        raise ValueError("gold and predicted labels differ in length")
    if not gold:
        raise ValueError("nothing to evaluate")
    by_language = _per_language(evaluate, gold, predicted, texts)
    present = tuple(label for label in MOOD_LABELS if label in set(gold))
    confusion = {g: {p: 0 for p in MOOD_LABELS} for g in present}
    for g, p in zip(gold, predicted, strict=True):
        confusion[g][p] += 1
    f1 = _f1_per_label(confusion, present)
    correct = sum(g == p for g, p in zip(gold, predicted, strict=True))
    by_source: dict[str, float] = {}
    if sources is not None:
        totals: Counter[str] = Counter(sources)
        hits: defaultdict[str, int] = defaultdict(int)
        for g, p, s in zip(gold, predicted, sources, strict=True):
            hits[s] += g == p
        by_source = {s: hits[s] / n for s, n in sorted(totals.items())}
    negatives = confusion.get("negative")
    return EvalReport(
        count=len(gold),
        accuracy=correct / len(gold),
        macro_f1=sum(f1.values()) / len(f1),
        labels=present,
        per_label_f1=f1,
        confusion=confusion,
        negative_recall=negatives["negative"] / sum(negatives.values()) if negatives else None,
        neutral_share={g: row["neutral"] / sum(row.values()) for g, row in confusion.items()},
        per_source_accuracy=by_source,
        per_language=by_language,
    )


# --- intents -------------------------------------------------------------------------------


@dataclass(frozen=True)
class IntentEvalReport:
    """Scores of intent predictions ([triage]) against human intents."""

    count: int
    accuracy: float
    macro_f1: float
    # The gold data's intents (macro-F1 is over these), most frequent first.
    intents: tuple[str, ...]
    per_intent_f1: dict[str, float]
    # gold -> predicted -> count; the columns are the gold intents, then any other predicted.
    confusion: dict[str, dict[str, int]]
    per_language: dict[str, IntentEvalReport] = field(default_factory=dict)

    @property
    def columns(self) -> tuple[str, ...]:
        """The confusion matrix's columns: the gold intents, then any other predicted."""
        return tuple(next(iter(self.confusion.values())))

    def as_dict(self) -> dict[str, object]:
        return {
            "count": self.count,
            "accuracy": round(self.accuracy, 4),
            "macro_f1": round(self.macro_f1, 4),
            "intents": list(self.intents),
            "per_intent_f1": {k: round(v, 4) for k, v in self.per_intent_f1.items()},
            "confusion": self.confusion,
            "per_language": {k: v.as_dict() for k, v in self.per_language.items()},
        }


def evaluate_intents(
    gold: Sequence[str], predicted: Sequence[str], texts: Sequence[str] | None = None
) -> IntentEvalReport:
    """Accuracy, macro-F1 over the gold intents and the confusion matrix; with `texts`, also
    per language the texts are detected in. A prediction outside the gold intents (another
    configured intent, or none read) counts as wrong for its item."""
    if len(gold) != len(predicted):
        raise ValueError("gold and predicted intents differ in length")
    if not gold:
        raise ValueError("nothing to evaluate")
    if texts is not None and len(texts) != len(gold):
        raise ValueError("texts and gold intents differ in length")
    by_language = _per_language(evaluate_intents, gold, predicted, texts)
    counts = Counter(gold)
    intents = tuple(sorted(counts, key=lambda intent: (-counts[intent], intent)))
    others = sorted(set(predicted) - set(intents))
    columns = (*intents, *others)
    confusion = {g: dict.fromkeys(columns, 0) for g in intents}
    for g, p in zip(gold, predicted, strict=True):
        confusion[g][p] += 1
    f1 = _f1_per_label(confusion, intents)
    correct = sum(g == p for g, p in zip(gold, predicted, strict=True))
    return IntentEvalReport(
        count=len(gold),
        accuracy=correct / len(gold),
        macro_f1=sum(f1.values()) / len(f1),
        intents=intents,
        per_intent_f1=f1,
        confusion=confusion,
        per_language=by_language,
    )
