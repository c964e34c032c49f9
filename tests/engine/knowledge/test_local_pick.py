"""The local engine's pick: each of its readings (the choice, whether the message asks, the
focused check of the best candidate) is what a plain pass over that reading's whole prompt says."""

from __future__ import annotations

import pytest
import torch

from engine.decoder import Decoder
from engine.knowledge.evidence import best_candidate, pick_question, read_pick
from engine.knowledge.statements import Statement
from engine.kv_cache import RowCache, causal_mask
from engine.label_questions import Branch
from engine.local_backend import PickReading
from engine.mood_engine import MoodEngine

STATEMENTS = [
    Statement("a", "Hours", "We open at 9:00 every day.", "en"),
    Statement("b", "Shipping", "Shipping is free over 199 yuan.", "en"),
    Statement("c", "Returns", "Returns are accepted within 7 days.", "en"),
]
# Keys and values are cached in bf16: a reading over a cached prefix and a plain pass round apart.
TOLERANCE = 2e-3


def _plain(decoder: Decoder, ids: list[int], branch: Branch) -> list[float]:
    cache = RowCache(decoder.shape, decoder.kv_dtype)
    tokens = [*ids, *branch.suffix]
    with torch.inference_mode():
        hidden = decoder.hidden(
            torch.tensor([tokens]),
            torch.arange(len(tokens))[None],
            cache,
            causal_mask(0, len(tokens)),
        )[:, -1]
        if branch.whole_vocabulary:
            return torch.softmax(decoder.logits(hidden).float(), dim=-1)[
                0, list(branch.labels)
            ].tolist()
        return torch.softmax(decoder.label_logits(hidden, branch.labels), dim=-1)[0].tolist()


async def test_the_pick_reads_what_plain_passes_over_its_prompts_read(
    tiny_engine: MoodEngine,
) -> None:
    message = "When do you open in the morning?"
    tokenizer = tiny_engine.backend.tokenizer
    decoder = tiny_engine.backend.decoder
    question = pick_question(tokenizer, "en", STATEMENTS)
    assert question.choice is not None
    ids = tokenizer.encode(message, add_special_tokens=False)
    choice = _plain(decoder, [*question.choice.prefix_ids, *ids], question.choice.branch)
    asks_ids = [*question.asks.prefix_ids, *ids]
    asks = _plain(decoder, asks_ids, question.asks.branch)
    checks = [_plain(decoder, asks_ids, branch) for branch in question.verify]
    best = best_candidate(choice)
    # The checks of different statements read differently (else this test could not tell
    # which one the engine checked).
    assert all(
        check != pytest.approx(checks[best], abs=TOLERANCE)
        for number, check in enumerate(checks)
        if number != best
    )

    [rows] = tiny_engine.backend.read_labels(PickReading(question, (tuple(ids),)))
    for ours, theirs in zip(rows, (choice, asks, checks[best]), strict=True):
        assert ours.tolist() == pytest.approx(theirs, abs=TOLERANCE)

    pick = await tiny_engine.pick("en", STATEMENTS, message)
    expected = read_pick(question, choice, asks, checks[best])
    assert pick.probabilities == pytest.approx(expected.probabilities, abs=TOLERANCE)
    assert (pick.none, pick.asks, pick.verified) == pytest.approx(
        (expected.none, expected.asks, expected.verified), abs=TOLERANCE
    )


async def test_without_candidates_only_whether_it_asks_is_read(tiny_engine: MoodEngine) -> None:
    pick = await tiny_engine.pick("en", [], "Thank you so much!")
    assert pick.statements == () and pick.best is None and pick.verified == 0.0
    assert 0.0 <= pick.asks <= 1.0
