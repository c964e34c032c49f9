"""Scores of mood predictions against human labels."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from engine.vocabulary import MOOD_LABELS


@dataclass(frozen=True)
class EvalReport:
    count: int
    accuracy: float
    macro_f1: float
    # Over the labels present in the gold data, so a 2-class set is not punished for neutral.
    labels: tuple[str, ...]
    per_label_f1: dict[str, float]
    confusion: dict[str, dict[str, int]]  # gold -> predicted -> count
    per_source_accuracy: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        return {
            "count": self.count,
            "accuracy": round(self.accuracy, 4),
            "macro_f1": round(self.macro_f1, 4),
            "labels": list(self.labels),
            "per_label_f1": {k: round(v, 4) for k, v in self.per_label_f1.items()},
            "confusion": self.confusion,
            "per_source_accuracy": {k: round(v, 4) for k, v in self.per_source_accuracy.items()},
        }


def evaluate(
    gold: Sequence[str], predicted: Sequence[str], sources: Sequence[str] | None = None
) -> EvalReport:
    if len(gold) != len(predicted):
        raise ValueError("gold and predicted labels differ in length")
    if not gold:
        raise ValueError("nothing to evaluate")
    present = tuple(label for label in MOOD_LABELS if label in set(gold))
    confusion = {g: {p: 0 for p in MOOD_LABELS} for g in present}
    for g, p in zip(gold, predicted, strict=True):
        confusion[g][p] += 1
    f1: dict[str, float] = {}
    for label in present:
        tp = confusion[label][label]
        fp = sum(confusion[g][label] for g in present if g != label)
        fn = sum(n for p, n in confusion[label].items() if p != label)
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1[label] = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    correct = sum(g == p for g, p in zip(gold, predicted, strict=True))
    by_source: dict[str, float] = {}
    if sources is not None:
        totals: Counter[str] = Counter(sources)
        hits: defaultdict[str, int] = defaultdict(int)
        for g, p, s in zip(gold, predicted, sources, strict=True):
            hits[s] += g == p
        by_source = {s: hits[s] / n for s, n in sorted(totals.items())}
    return EvalReport(
        count=len(gold),
        accuracy=correct / len(gold),
        macro_f1=sum(f1.values()) / len(f1),
        labels=present,
        per_label_f1=f1,
        confusion=confusion,
        per_source_accuracy=by_source,
    )
