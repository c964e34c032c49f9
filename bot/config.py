"""The bot's configuration: one TOML file plus two environment variables, validated at start.

Every problem is reported as a ConfigError whose message names the offending key, so an
operator can fix a broken deployment from the journal alone. Values that may carry secrets
(the bot token, URLs with credentials, API keys) are never echoed in those messages.
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from typing import Any, Literal, TypeVar
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from platformdirs import user_data_dir

from engine.config import EngineConfig, KnowledgeConfig, SamplingConfig, TriageConfig
from engine.knowledge.facts import FactsError, load_facts
from engine.vocabulary import INTENT_NAME_LENGTH, INTENT_NAME_PATTERN

TOKEN_ENV = "MOODBOT_TELEGRAM_TOKEN"
DATABASE_URL_ENV = "MOODBOT_DATABASE_URL"


class ConfigError(ValueError):
    """The configuration cannot be used; the message names the key (or the file) at fault."""


def default_database_url() -> str:
    # appauthor=False: on Windows the default would nest the app directory twice.
    path = Path(user_data_dir("moodbot", appauthor=False)) / "moodbot.db"
    return f"sqlite+aiosqlite:///{path.as_posix()}"


@dataclass(frozen=True)
class TelegramConfig:
    # Kept out of repr so a logged or printed config never leaks the bot's credentials.
    token: str = field(repr=False)
    base_url: str = "https://api.telegram.org/bot"
    base_file_url: str = "https://api.telegram.org/file/bot"
    # Empty means everyone may talk to the bot.
    allowed_user_ids: frozenset[int] = frozenset()
    operator_ids: frozenset[int] = frozenset()
    # Seconds between draft/edit updates while a reply streams; Telegram throttles faster edits.
    stream_edit_interval: float = 1.0
    # getUpdates long-poll duration in seconds.
    poll_timeout: int = 30
    connect_timeout: float = 5.0
    read_timeout: float = 5.0
    # Telegram's flood limits, kept by python-telegram-bot's AIORateLimiter across all chats:
    # requests per second in all, and per minute into one group.
    max_requests_per_second: float = 30.0
    max_group_requests_per_minute: float = 20.0
    # Updates one chat may hold waiting for their turn; later messages are stored at once and
    # answered from storage, in order, once the chat's queue is through.
    max_waiting_per_chat: int = 64
    # "polling" (getUpdates) or "webhook": Telegram posts updates to webhook_url, which a
    # reverse proxy forwards to webhook_listen:webhook_port/webhook_path.
    mode: str = "polling"
    webhook_listen: str = "127.0.0.1"
    webhook_port: int = 8443
    webhook_path: str = "telegram"
    webhook_url: str = ""
    # Telegram sends it with every update; a post without it is refused. Kept out of repr.
    webhook_secret: str = field(default="", repr=False)


@dataclass(frozen=True)
class DatabaseConfig:
    url: str = field(default_factory=default_database_url)
    # Upgrade the schema to this moodbot's at start; off, an outdated database stops the bot
    # until `moodbot migrate` runs (for deployments that migrate by hand, after a backup).
    auto_migrate: bool = True


@dataclass(frozen=True)
class LoggingConfig:
    level: str = "INFO"
    # Customer texts are personal data: logs carry them only when an operator opts in.
    log_message_text: bool = False


@dataclass(frozen=True)
class OperatorsConfig:
    # Where alerts and the daily digest go; None sends them to each operator privately.
    chat_id: int | None = None
    # A negative message tagged with a confidence above this alerts the operators.
    alert_confidence: float = 0.9
    # This many negative messages in a row from one customer alert the operators; 0: never.
    alert_streak: int = 3
    # Local time of the daily digest; None: no digest.
    digest_time: time | None = time(9, 0)
    # IANA name of the time zone whose calendar days reports and the digest use.
    timezone: str = "UTC"

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


ApprovalPolicy = Literal["never", "negative", "always"]


@dataclass(frozen=True)
class DeskConfig:
    # Opens every operator's message to a customer, so they know a person is writing.
    team_prefix: str = "👤 Support team:"
    # Seconds between two title edits of one forum topic (Telegram limits topic edits).
    title_interval: float = 60.0
    # Minutes without an operator's message after which a takeover ends; 0: never.
    takeover_idle_minutes: int = 30
    # Which model replies an operator approves before the customer sees them.
    approve: ApprovalPolicy = "never"
    # Seconds a customer waits on an approval before a short holding note; 0: no note.
    holding_delay: float = 20.0
    # Minutes without a message after which a conversation counts as ended and the customer
    # is asked for a rating; 0: only Close and /reset end one.
    rating_idle_minutes: int = 60


@dataclass(frozen=True)
class Config:
    telegram: TelegramConfig
    database: DatabaseConfig = field(default_factory=DatabaseConfig)
    engine: EngineConfig = field(default_factory=EngineConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    operators: OperatorsConfig = field(default_factory=OperatorsConfig)
    desk: DeskConfig = field(default_factory=DeskConfig)


# --- value parsers -------------------------------------------------------------------------
# Each takes the raw TOML (or environment) value and returns the typed value, or raises
# _Invalid with a reason phrased without the key; the loader prefixes the key.


class _Invalid(Exception):
    pass


_Parser = Callable[[object], object]
_T = TypeVar("_T")

_TOML_TYPES: tuple[tuple[type, str], ...] = (
    # bool before int: bool is a subclass of int in Python but a distinct type in TOML.
    (bool, "boolean"),
    (int, "integer"),
    (float, "float"),
    (str, "string"),
    (list, "array"),
    (dict, "table"),
    (datetime, "date-time"),
    (date, "date"),
    (time, "time"),
)


def _toml_type(value: object) -> str:
    return next((name for kind, name in _TOML_TYPES if isinstance(value, kind)), "value")


def _expect(value: object, kind: type[_T], name: str) -> _T:
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        raise _Invalid(f"expected {name}, got {_toml_type(value)}")
    return value


def _string(*, allow_empty: bool) -> Callable[[object], str]:
    def parse(value: object) -> str:
        text = _expect(value, str, "a string")
        if not allow_empty and not text.strip():
            raise _Invalid("must not be empty")
        return text

    return parse


def _bounds_text(low: float, high: float | None, low_open: bool) -> str:
    lower = f"> {low}" if low_open else f"≥ {low}"
    return lower if high is None else f"{lower} and ≤ {high}"


def _integer(low: int, high: int | None = None) -> _Parser:
    def parse(value: object) -> int:
        number = _expect(value, int, "an integer")
        if number < low or (high is not None and number > high):
            raise _Invalid(f"must be {_bounds_text(low, high, False)}, got {number}")
        return number

    return parse


def _number(low: float, high: float, *, low_open: bool = False) -> _Parser:
    def parse(value: object) -> float:
        # TOML writes whole numbers as integers; `temperature = 1` is a perfectly good float.
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _Invalid(f"expected a number, got {_toml_type(value)}")
        number = float(value)
        # Written so that nan, which fails every comparison, is out of range too.
        if not ((number > low if low_open else number >= low) and number <= high):
            raise _Invalid(f"must be {_bounds_text(low, high, low_open)}, got {value}")
        return number

    return parse


def _choice(*choices: str, fold_case: bool = False) -> _Parser:
    def parse(value: object) -> str:
        text = _expect(value, str, "a string")
        normalised = text.upper() if fold_case else text
        if normalised not in choices:
            raise _Invalid(f"must be one of {', '.join(map(repr, choices))}, got {text!r}")
        return normalised

    return parse


def _boolean(value: object) -> bool:
    return _expect(value, bool, "true or false")


def _user_ids(value: object) -> frozenset[int]:
    items = _expect(value, list, "an array of Telegram user ids")
    for index, item in enumerate(items):
        if isinstance(item, bool) or not isinstance(item, int) or item <= 0:
            raise _Invalid(f"item {index} must be a positive integer user id")
    return frozenset(items)


def _chat_id(value: object) -> int:
    chat_id = _expect(value, int, "an integer chat id")
    if chat_id == 0:
        raise _Invalid("must be a Telegram chat id (a user id, or a negative group id), not 0")
    return chat_id


_CLOCK = re.compile(r"([01]?[0-9]|2[0-3]):([0-5][0-9])")


def _time_of_day(value: object) -> time | None:
    if isinstance(value, time):
        # TOML's own local-time literal (09:00:00) is as good as the "HH:MM" string.
        return value
    text = _expect(value, str, 'a time of day such as "09:00"').strip()
    if not text:
        return None
    clock = _CLOCK.fullmatch(text)
    if clock is None:
        raise _Invalid(f'must be a 24-hour time such as "09:00" (or "" for none), got {text!r}')
    return time(int(clock[1]), int(clock[2]))


def _time_zone(value: object) -> str:
    name = _string(allow_empty=False)(value).strip()
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise _Invalid(
            f"unknown time zone {name!r} (use an IANA name such as UTC or Asia/Shanghai)"
        ) from None
    return name


def _http_url(*, allow_empty: bool) -> _Parser:
    # URLs are not echoed in errors: they may embed credentials, or a token pasted by mistake.
    def parse(value: object) -> str:
        url = _expect(value, str, "a string").strip()
        if allow_empty and not url:
            return url
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise _Invalid("must be an http:// or https:// URL")
        return url

    return parse


_DATABASE_URL = re.compile(r"[A-Za-z][A-Za-z0-9]*(\+[A-Za-z0-9_]+)?://")
_SQLITE_HOME_PATH = re.compile(r"(sqlite(?:\+\w+)?:///)(~.*)", re.DOTALL)


def _database_url(value: object) -> str:
    url = _expect(value, str, "a string").strip()
    if not _DATABASE_URL.match(url):
        raise _Invalid(
            "must be a SQLAlchemy URL such as sqlite+aiosqlite:///path/to/moodbot.db "
            "or postgresql+asyncpg://user:password@host/dbname"
        )
    home = _SQLITE_HOME_PATH.fullmatch(url)
    return home[1] + os.path.expanduser(home[2]) if home else url


def _path(value: object) -> Path:
    return Path(_string(allow_empty=False)(value)).expanduser()


# A description is prompt text for every message: a line, not a paragraph.
MAX_INTENT_DESCRIPTION = 160
MAX_INTENTS = 16
_INTENT_NAME = re.compile(INTENT_NAME_PATTERN)


def _intent_name(name: object) -> str:
    if not isinstance(name, str) or not _INTENT_NAME.fullmatch(name):
        raise _Invalid(
            f"{name!r} is not an intent name (lower-case letters, digits and _, "
            f"starting with a letter, at most {INTENT_NAME_LENGTH} characters)"
        )
    return name


def _intents(value: object) -> dict[str, str]:
    table = _expect(value, dict, 'a table of intent name = "what it means"')
    if not 2 <= len(table) <= MAX_INTENTS:
        raise _Invalid(f"needs 2 to {MAX_INTENTS} intents, got {len(table)}")
    intents = {}
    for name, description in table.items():
        _intent_name(name)
        if not isinstance(description, str) or not description.strip():
            raise _Invalid(f"{name}: expected a short description in plain words")
        if len(description) > MAX_INTENT_DESCRIPTION or "\n" in description.strip():
            raise _Invalid(
                f"{name}: the description must be one line of at most "
                f"{MAX_INTENT_DESCRIPTION} characters"
            )
        intents[name] = description.strip()
    return intents


def _intent_names(value: object) -> tuple[str, ...]:
    items = _expect(value, list, "an array of intent names")
    return tuple(_intent_name(item) for item in items)


def _model(value: object) -> str:
    name = _string(allow_empty=False)(value)
    # Hub ids and packaged names never start with "~"; a local directory may.
    return os.path.expanduser(name) if name.startswith("~") else name


# Bot API tokens are "<bot id>:<secret>"; checking the shape catches a wrongly pasted value at
# start instead of as an opaque 401/404 from Telegram later.
_TOKEN = re.compile(r"[0-9]+:[A-Za-z0-9_-]{30,}")


def _token(value: object) -> str:
    token = _expect(value, str, "a string").strip()
    if not _TOKEN.fullmatch(token):
        raise _Invalid(
            "malformed (a bot token from @BotFather looks like 123456789:AAE…: digits, a colon "
            "and at least 30 letters, digits, '_' or '-')"
        )
    return token


_WEBHOOK_SECRET = re.compile(r"[A-Za-z0-9_-]{1,256}")


def _webhook_secret(value: object) -> str:
    secret = _expect(value, str, "a string").strip()
    if not _WEBHOOK_SECRET.fullmatch(secret):
        # Telegram's rule for secret_token; the value itself is never echoed.
        raise _Invalid("must be 1 to 256 letters, digits, '_' or '-'")
    return secret


def _webhook_path(value: object) -> str:
    path = _expect(value, str, "a string").strip().strip("/")
    if not path or not re.fullmatch(r"[A-Za-z0-9_\-./]+", path):
        raise _Invalid("must be a URL path such as telegram or bot/updates")
    return path


# --- schema --------------------------------------------------------------------------------

_Target = Literal[
    "telegram",
    "database",
    "engine",
    "sampling",
    "knowledge",
    "triage",
    "logging",
    "operators",
    "desk",
]


@dataclass(frozen=True)
class _Key:
    parse: _Parser
    # Which dataclass receives the value, and under which field name (default: the key's name).
    target: _Target
    attr: str | None = None


# Defaults are not repeated here: a key absent from the file is simply not passed, so the
# dataclasses above and in engine.config stay the single source of every default.
_SCHEMA: dict[str, dict[str, _Key]] = {
    "telegram": {
        "token": _Key(_token, "telegram"),
        "base_url": _Key(_http_url(allow_empty=False), "telegram"),
        "base_file_url": _Key(_http_url(allow_empty=False), "telegram"),
        "allowed_user_ids": _Key(_user_ids, "telegram"),
        "operator_ids": _Key(_user_ids, "telegram"),
        "stream_edit_interval": _Key(_number(0.1, 60.0), "telegram"),
        "poll_timeout": _Key(_integer(0, 300), "telegram"),
        "connect_timeout": _Key(_number(0.0, 300.0, low_open=True), "telegram"),
        "read_timeout": _Key(_number(0.0, 300.0, low_open=True), "telegram"),
        "max_requests_per_second": _Key(_number(0.0, 10000.0, low_open=True), "telegram"),
        "max_group_requests_per_minute": _Key(_number(0.0, 100000.0, low_open=True), "telegram"),
        "max_waiting_per_chat": _Key(_integer(1, 100000), "telegram"),
        "mode": _Key(_choice("polling", "webhook"), "telegram"),
        "webhook_listen": _Key(_string(allow_empty=False), "telegram"),
        "webhook_port": _Key(_integer(1, 65535), "telegram"),
        "webhook_path": _Key(_webhook_path, "telegram"),
        "webhook_url": _Key(_http_url(allow_empty=True), "telegram"),
        "webhook_secret": _Key(_webhook_secret, "telegram"),
    },
    "database": {
        "url": _Key(_database_url, "database"),
        "auto_migrate": _Key(_boolean, "database"),
    },
    "model": {
        "name": _Key(_model, "engine", "model"),
        "cache_dir": _Key(_path, "engine"),
        "backend": _Key(_choice("local", "openai"), "engine"),
        "api_base": _Key(_http_url(allow_empty=True), "engine"),
        "api_model": _Key(_string(allow_empty=True), "engine"),
        "api_key": _Key(_string(allow_empty=True), "engine"),
        "threads": _Key(_integer(0, 1024), "engine"),
        "max_batch": _Key(_integer(1, 256), "engine"),
        "dtype": _Key(_choice("bf16", "int4"), "engine"),
        "cache_mb": _Key(_integer(0, 1_048_576), "engine"),
    },
    "mood": {
        "neutral_threshold": _Key(_number(0.5, 1.0, low_open=True), "engine"),
        "neutral_threshold_zh": _Key(_number(0.5, 1.0, low_open=True), "engine"),
    },
    "reply": {
        "max_new_tokens": _Key(_integer(1, 8192), "sampling"),
        "temperature": _Key(_number(0.0, 2.0), "sampling"),
        "top_p": _Key(_number(0.0, 1.0, low_open=True), "sampling"),
        "top_k": _Key(_integer(0), "sampling"),
        "repetition_penalty": _Key(_number(0.0, 2.0, low_open=True), "sampling"),
        "history_tokens": _Key(_integer(0, 32768), "sampling"),
        # 32 bits: the widest seed every sampling backend (torch, numpy, OpenAI servers) accepts.
        "seed": _Key(_integer(0, 2**32 - 1), "sampling"),
    },
    "knowledge": {
        "file": _Key(_path, "knowledge"),
        "answer_threshold": _Key(_number(0.0, 1.0), "knowledge"),
    },
    "triage": {
        "enabled": _Key(_boolean, "triage"),
        "intents": _Key(_intents, "triage"),
        "handoff_intents": _Key(_intent_names, "triage"),
    },
    "logging": {
        "level": _Key(
            _choice("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL", fold_case=True), "logging"
        ),
        "log_message_text": _Key(_boolean, "logging"),
    },
    "operators": {
        "chat_id": _Key(_chat_id, "operators"),
        "alert_confidence": _Key(_number(0.0, 1.0), "operators"),
        "alert_streak": _Key(_integer(0, 1000), "operators"),
        "digest_time": _Key(_time_of_day, "operators"),
        "timezone": _Key(_time_zone, "operators"),
    },
    "desk": {
        "team_prefix": _Key(_string(allow_empty=True), "desk"),
        "title_interval": _Key(_number(0.0, 86400.0), "desk"),
        "takeover_idle_minutes": _Key(_integer(0, 10080), "desk"),
        "approve": _Key(_choice("never", "negative", "always"), "desk"),
        "holding_delay": _Key(_number(0.0, 3600.0), "desk"),
        "rating_idle_minutes": _Key(_integer(0, 10080), "desk"),
    },
}

# Environment variables win over the file: secrets belong in the service's environment file.
_ENV_OVERRIDES: dict[str, tuple[str, str]] = {
    TOKEN_ENV: ("telegram", "token"),
    DATABASE_URL_ENV: ("database", "url"),
}

_ALL_KEYS = [*_SCHEMA, *(f"{section}.{name}" for section, keys in _SCHEMA.items() for name in keys)]


def _unknown(dotted: str, what: str) -> ConfigError:
    match = difflib.get_close_matches(dotted, _ALL_KEYS, n=1)
    if not match:
        # A key in the wrong place (`token` at the top level) is far from "telegram.token" as a
        # string, but its last component gives it away.
        leaf = dotted.rpartition(".")[2]
        match = [key for key in _ALL_KEYS if key.rpartition(".")[2] == leaf][:1]
    hint = f" (did you mean {match[0]}?)" if match else ""
    return ConfigError(f"config key {dotted}: unknown {what}{hint}")


def parse_value(section: str, name: str, value: object) -> object:
    """`value` as the loader reads `[section] name`; ConfigError naming the key if it is not
    one the config accepts (for tools that write the config file)."""
    try:
        return _SCHEMA[section][name].parse(value)
    except _Invalid as exc:
        raise ConfigError(f"config key {section}.{name}: {exc}") from None


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"config file {path}: not found") from None
    except OSError as exc:
        raise ConfigError(f"config file {path}: cannot be read ({exc.strerror or exc})") from None
    try:
        return tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"config file {path}: not UTF-8 text (byte {exc.start})") from None
    except tomllib.TOMLDecodeError as exc:
        # The parser's message carries the line and column but never the offending text.
        raise ConfigError(f"config file {path}: invalid TOML: {exc}") from None


def _knowledge(values: dict[str, Any], config_path: Path | None) -> KnowledgeConfig | None:
    """The facts settings, with the file read once now so that a bad one stops the start."""
    if not values:
        return None
    if "file" not in values:
        others = ", ".join(f"knowledge.{name}" for name in values)
        raise ConfigError(f"config key knowledge.file: missing (needed by {others})")
    file = values["file"]
    if not file.is_absolute() and config_path is not None:
        # Beside the config file, wherever the service was started from.
        file = config_path.expanduser().parent / file
    knowledge = KnowledgeConfig(**{**values, "file": file})
    try:
        load_facts(knowledge.file)
    except FactsError as exc:
        raise ConfigError(str(exc)) from None
    return knowledge


def _triage(values: dict[str, Any]) -> TriageConfig | None:
    """The intents to read beside each mood; None when triage is switched off."""
    if not values.pop("enabled", True):
        return None
    if "intents" in values and "handoff_intents" not in values:
        # A team's own intents keep the default hand-offs only where they kept those names.
        default = TriageConfig().handoff_intents
        values["handoff_intents"] = tuple(name for name in default if name in values["intents"])
    triage = TriageConfig(**values)
    unknown = [name for name in triage.handoff_intents if name not in triage.intents]
    if unknown:
        raise ConfigError(
            f"config key triage.handoff_intents: {', '.join(map(repr, unknown))} is not one of "
            f"the intents ({', '.join(triage.intents)}): add it to triage.intents or remove it"
        )
    return triage


def load_config(
    path: Path | None,
    *,
    env: Mapping[str, str] = os.environ,
    require_token: bool = True,
) -> Config:
    """Read and validate the configuration.

    `path=None` means no file: defaults plus the environment (enough for `moodbot chat`).
    `require_token=False` is for commands that never talk to Telegram.
    """
    document = _read_toml(path.expanduser()) if path is not None else {}
    values: dict[_Target, dict[str, Any]] = {
        "telegram": {},
        "database": {},
        "engine": {},
        "sampling": {},
        "knowledge": {},
        "triage": {},
        "logging": {},
        "operators": {},
        "desk": {},
    }

    def apply(label: str, spec: _Key, raw: object, name: str) -> None:
        try:
            values[spec.target][spec.attr or name] = spec.parse(raw)
        except _Invalid as exc:
            raise ConfigError(f"config key {label}: {exc}") from None

    for section, table in document.items():
        keys = _SCHEMA.get(section)
        if keys is None:
            raise _unknown(section, "section" if isinstance(table, dict) else "key")
        if not isinstance(table, dict):
            raise ConfigError(
                f"config key {section}: expected a table ([{section}]), got {_toml_type(table)}"
            )
        for name, raw in table.items():
            spec = keys.get(name)
            if spec is None:
                raise _unknown(f"{section}.{name}", "key")
            apply(f"{section}.{name}", spec, raw, name)

    for variable, (section, name) in _ENV_OVERRIDES.items():
        # An empty variable counts as unset, as systemd environment files commonly leave them.
        raw = env.get(variable, "")
        if raw.strip():
            apply(f"{section}.{name} (from {variable})", _SCHEMA[section][name], raw, name)

    telegram = values["telegram"]
    if require_token and "token" not in telegram:
        raise ConfigError(
            f"config key telegram.token: missing (set it in the config file or {TOKEN_ENV})"
        )
    if telegram.get("mode") == "webhook":
        for key in ("webhook_url", "webhook_secret"):
            if not telegram.get(key):
                raise ConfigError(
                    f'config key telegram.{key}: required when telegram.mode = "webhook"'
                )
    approve = values["desk"].get("approve", "never")
    if approve != "never" and not telegram.get("operator_ids"):
        raise ConfigError(
            f'config key desk.approve: "{approve}" needs telegram.operator_ids (nobody could '
            "approve a reply, and every customer would wait for ever)"
        )
    engine = values["engine"]
    if engine.get("backend") == "openai" and not engine.get("api_base"):
        raise ConfigError('config key model.api_base: required when model.backend = "openai"')

    return Config(
        telegram=TelegramConfig(**{"token": "", **telegram}),
        database=DatabaseConfig(**values["database"]),
        engine=EngineConfig(
            **engine,
            sampling=SamplingConfig(**values["sampling"]),
            knowledge=_knowledge(values["knowledge"], path),
            triage=_triage(values["triage"]),
        ),
        logging=LoggingConfig(**values["logging"]),
        operators=OperatorsConfig(**values["operators"]),
        desk=DeskConfig(**values["desk"]),
    )
