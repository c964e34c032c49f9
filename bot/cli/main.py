"""The `moodbot` command: run the bot, chat in the terminal, tag or score files."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from bot.cli.batch_priority import BATCH_COMMANDS, add_priority_option, yield_to_the_bot
from bot.cli.desk_knowledge import KNOWLEDGE_COMMANDS, add_knowledge_commands
from bot.cli.knowledge_eval import (
    add_eval_knowledge,
    answer_all,
    eval_config,
    outcome_text,
    write_json,
)
from bot.cli.operators import OPERATOR_COMMANDS, add_operator_commands
from bot.cli.text_files import InputFileError
from bot.config import Config, ConfigError, load_config
from engine.knowledge.evaluation import Outcome
from engine.openai_client import RemoteEngineError
from engine.packaged_models import PackagedModelError
from engine.protocol import Engine
from storage.utc_datetime import Clock, utc_now

log = logging.getLogger("moodbot")

CONFIG_HELP = "TOML config file (see config.example.toml)"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="moodbot",
        description="A Telegram customer-chat bot that tags each message's mood and replies.",
    )
    parser.add_argument("--config", type=Path, help=CONFIG_HELP)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    commands.add_parser("run", help="run the Telegram bot (long polling)")
    commands.add_parser(
        "check", help="check config, database, model files and Telegram; exit 1 on a problem"
    )
    service = commands.add_parser(
        "install-service", help="install the systemd unit for this moodbot"
    )
    service.add_argument("--unit-dir", type=Path, default=Path("/etc/systemd/system"))
    service.add_argument("--env-file", type=Path, default=Path("/etc/moodbot/moodbot.env"))
    commands.add_parser(
        "migrate", help="upgrade the database's schema to this moodbot's (the bot does on start)"
    )
    chat = commands.add_parser("chat", help="talk to moodbot in the terminal")
    chat.add_argument("--user", type=int, default=1, help="customer id to chat as (default 1)")

    analyze = commands.add_parser(
        "analyze", help="tag the mood of every text in a CSV/TSV/JSONL file"
    )
    analyze.add_argument("file", type=Path)
    analyze.add_argument(
        "--out", type=Path, help="output file (default: FILE with .moods before the suffix)"
    )
    analyze.add_argument(
        "--column", default="text", help="the field holding the text (default: text)"
    )
    analyze.add_argument("--batch-size", type=int, default=8)
    analyze.add_argument(
        "--keywords",
        action="store_true",
        help="add what each negative text complains about (1-4 keywords; slower)",
    )
    analyze.add_argument(
        "--intent",
        action="store_true",
        help="add what each text wants ([triage] intents) and the confidence in it",
    )

    evaluate = commands.add_parser(
        "eval",
        help="score the mood classifier (lines with a label) and the intents (lines with an "
        "intent) on labelled JSONL",
    )
    evaluate.add_argument("file", type=Path)
    evaluate.add_argument(
        "--out", "--json", type=Path, help="JSON report (default: FILE with .eval.json)"
    )
    evaluate.add_argument("--batch-size", type=int, default=8)

    calibrate = commands.add_parser(
        "calibrate",
        help="fit the neutral thresholds to the operators' mood corrections",
    )
    calibrate.add_argument(
        "--min-count",
        type=int,
        default=30,
        help="corrections a language needs before its threshold is fitted (default 30)",
    )
    calibrate.add_argument(
        "--write", action="store_true", help="write the fitted thresholds to the config file"
    )

    add_eval_knowledge(commands)
    add_operator_commands(commands)
    add_knowledge_commands(commands)
    for name in BATCH_COMMANDS:
        add_priority_option(commands.choices[name])
    for command in commands.choices.values():
        # Users type `moodbot run --config FILE` as often as `moodbot --config FILE run`.
        # SUPPRESS: a command line without it here keeps the one given before the command.
        command.add_argument("--config", type=Path, default=argparse.SUPPRESS, help=CONFIG_HELP)
    return parser


def load_engine(config: Config) -> Engine:
    from engine import open_engine

    source = (
        f"{config.engine.api_model or 'the served model'} at {config.engine.api_base}"
        if config.engine.backend == "openai"
        else config.engine.model
    )
    print(f"loading model {source} …", file=sys.stderr)
    if config.engine.backend != "openai":
        from bot.library_output import quiet_transformers

        quiet_transformers()
    engine = open_engine(config.engine)
    print(f"model ready in {engine.load_seconds:.1f} s", file=sys.stderr)
    return engine


def _analyze(config: Config, args: argparse.Namespace) -> int:
    from bot.cli.batch import analyze

    out = args.out or args.file.with_name(f"{args.file.stem}.moods{args.file.suffix}")
    if args.intent and config.engine.triage is None:
        raise ValueError("--intent needs triage, which is off ([triage] enabled = false)")
    engine = load_engine(config)
    try:
        count = analyze(
            engine,
            args.file,
            out,
            args.column,
            args.batch_size,
            keywords=args.keywords,
            intent=args.intent,
        )
    finally:
        engine.close()
    print(f"tagged {count} texts → {out}")
    return 0


def _calibrate(config: Config, args: argparse.Namespace) -> int:
    from bot.cli.calibrate import run

    engine = load_engine(config)
    try:
        return run(engine, config, args.config, args.min_count, args.write)
    finally:
        engine.close()


def _eval(config: Config, args: argparse.Namespace) -> int:
    from bot.cli.batch import format_results, read_gold, run_eval, write_report

    out = args.out or args.file.with_name(f"{args.file.stem}.eval.json")
    triage = config.engine.triage
    # A file the scores cannot be read from is refused before the model loads.
    gold = read_gold(args.file, tuple(triage.intents) if triage is not None else ())
    engine = load_engine(config)
    try:
        results = run_eval(engine, gold, args.batch_size)
    finally:
        engine.close()
    print(format_results(results))
    write_report(results, out, config.engine)
    print(f"\nreport written to {out}")
    return 0


def _eval_knowledge(config: Config, args: argparse.Namespace) -> int:
    import asyncio
    import dataclasses

    from engine.knowledge.evaluation import read_questions, report, summary
    from engine.knowledge.facts import load_facts

    questions = read_questions(args.questions)
    engine_config = eval_config(config.engine, args.knowledge)
    facts = load_facts(args.knowledge).text
    engine = load_engine(dataclasses.replace(config, engine=engine_config))

    def show(outcome: Outcome) -> None:
        if args.verbose:
            print(outcome_text(outcome), flush=True)

    try:
        outcomes = asyncio.run(answer_all(engine, questions, facts, show))
    finally:
        engine.close()
    print(summary(outcomes))
    if args.json is not None:
        write_json(args.json, report(outcomes))
        print(f"report written to {args.json}")
    return 0


def _chat(config: Config, args: argparse.Namespace) -> int:
    import asyncio

    from bot.cli.chat import chat

    engine = load_engine(config)
    try:
        asyncio.run(chat(config, engine, args.user))
    finally:
        engine.close()
    return 0


def _run(config: Config, args: argparse.Namespace) -> int:
    from telegram.error import InvalidToken, TelegramError

    from bot.service import run_bot
    from storage import StorageError

    engine = load_engine(config)
    # What can go wrong once the bot runs is handled inside it; these stop it from starting.
    try:
        return run_bot(config, engine)
    except InvalidToken:
        print("moodbot: the Bot API rejected telegram.token (revoked?)", file=sys.stderr)
        return 1
    except TelegramError as exc:
        base_url = config.telegram.base_url
        print(f"moodbot: cannot reach the Bot API at {base_url} ({exc})", file=sys.stderr)
        return 1
    except StorageError as exc:
        print(f"moodbot: database: {exc}", file=sys.stderr)
        return 1
    finally:
        engine.close()


def _check(config: Config, args: argparse.Namespace) -> int:
    import asyncio

    from bot.cli.check import CheckFailed, run_checks

    try:
        asyncio.run(run_checks(config, print))
    except CheckFailed as exc:
        print(f"moodbot check: {exc}", file=sys.stderr)
        return 1
    print("all checks passed")
    return 0


def _migrate(config: Config, args: argparse.Namespace) -> int:
    import asyncio

    from bot.cli.migrate import migrate
    from storage import StorageError

    try:
        print(asyncio.run(migrate(config.database.url)))
    except StorageError as exc:
        print(f"moodbot migrate: {exc}", file=sys.stderr)
        return 1
    return 0


def _install_service(config: Config, args: argparse.Namespace) -> int:
    from bot.cli.install_service import NEXT_STEPS, install, this_executable

    config_path = (args.config or Path("/etc/moodbot/config.toml")).resolve()
    for line in install(args.unit_dir, config_path, args.env_file, this_executable()):
        print(line)
    print(NEXT_STEPS)
    return 0


COMMANDS = {
    "run": _run,
    "check": _check,
    "install-service": _install_service,
    "migrate": _migrate,
    "chat": _chat,
    "analyze": _analyze,
    "eval": _eval,
    "calibrate": _calibrate,
    "eval-knowledge": _eval_knowledge,
    **OPERATOR_COMMANDS,
    **KNOWLEDGE_COMMANDS,
}


def main(argv: Sequence[str] | None = None, clock: Clock = utc_now) -> int:
    args = _parser().parse_args(argv)
    # The moment the command runs, for what it reports "since" or "as of"; read once.
    args.now = clock()
    try:
        # install-service only writes the config's path into the unit; the file may come later.
        path = None if args.command == "install-service" else args.config
        config = load_config(path, require_token=args.command in {"run", "check"})
        from bot.logging_setup import configure_logging

        configure_logging(config.logging, config.telegram.token, [config.telegram.webhook_secret])
        if getattr(args, "priority", None) == "idle":
            print(
                f"CPU priority: {yield_to_the_bot()} (a bot beside it comes first)", file=sys.stderr
            )
        return COMMANDS[args.command](config, args)
    except ConfigError as exc:
        print(f"moodbot: configuration error: {exc}", file=sys.stderr)
        return 2
    except (
        InputFileError,
        PackagedModelError,
        RemoteEngineError,
        FileNotFoundError,
        ValueError,
    ) as exc:
        print(f"moodbot: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
