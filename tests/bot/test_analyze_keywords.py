"""`moodbot analyze --keywords`: complaint keywords for the negative texts only."""

from __future__ import annotations

import json
from pathlib import Path
from typing import cast

from bot.cli.batch import analyze
from engine.protocol import Engine
from engine.types import Mood
from tests.operators.bot_support import KeywordEngine


class SyncKeywordEngine(KeywordEngine):
    def classify_many_sync(self, texts: list[str]) -> list[Mood]:
        return [
            Mood("negative", 0.9) if t.startswith("sad") else Mood("positive", 0.9) for t in texts
        ]


def test_negative_texts_get_keywords_and_the_others_none(tmp_path: Path) -> None:
    source = tmp_path / "texts.jsonl"
    source.write_text(
        "\n".join(json.dumps({"text": t}) for t in ["sad refund never came", "glad all good"]),
        encoding="utf-8",
    )
    target = tmp_path / "out.jsonl"

    analyze(cast(Engine, SyncKeywordEngine()), source, target, "text", 8, keywords=True)

    rows = [json.loads(line) for line in target.read_text(encoding="utf-8").splitlines()]
    assert [(row["mood"], row["keywords"]) for row in rows] == [
        ("negative", "refund, never"),
        ("positive", ""),
    ]
