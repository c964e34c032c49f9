"""`moodbot gaps` and `moodbot facts export`: what the facts file lacks, and the facts the
operators taught the bot from the desk, written as Markdown to merge into the facts file."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import datetime, timedelta
from pathlib import Path

from bot.cli.operators import Command, argument_type, report_database, storage_errors
from bot.config import Config
from bot.operators.gaps import Gap, gap_lines, gaps_since
from bot.operators.periods import parse_period
from storage.desk_facts import DeskFactRecord, DeskFacts


def add_knowledge_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
) -> None:
    gaps = commands.add_parser(
        "gaps",
        help="the questions handed to a person, grouped by what they ask, most frequent first",
    )
    gaps.add_argument(
        "--since",
        type=argument_type(parse_period),
        default=timedelta(days=7),
        help="how far back, e.g. 24h, 7d or 30d (default 7d)",
    )
    gaps.add_argument("--format", choices=("text", "json"), default="text")

    facts = commands.add_parser("facts", help="the facts operators saved from the desk")
    actions = facts.add_subparsers(dest="facts_command", required=True, metavar="ACTION")
    export = actions.add_parser(
        "export", help="write the desk facts in use as Markdown, to merge into the facts file"
    )
    export.add_argument("--out", type=Path, help="write to this file instead of stdout")


# --- moodbot gaps --------------------------------------------------------------------------


async def _read_gaps(config: Config, since: datetime) -> list[Gap]:
    async with report_database(config) as database:
        return await gaps_since(database, since)


def gap_row(gap: Gap) -> dict[str, object]:
    return {
        "words": list(gap.words),
        "asked": len(gap.questions),
        "answered_by_operator": gap.answered,
        "saved_as_fact": gap.saved,
        "questions": [
            {"message_id": q.message_id, "customer_id": q.customer_id, "text": q.text}
            for q in gap.questions
        ],
    }


@storage_errors
def gaps(config: Config, args: argparse.Namespace) -> int:
    since = args.now - args.since
    found = asyncio.run(_read_gaps(config, since))
    if args.format == "json":
        json.dump([gap_row(gap) for gap in found], sys.stdout, ensure_ascii=False, indent=2)
        print()
        return 0
    zone = config.operators.zone
    period = f"since {since.astimezone(zone):%Y-%m-%d %H:%M} ({zone.key})"
    if not found:
        print(f"No questions were handed to a person {period}.")
        return 0
    asked = sum(len(gap.questions) for gap in found)
    print(f"{asked} questions handed to a person {period}, in {len(found)} groups:")
    for rank, gap in enumerate(found, start=1):
        print()
        print("\n".join(gap_lines(rank, gap)))
    return 0


# --- moodbot facts export ------------------------------------------------------------------


def facts_markdown(records: list[DeskFactRecord]) -> str:
    """Each desk fact as a facts-file section: the customer's question as its heading, the
    operator's answer as its text. Oldest first, as they were taught."""
    sections = [
        f"## {' '.join(record.question.split())}\n{record.answer.strip()}"
        for record in reversed(records)
    ]
    return "\n\n".join(sections) + "\n" if sections else ""


async def _read_facts(config: Config) -> list[DeskFactRecord]:
    async with report_database(config) as database:
        return await DeskFacts(database).active()


@storage_errors
def facts(config: Config, args: argparse.Namespace) -> int:
    records = asyncio.run(_read_facts(config))
    if not records:
        print("moodbot: no desk facts are in use; nothing to export.", file=sys.stderr)
        return 1
    document = facts_markdown(records)
    if args.out is None:
        sys.stdout.write(document)
    else:
        args.out.write_text(document, encoding="utf-8")
        print(
            f"{len(records)} desk facts → {args.out}. Reword them where needed, merge them into "
            "the facts file, /reloadfacts, then remove them from the desk with /facts."
        )
    return 0


KNOWLEDGE_COMMANDS: dict[str, Command] = {"gaps": gaps, "facts": facts}
