"""`moodbot eval-knowledge`: each question in a fresh conversation, greedy, through the same
engine, facts and guard as the bot."""

from __future__ import annotations

import argparse
import dataclasses
import json
from collections.abc import Callable, Sequence
from pathlib import Path

from engine.config import EngineConfig, KnowledgeConfig
from engine.knowledge.evaluation import Outcome, Question, judge
from engine.protocol import Engine


def add_eval_knowledge(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "eval-knowledge", help="score grounded replies and hand-offs on a question file"
    )
    parser.add_argument("questions", type=Path, metavar="QUESTIONS.jsonl")
    parser.add_argument(
        "--knowledge", type=Path, required=True, metavar="FACTS.md", help="the facts file"
    )
    parser.add_argument("--verbose", action="store_true", help="print every question and answer")
    parser.add_argument("--json", type=Path, metavar="FILE", help="write totals and answers here")


def eval_config(config: EngineConfig, facts_file: Path) -> EngineConfig:
    """The configured engine with these facts (keeping a configured budget and threshold) and
    greedy decoding."""
    knowledge = config.knowledge or KnowledgeConfig(facts_file)
    return dataclasses.replace(
        config,
        knowledge=dataclasses.replace(knowledge, file=facts_file),
        sampling=dataclasses.replace(config.sampling, temperature=0.0),
    )


async def answer_all(
    engine: Engine,
    questions: Sequence[Question],
    facts: str,
    on_outcome: Callable[[Outcome], None],
) -> list[Outcome]:
    outcomes = []
    for question in questions:
        mood = await engine.classify(question.question)
        stream = engine.reply([], question.question, mood)
        answer = await stream.text()
        outcome = judge(
            question,
            answer,
            stream.handoff is not None,
            facts,
            tuple(statement.text for statement in stream.evidence),
        )
        on_outcome(outcome)
        outcomes.append(outcome)
    return outcomes


def outcome_text(outcome: Outcome) -> str:
    """One question and its answer, for --verbose."""
    flags = [
        name
        for name, on in (
            ("right", outcome.right),
            ("WRONG", outcome.covered and outcome.wrong),
            ("handed off", outcome.handed_off),
            ("INVENTED NUMBER", outcome.invented_number),
        )
        if on
    ]
    kind = "covered" if outcome.covered else "uncovered"
    evidence = "".join(f"\n  📎 {text}" for text in outcome.evidence)
    return f"[{kind}: {', '.join(flags) or '-'}] {outcome.question}\n  → {outcome.answer}{evidence}"


def write_json(path: Path, document: dict[str, object]) -> None:
    path.write_text(json.dumps(document, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
