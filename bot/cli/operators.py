"""`moodbot moods`, `moodbot report` and `moodbot export`: the operators' view of the bot's
database from the server's command line."""

from __future__ import annotations

import argparse
import asyncio
import csv
import dataclasses
import functools
import json
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from bot.config import Config
from bot.operators.log_view import HANDOFF_MARK, intent_text
from bot.operators.periods import last_days, parse_days, parse_period
from engine.vocabulary import MOOD_LABELS, MoodLabel
from storage import Database, StorageError
from storage.customer_export import CustomerExport, export_customer
from storage.migrations import require_current
from storage.mood_log import MoodFilter, MoodLog, MoodLogEntry
from storage.mood_stats import IntentMoods, MoodStats, daily_moods, local_midnight, moods_by_intent

T = TypeVar("T")
Command = Callable[[Config, argparse.Namespace], int]

LOG_FIELDS = (
    "time",
    "message_id",
    "chat_id",
    "customer_id",
    "customer_name",
    "customer_username",
    "label",
    "model_label",
    "model_confidence",
    "human_label",
    "corrected_by",
    "corrected_at",
    "keywords",
    "needs_human",
    "handoff_reason",
    "text",
)
# Beside them where any listed message has an intent ([triage]); a log without intents keeps
# the columns it always had.
INTENT_FIELDS = ("intent", "model_intent", "model_intent_confidence", "human_intent")


def argument_type(parse: Callable[[str], T]) -> Callable[[str], T]:
    def convert(text: str) -> T:
        try:
            return parse(text)
        except ValueError as exc:
            # argparse shows an ArgumentTypeError's own words instead of "invalid value".
            raise argparse.ArgumentTypeError(str(exc)) from None

    return convert


def add_operator_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    moods = commands.add_parser("moods", help="print the mood log, newest first")
    moods.add_argument(
        "--since",
        type=argument_type(parse_period),
        default=timedelta(days=7),
        help="how far back, e.g. 24h, 7d or 30d (default 7d)",
    )
    moods.add_argument("--label", choices=MOOD_LABELS, help="only messages with this mood")
    moods.add_argument("--user", help="only this customer: a user id or @username")
    moods.add_argument("--intent", help="only messages with this intent (one of [triage] intents)")
    moods.add_argument("--format", choices=("table", "csv", "json"), default="table")

    report = commands.add_parser("report", help="draw the moods-per-day chart as a PNG file")
    report.add_argument(
        "--since",
        type=argument_type(parse_days),
        default=30,
        help="the last N days up to today, e.g. 7d or 30d (default 30d)",
    )
    report.add_argument("--out", type=Path, default=Path("mood-report.png"))

    export = commands.add_parser(
        "export", help="everything stored about one customer, as JSON (data-subject access)"
    )
    export.add_argument("--user", required=True, help="the customer: a user id or @username")
    export.add_argument("--out", type=Path, help="write to this file instead of stdout")


@asynccontextmanager
async def report_database(config: Config) -> AsyncIterator[Database]:
    database = Database(config.database.url)
    await database.connect()
    try:
        # A report never changes the schema: an outdated database is for `moodbot migrate`.
        await require_current(database)
        yield database
    finally:
        await database.close()


def storage_errors(command: Command) -> Command:
    """`command`, with a database failure reported in one line instead of a traceback."""

    @functools.wraps(command)
    def run(config: Config, args: argparse.Namespace) -> int:
        try:
            return command(config, args)
        except StorageError as exc:
            print(f"moodbot: {exc}", file=sys.stderr)
            return 1

    return run


async def _customer_id(mood_log: MoodLog, user: str) -> int:
    if user.isdigit():
        return int(user)
    customer_id = await mood_log.customer_id_by_username(user.removeprefix("@"))
    if customer_id is None:
        raise ValueError(f"no customer with username @{user.removeprefix('@')} is stored")
    return customer_id


# --- moodbot moods -------------------------------------------------------------------------


def _local_time(moment: datetime, zone: ZoneInfo) -> str:
    return moment.astimezone(zone).isoformat(timespec="seconds")


def log_row(entry: MoodLogEntry, zone: ZoneInfo, *, intents: bool = False) -> dict[str, Any]:
    """One entry with plain values, for CSV and JSON; the correction columns are None (empty
    in CSV) for an uncorrected message. `intents`: with the INTENT_FIELDS."""
    correction = entry.correction
    confidence = entry.model_intent_confidence
    intent_columns = {
        "intent": entry.intent,
        "model_intent": entry.model_intent,
        "model_intent_confidence": None if confidence is None else round(confidence, 4),
        "human_intent": entry.intent_correction,
    }
    return {
        "time": _local_time(entry.created_at, zone),
        "message_id": entry.message_id,
        "chat_id": entry.chat_id,
        "customer_id": entry.customer_id,
        "customer_name": entry.customer_name,
        "customer_username": entry.customer_username,
        "label": entry.label,
        "model_label": entry.model_label,
        "model_confidence": round(entry.model_confidence, 4),
        "keywords": ", ".join(entry.keywords) or None,
        "human_label": None if correction is None else correction.label,
        "corrected_by": None if correction is None else correction.operator_id,
        "corrected_at": None if correction is None else _local_time(correction.created_at, zone),
        "needs_human": entry.needs_human,
        "handoff_reason": entry.handoff_reason,
        **(intent_columns if intents else {}),
        "text": entry.text,
    }


def _has_intents(entries: list[MoodLogEntry]) -> bool:
    return any(entry.intent is not None for entry in entries)


def _print_table(
    entries: list[MoodLogEntry], zone: ZoneInfo, title: str, *, intents: bool = False
) -> None:
    from rich.console import Console
    from rich.table import Table

    styles = {"positive": "green", "neutral": "bright_black", "negative": "red"}
    table = Table(title=title, title_justify="left")
    table.add_column("time", no_wrap=True)
    table.add_column("customer")
    table.add_column("mood", no_wrap=True)
    table.add_column("corrected", no_wrap=True)
    if intents:
        table.add_column("intent", overflow="fold")
    table.add_column("message", ratio=1, overflow="fold")
    for entry in entries:
        handle = f" @{entry.customer_username}" if entry.customer_username else ""
        model = entry.model_label
        corrected = entry.correction.label if entry.correction else None
        intent = [intent_text(entry) or ""] if intents else []
        table.add_row(
            f"{entry.created_at.astimezone(zone):%Y-%m-%d %H:%M}",
            f"{entry.customer_name}{handle} ({entry.customer_id})",
            f"[{styles[model]}]{model}[/] {entry.model_confidence:.0%}"
            + (f" {HANDOFF_MARK}" if entry.needs_human else ""),
            f"[{styles[corrected]}]{corrected}[/]" if corrected else "",
            *intent,
            entry.text,
        )
    Console(file=sys.stdout).print(table)


async def _read_log(
    config: Config,
    label: MoodLabel | None,
    since: datetime,
    user: str | None,
    intent: str | None = None,
) -> list[MoodLogEntry]:
    async with report_database(config) as database:
        mood_log = MoodLog(database)
        customer_id = None if user is None else await _customer_id(mood_log, user)
        return await mood_log.entries(
            MoodFilter(label=label, since=since, customer_id=customer_id, intent=intent)
        )


def configured_intent(config: Config, name: str) -> str:
    """`name` as one of the configured [triage] intents; ValueError naming them otherwise."""
    triage = config.engine.triage
    if triage is None:
        raise ValueError(
            f"no intent {name!r}: triage is off ([triage] enabled = false), so there are no intents"
        )
    if name.lower() not in triage.intents:
        raise ValueError(
            f"no intent {name!r}; the configured intents are {', '.join(triage.intents)}"
        )
    return name.lower()


@storage_errors
def moods(config: Config, args: argparse.Namespace) -> int:
    zone = config.operators.zone
    since = args.now - args.since
    intent = None if args.intent is None else configured_intent(config, args.intent)
    entries = asyncio.run(_read_log(config, args.label, since, args.user, intent))
    intents = _has_intents(entries)
    if args.format == "json":
        rows = [log_row(entry, zone, intents=intents) for entry in entries]
        json.dump(rows, sys.stdout, ensure_ascii=False, indent=2)
        print()
    elif args.format == "csv":
        fields = LOG_FIELDS[:-1] + INTENT_FIELDS + LOG_FIELDS[-1:] if intents else LOG_FIELDS
        writer = csv.DictWriter(sys.stdout, fieldnames=fields)
        writer.writeheader()
        writer.writerows(log_row(entry, zone, intents=intents) for entry in entries)
    else:
        period = f"since {since.astimezone(zone):%Y-%m-%d %H:%M} ({zone.key})"
        wanted = "" if intent is None else f" with intent {intent}"
        if entries:
            title = f"{len(entries)} tagged messages{wanted} {period}, newest first"
            _print_table(entries, zone, title, intents=intents)
        else:
            print(f"No tagged messages{wanted} match {period}.")
    return 0


# --- moodbot report ------------------------------------------------------------------------


async def _read_stats(
    config: Config, first: date, last: date, zone: ZoneInfo
) -> tuple[MoodStats, list[IntentMoods], list[str]]:
    from bot.operators.answer_report import answers_for_days
    from bot.operators.satisfaction_report import satisfaction_for_days

    async with report_database(config) as database:
        moods = await daily_moods(database, first, last, zone)
        intents = await moods_by_intent(
            database, local_midnight(first, zone), local_midnight(last + timedelta(days=1), zone)
        )
        satisfaction = await satisfaction_for_days(database, first, last, zone)
        answers = await answers_for_days(database, first, last, zone)
        return moods, intents, [*satisfaction, *answers]


@storage_errors
def report(config: Config, args: argparse.Namespace) -> int:
    from bot.operators.chart import render_mood_chart
    from bot.operators.report import intent_lines, no_messages_text, report_text

    zone = config.operators.zone
    first, last = last_days(args.since, zone, args.now, include_today=True)
    stats, intents, satisfaction = asyncio.run(_read_stats(config, first, last, zone))
    if stats.is_empty:
        print(f"moodbot: {no_messages_text(stats)} No chart written.", file=sys.stderr)
        return 1
    args.out.write_bytes(render_mood_chart(stats, intents))
    print(report_text(stats))
    if intents:
        print()
        print("\n".join(intent_lines(intents)))
    print()
    print("\n".join(satisfaction))
    print(f"\nchart written to {args.out}")
    return 0


# --- moodbot export ------------------------------------------------------------------------


def _json_value(value: object) -> object:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


async def _read_export(config: Config, user: str) -> CustomerExport:
    async with report_database(config) as database:
        customer_id = await _customer_id(MoodLog(database), user)
        found = await export_customer(database, customer_id)
    if found is None:
        raise ValueError(f"no customer {customer_id} is stored")
    return found


@storage_errors
def export(config: Config, args: argparse.Namespace) -> int:
    found = asyncio.run(_read_export(config, args.user))
    document = json.dumps(
        {"exported_at": args.now, **dataclasses.asdict(found)},
        default=_json_value,
        ensure_ascii=False,
        indent=2,
    )
    if args.out is None:
        print(document)
    else:
        args.out.write_text(document + "\n", encoding="utf-8")
        print(f"{len(found.messages)} messages of customer {found.customer.id} → {args.out}")
    return 0


OPERATOR_COMMANDS: dict[str, Command] = {
    "moods": moods,
    "report": report,
    "export": export,
}
