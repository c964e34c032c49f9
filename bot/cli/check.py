"""`moodbot check`: is everything the bot needs in place? Stops at the first problem."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from telegram import Bot
from telegram.error import InvalidToken, TelegramError

from bot.config import Config
from engine.model_cache import converted_dir, default_cache_dir
from engine.packaged_models import PACKAGED_MODELS
from storage import Database, StorageError, migrations


class CheckFailed(Exception):
    """One prerequisite is missing; the message says which and what to do."""


@dataclass(frozen=True)
class Check:
    name: str
    run: Callable[[Config], Awaitable[str]]


async def check_database(config: Config) -> str:
    database = Database(config.database.url)
    try:
        await database.connect()
        found = await migrations.status(database)
    except StorageError as exc:
        raise CheckFailed(f"database: {exc}") from exc
    finally:
        await database.close()
    if found.up_to_date:
        return f"reachable, schema at {found.head}"
    schema = "no schema yet" if found.current is None else f"schema at {found.current}"
    if not config.database.auto_migrate:
        raise CheckFailed(
            f"database: {schema}, this moodbot needs {found.head}, and database.auto_migrate is "
            "false: run `moodbot migrate`"
        )
    return f"reachable, {schema}: the bot upgrades it to {found.head} when it starts"


async def check_model(config: Config) -> str:
    engine = config.engine
    if engine.backend == "openai":
        from engine.openai_client import OpenAIServer, RemoteEngineError

        try:
            served = OpenAIServer(engine.api_base, engine.api_key).list_models()
        except RemoteEngineError as exc:
            raise CheckFailed(f"model: {exc}") from exc
        if engine.api_model and engine.api_model not in served:
            raise CheckFailed(
                f"model: config key model.api_model: {engine.api_model!r} is not served "
                f"by {engine.api_base} (it serves: {', '.join(served) or 'nothing'})"
            )
        return f"server {engine.api_base} serves {engine.api_model or served[0]}"
    packaged = PACKAGED_MODELS.get(engine.model)
    if packaged is None:
        path = Path(engine.model).expanduser()
        if path.exists():
            if not (path / "config.json").is_file():
                raise CheckFailed(f"model: config key model.name: {path} has no config.json")
            return f"model directory {path}"
        return f"hub id {engine.model} (loaded from the Hugging Face cache or hub at start)"
    from engine.packaged_models import PackagedModelError

    try:
        parts = packaged.part_paths()
    except PackagedModelError as exc:
        raise CheckFailed(f"model: {exc}") from exc
    size = sum(part.stat().st_size for part in parts)
    if size != packaged.size:
        raise CheckFailed(
            f"model: the parts of {packaged.name} add up to {size:,} bytes, expected "
            f"{packaged.size:,}: {packaged.install_hint()}"
        )
    cache = converted_dir(packaged, engine.cache_dir or default_cache_dir())
    state = "converted" if cache.is_dir() else "converted on first start (about a minute)"
    return f"{packaged.name}: {len(parts)} parts installed, {state}"


async def check_facts(config: Config) -> str:
    """The facts file: how it is split into statements and pick prompts."""
    knowledge = config.engine.knowledge
    if knowledge is None:
        return (
            "none configured ([knowledge] file): the bot makes no claim about the company and "
            "hands every request for information to a colleague"
        )
    from engine.knowledge.base import KnowledgeBase
    from engine.knowledge.facts import FactsError

    try:
        base = KnowledgeBase(knowledge)
    except FactsError as exc:
        raise CheckFailed(f"facts: {exc}") from exc
    return f"{knowledge.file}: {base.current.summary()}"


async def check_triage(config: Config) -> str:
    """Which intents each message is read for, and which of them go to a person at once."""
    triage = config.engine.triage
    if triage is None:
        return "off ([triage] enabled = false): moods only"
    handoffs = ", ".join(triage.handoff_intents) or "none"
    return (
        f"{len(triage.intents)} intents read beside each mood ({', '.join(triage.intents)}); "
        f"handed to a person at once: {handoffs}"
    )


async def check_telegram(config: Config) -> str:
    if not config.telegram.token:
        raise CheckFailed(
            "telegram: config key telegram.token: missing (set it in the config file or "
            "MOODBOT_TELEGRAM_TOKEN)"
        )
    bot = Bot(config.telegram.token, base_url=config.telegram.base_url)
    try:
        async with bot:
            me = await bot.get_me()
    except InvalidToken as exc:
        raise CheckFailed(
            "telegram: the Bot API rejected telegram.token (revoked or mistyped?)"
        ) from exc
    except TelegramError as exc:
        raise CheckFailed(
            f"telegram: cannot reach the Bot API at {config.telegram.base_url} ({exc})"
        ) from exc
    return f"reachable, bot @{me.username}"


CHECKS = (
    Check("database", check_database),
    Check("model", check_model),
    Check("facts", check_facts),
    Check("triage", check_triage),
    Check("telegram", check_telegram),
)


async def run_checks(config: Config, report: Callable[[str], None]) -> None:
    """Run every check in order; raises CheckFailed at the first problem."""
    report("config: valid")
    for check in CHECKS:
        report(f"{check.name}: {await check.run(config)}")
