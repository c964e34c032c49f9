from __future__ import annotations

import re
from datetime import time
from pathlib import Path

import pytest

from bot.config import _SCHEMA as SCHEMA
from bot.config import (
    DATABASE_URL_ENV,
    TOKEN_ENV,
    Config,
    ConfigError,
    DatabaseConfig,
    LoggingConfig,
    TelegramConfig,
    default_database_url,
    load_config,
)
from engine.config import EngineConfig, KnowledgeConfig, SamplingConfig, TriageConfig

TOKEN = "123456789:AAEhBOweik6ad9r_QXMENQjcrGbqCr4K-ra"
OTHER_TOKEN = "987654321:ZZZ_yyy-xxxWWWvvvUUUtttSSSrrrQQQppp"
SECRET = "AAEhBOweik6ad9r_QXMENQjcrGbqCr4K-ra"  # the part after the colon
EXAMPLE = Path(__file__).resolve().parents[2] / "config.example.toml"


def write(tmp_path: Path, text: str, name: str = "config.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def load_text(
    tmp_path: Path, text: str, *, env: dict[str, str] | None = None, require_token: bool = True
) -> Config:
    return load_config(write(tmp_path, text), env=env or {}, require_token=require_token)


def config_error(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text), env=env or {})
    return str(info.value)


# --- defaults and the token --------------------------------------------------------------


def test_no_file_gives_dataclass_defaults() -> None:
    config = load_config(None, env={}, require_token=False)
    assert config == Config(
        telegram=TelegramConfig(token=""),
        database=DatabaseConfig(),
        engine=EngineConfig(),
        logging=LoggingConfig(),
    )
    assert config.engine.sampling == SamplingConfig()
    assert config.telegram.allowed_user_ids == frozenset()
    assert config.telegram.stream_edit_interval == 1.0
    assert config.logging.log_message_text is False


def test_default_database_is_sqlite_in_the_user_data_dir() -> None:
    url = load_config(None, env={}, require_token=False).database.url
    assert url == default_database_url()
    assert url.startswith("sqlite+aiosqlite:///")
    path = Path(url.removeprefix("sqlite+aiosqlite:///"))
    assert path.is_absolute()
    assert path.name == "moodbot.db"
    assert "moodbot" in path.parent.parts


def test_empty_file_is_all_defaults(tmp_path: Path) -> None:
    assert load_text(tmp_path, "", require_token=False) == load_config(
        None, env={}, require_token=False
    )


def test_missing_token_is_an_error_naming_the_key_and_the_variable(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(None, env={})
    assert str(info.value) == (
        "config key telegram.token: missing (set it in the config file or MOODBOT_TELEGRAM_TOKEN)"
    )
    with pytest.raises(ConfigError, match=r"^config key telegram\.token: missing"):
        load_text(tmp_path, "[telegram]\npoll_timeout = 10\n")


def test_token_from_file(tmp_path: Path) -> None:
    config = load_text(tmp_path, f'[telegram]\ntoken = "{TOKEN}"\n')
    assert config.telegram.token == TOKEN


def test_token_from_environment() -> None:
    assert load_config(None, env={TOKEN_ENV: TOKEN}).telegram.token == TOKEN


def test_environment_token_overrides_the_file(tmp_path: Path) -> None:
    config = load_text(tmp_path, f'[telegram]\ntoken = "{TOKEN}"\n', env={TOKEN_ENV: OTHER_TOKEN})
    assert config.telegram.token == OTHER_TOKEN


def test_empty_environment_token_counts_as_unset(tmp_path: Path) -> None:
    config = load_text(tmp_path, f'[telegram]\ntoken = "{TOKEN}"\n', env={TOKEN_ENV: "  "})
    assert config.telegram.token == TOKEN
    with pytest.raises(ConfigError, match="missing"):
        load_config(None, env={TOKEN_ENV: ""})


def test_token_surrounding_whitespace_is_dropped() -> None:
    assert load_config(None, env={TOKEN_ENV: f" {TOKEN}\n"}).telegram.token == TOKEN


def test_token_never_appears_in_repr_or_str() -> None:
    config = load_config(None, env={TOKEN_ENV: TOKEN})
    for text in (repr(config), str(config), repr(config.telegram), f"{config.telegram}"):
        assert SECRET not in text
        assert "token=" not in text


@pytest.mark.parametrize(
    "token",
    [
        "123456789:short",
        "123456789:" + "A" * 29,
        "bot123:" + "A" * 35,
        ":" + "A" * 35,
        "123456789" + "A" * 35,
        "123456789:" + "A" * 30 + "!",
        "123456789:" + "A" * 20 + " " + "A" * 20,
        "123456789:" + "Ä" * 35,
    ],
)
def test_malformed_token_is_rejected_without_echoing_it(tmp_path: Path, token: str) -> None:
    message = config_error(tmp_path, f'[telegram]\ntoken = "{token}"\n')
    assert message.startswith("config key telegram.token: malformed")
    assert token not in message
    assert (token.partition(":")[2] or token) not in message

    with pytest.raises(ConfigError) as info:
        load_config(None, env={TOKEN_ENV: token})
    env_message = str(info.value)
    assert env_message.startswith(f"config key telegram.token (from {TOKEN_ENV}): malformed")
    assert token not in env_message


def test_malformed_token_is_rejected_even_when_not_required() -> None:
    with pytest.raises(ConfigError, match=r"telegram\.token"):
        load_config(None, env={TOKEN_ENV: "nope"}, require_token=False)


def test_token_of_wrong_type(tmp_path: Path) -> None:
    message = config_error(tmp_path, "[telegram]\ntoken = 123456789\n")
    assert message == "config key telegram.token: expected a string, got integer"


# --- every key lands where it belongs ----------------------------------------------------

FULL = f"""
[telegram]
token = "{TOKEN}"
base_url = "http://127.0.0.1:8081/bot"
base_file_url = "http://127.0.0.1:8081/file/bot"
allowed_user_ids = [1, 22, 333]
operator_ids = [22]
stream_edit_interval = 0.5
poll_timeout = 10
connect_timeout = 2.5
read_timeout = 7

[database]
url = "postgresql+asyncpg://moodbot:pw@db.internal:5432/moodbot"
auto_migrate = false

[model]
name = "Qwen/Qwen2.5-1.5B-Instruct"
cache_dir = "/var/cache/moodbot"
backend = "openai"
api_base = "http://127.0.0.1:8000/v1"
api_model = "qwen"
api_key = "sk-123"
threads = 4
max_batch = 16
dtype = "bf16"
cache_mb = 64

[mood]
neutral_threshold = 0.9

[reply]
max_new_tokens = 256
temperature = 1
top_p = 0.95
top_k = 0
repetition_penalty = 1.05
history_tokens = 1024
seed = 7

[logging]
level = "debug"
log_message_text = true
"""


def test_every_key_is_read_into_its_field(tmp_path: Path) -> None:
    config = load_text(tmp_path, FULL)
    assert config.telegram == TelegramConfig(
        token=TOKEN,
        base_url="http://127.0.0.1:8081/bot",
        base_file_url="http://127.0.0.1:8081/file/bot",
        allowed_user_ids=frozenset({1, 22, 333}),
        operator_ids=frozenset({22}),
        stream_edit_interval=0.5,
        poll_timeout=10,
        connect_timeout=2.5,
        read_timeout=7.0,
    )
    assert config.database == DatabaseConfig(
        url="postgresql+asyncpg://moodbot:pw@db.internal:5432/moodbot", auto_migrate=False
    )
    assert config.engine == EngineConfig(
        model="Qwen/Qwen2.5-1.5B-Instruct",
        cache_dir=Path("/var/cache/moodbot"),
        backend="openai",
        api_base="http://127.0.0.1:8000/v1",
        api_model="qwen",
        api_key="sk-123",
        threads=4,
        neutral_threshold=0.9,
        max_batch=16,
        dtype="bf16",
        cache_mb=64,
        sampling=SamplingConfig(
            max_new_tokens=256,
            temperature=1.0,
            top_p=0.95,
            top_k=0,
            repetition_penalty=1.05,
            history_tokens=1024,
            seed=7,
        ),
    )
    assert config.logging == LoggingConfig(level="DEBUG", log_message_text=True)


def test_whole_numbers_are_accepted_as_floats(tmp_path: Path) -> None:
    config = load_text(
        tmp_path, "[reply]\ntemperature = 1\n[telegram]\nread_timeout = 7\n", require_token=False
    )
    assert isinstance(config.engine.sampling.temperature, float)
    assert isinstance(config.telegram.read_timeout, float)


def test_partial_sections_keep_other_defaults(tmp_path: Path) -> None:
    config = load_text(tmp_path, "[reply]\ntop_k = 5\n", require_token=False)
    assert config.engine.sampling == SamplingConfig(top_k=5)
    assert config.engine == EngineConfig(sampling=SamplingConfig(top_k=5))


def test_database_url_from_environment_overrides_the_file(tmp_path: Path) -> None:
    url = "postgresql+asyncpg://u:p@h/db"
    config = load_text(
        tmp_path,
        '[database]\nurl = "sqlite+aiosqlite:///x.db"\n',
        env={DATABASE_URL_ENV: url},
        require_token=False,
    )
    assert config.database.url == url


def test_bad_database_url_from_environment_is_not_echoed() -> None:
    url = "user:hunter2@db/moodbot"
    with pytest.raises(ConfigError) as info:
        load_config(None, env={DATABASE_URL_ENV: url}, require_token=False)
    message = str(info.value)
    assert message.startswith(f"config key database.url (from {DATABASE_URL_ENV}): ")
    assert "hunter2" not in message


def test_home_directory_is_expanded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    write(
        tmp_path,
        '[database]\nurl = "sqlite+aiosqlite:///~/data/moodbot.db"\n'
        '[model]\nname = "~/models/qwen"\ncache_dir = "~/cache"\n',
    )
    config = load_config(Path("~/config.toml"), env={}, require_token=False)
    assert config.database.url == f"sqlite+aiosqlite:///{tmp_path}/data/moodbot.db"
    assert config.engine.model == f"{tmp_path}/models/qwen"
    assert config.engine.cache_dir == tmp_path / "cache"


def test_hub_ids_and_packaged_names_are_left_alone(tmp_path: Path) -> None:
    for name in ("Qwen/Qwen2.5-1.5B-Instruct", "qwen2.5-coder-0.5b-instruct"):
        config = load_text(tmp_path, f'[model]\nname = "{name}"\n', require_token=False)
        assert config.engine.model == name


def test_openai_backend_requires_api_base(tmp_path: Path) -> None:
    message = config_error(
        tmp_path, f'[telegram]\ntoken = "{TOKEN}"\n[model]\nbackend = "openai"\n'
    )
    assert message == 'config key model.api_base: required when model.backend = "openai"'
    message = config_error(
        tmp_path, f'[telegram]\ntoken = "{TOKEN}"\n[model]\nbackend = "openai"\napi_base = ""\n'
    )
    assert message.startswith("config key model.api_base: required")


def test_empty_api_base_is_fine_for_the_local_backend(tmp_path: Path) -> None:
    config = load_text(tmp_path, '[model]\napi_base = ""\n', require_token=False)
    assert config.engine.api_base == ""


# --- validation errors name their key ----------------------------------------------------

INVALID = [
    # wrong types; bool is not an integer or a number
    ("telegram", "poll_timeout", "true", "expected an integer, got boolean"),
    ("telegram", "poll_timeout", "30.5", "expected an integer, got float"),
    ("telegram", "poll_timeout", '"30"', "expected an integer, got string"),
    ("telegram", "stream_edit_interval", "false", "expected a number, got boolean"),
    ("telegram", "stream_edit_interval", '"1s"', "expected a number, got string"),
    ("telegram", "base_url", "[]", "expected a string, got array"),
    ("telegram", "allowed_user_ids", "5", "expected an array of Telegram user ids, got integer"),
    ("telegram", "allowed_user_ids", '[1, "2"]', "item 1 must be a positive integer user id"),
    ("telegram", "operator_ids", "[true]", "item 0 must be a positive integer user id"),
    ("telegram", "operator_ids", "[7, -5]", "item 1 must be a positive integer user id"),
    ("reply", "max_new_tokens", '"120"', "expected an integer, got string"),
    ("reply", "temperature", "true", "expected a number, got boolean"),
    ("reply", "seed", "1979-05-27", "expected an integer, got date"),
    ("logging", "log_message_text", "1", "expected true or false, got integer"),
    ("logging", "log_message_text", '"yes"', "expected true or false, got string"),
    ("database", "auto_migrate", '"no"', "expected true or false, got string"),
    ("model", "cache_dir", "5", "expected a string, got integer"),
    ("model", "threads", "{ n = 1 }", "expected an integer, got table"),
    # malformed strings
    ("telegram", "base_url", '"ftp://example.org/bot"', "must be an http:// or https:// URL"),
    ("telegram", "base_url", '"api.telegram.org/bot"', "must be an http:// or https:// URL"),
    ("telegram", "base_file_url", '""', "must be an http:// or https:// URL"),
    ("model", "api_base", '"localhost:8000"', "must be an http:// or https:// URL"),
    ("database", "url", '"moodbot.db"', "must be a SQLAlchemy URL"),
    ("model", "name", '"  "', "must not be empty"),
    ("model", "cache_dir", '""', "must not be empty"),
    ("model", "backend", '"remote"', "must be one of 'local', 'openai', got 'remote'"),
    ("logging", "level", '"LOUD"', "must be one of 'DEBUG', 'INFO', 'WARNING'"),
    # out of range
    ("telegram", "stream_edit_interval", "0", "must be ≥ 0.1 and ≤ 60.0, got 0"),
    ("telegram", "poll_timeout", "-1", "must be ≥ 0 and ≤ 300, got -1"),
    ("telegram", "connect_timeout", "0", "must be > 0.0 and ≤ 300.0, got 0"),
    ("telegram", "read_timeout", "inf", "must be > 0.0 and ≤ 300.0, got inf"),
    ("telegram", "max_requests_per_second", "0", "must be > 0.0 and ≤ 10000.0, got 0"),
    ("telegram", "mode", '"push"', "must be one of"),
    ("telegram", "webhook_port", "70000", "must be ≥ 1 and ≤ 65535, got 70000"),
    ("telegram", "webhook_path", '"/"', "must be a URL path"),
    ("telegram", "webhook_url", '"bot.example.com/hook"', "must be an http:// or https:// URL"),
    ("telegram", "webhook_secret", '"has spaces in it"', "1 to 256 letters, digits"),
    ("telegram", "max_group_requests_per_minute", "-5", "must be > 0.0 and ≤ 100000.0, got -5"),
    ("telegram", "max_waiting_per_chat", "0", "must be ≥ 1 and ≤ 100000, got 0"),
    ("model", "threads", "-1", "must be ≥ 0 and ≤ 1024, got -1"),
    ("model", "max_batch", "0", "must be ≥ 1 and ≤ 256, got 0"),
    ("model", "dtype", '"int8"', "must be one of 'bf16', 'int4', got 'int8'"),
    ("model", "cache_mb", "-1", "must be ≥ 0 and ≤ 1048576, got -1"),
    ("mood", "neutral_threshold", "0.5", "must be > 0.5 and ≤ 1.0, got 0.5"),
    ("mood", "neutral_threshold", "1.01", "must be > 0.5 and ≤ 1.0, got 1.01"),
    ("mood", "neutral_threshold", "nan", "must be > 0.5 and ≤ 1.0, got nan"),
    ("reply", "max_new_tokens", "0", "must be ≥ 1 and ≤ 8192, got 0"),
    ("reply", "temperature", "-0.1", "must be ≥ 0.0 and ≤ 2.0, got -0.1"),
    ("reply", "temperature", "2.5", "must be ≥ 0.0 and ≤ 2.0, got 2.5"),
    ("reply", "top_p", "0", "must be > 0.0 and ≤ 1.0, got 0"),
    ("reply", "top_k", "-1", "must be ≥ 0, got -1"),
    ("reply", "repetition_penalty", "0", "must be > 0.0 and ≤ 2.0, got 0"),
    ("reply", "history_tokens", "40000", "must be ≥ 0 and ≤ 32768, got 40000"),
    ("reply", "seed", "-1", "must be ≥ 0 and ≤ 4294967295, got -1"),
    ("reply", "seed", "4294967296", "must be ≥ 0 and ≤ 4294967295, got 4294967296"),
    # operators
    ("operators", "chat_id", "0", "must be a Telegram chat id"),
    ("operators", "chat_id", '"-100123"', "expected an integer chat id, got string"),
    ("operators", "alert_confidence", "1.5", "must be ≥ 0.0 and ≤ 1.0, got 1.5"),
    ("operators", "alert_streak", "-1", "must be ≥ 0 and ≤ 1000, got -1"),
    ("operators", "digest_time", '"25:00"', 'must be a 24-hour time such as "09:00"'),
    ("operators", "digest_time", '"9am"', 'must be a 24-hour time such as "09:00"'),
    ("operators", "digest_time", "9", 'expected a time of day such as "09:00", got integer'),
    ("operators", "timezone", '"Mars/Olympus"', "unknown time zone 'Mars/Olympus'"),
    ("operators", "timezone", '""', "must not be empty"),
    ("knowledge", "file", '"absent.md"', "absent.md does not exist"),
    ("knowledge", "file", "3", "expected a string, got integer"),
    ("knowledge", "answer_threshold", "1.5", "must be ≥ 0.0 and ≤ 1.0, got 1.5"),
    ("triage", "enabled", '"yes"', "expected true or false, got string"),
    ("triage", "intents", '["returns"]', "expected a table of intent name"),
    ("triage", "intents", '{ Returns = "refunds", other = "else" }', "'Returns' is not an intent"),
    ("triage", "intents", '{ returns = "refunds" }', "needs 2 to 16 intents, got 1"),
    ("triage", "intents", '{ returns = "", other = "else" }', "returns: expected a short"),
    ("triage", "intents", '{ returns = 3, other = "else" }', "returns: expected a short"),
    ("triage", "handoff_intents", '"returns"', "expected an array of intent names"),
    ("triage", "handoff_intents", '["order-status"]', "'order-status' is not an intent name"),
    ("triage", "handoff_intents", '["refunds"]', "'refunds' is not one of the intents"),
    ("desk", "approve", '"sometimes"', "must be one of 'never', 'negative', 'always'"),
    ("desk", "takeover_idle_minutes", "-5", "must be ≥ 0 and ≤ 10080, got -5"),
    ("desk", "title_interval", "true", "expected a number, got boolean"),
    ("desk", "team_prefix", "3", "expected a string, got integer"),
    ("desk", "rating_idle_minutes", "1.5", "expected an integer, got float"),
]


@pytest.mark.parametrize(("section", "key", "value", "reason"), INVALID)
def test_invalid_value_names_its_key_and_never_the_token(
    tmp_path: Path, section: str, key: str, value: str, reason: str
) -> None:
    # A valid token sits in the same file: no error about another key may leak it.
    token_line = f'token = "{TOKEN}"\n'
    if section == "telegram":
        text = f"[telegram]\n{token_line}{key} = {value}\n"
    else:
        text = f"[telegram]\n{token_line}[{section}]\n{key} = {value}\n"
    message = config_error(tmp_path, text)
    assert message.startswith(f"config key {section}.{key}: ")
    assert reason in message
    assert SECRET not in message


def test_the_invalid_table_covers_every_section() -> None:
    assert {section for section, *_ in INVALID} == set(SCHEMA)


@pytest.mark.parametrize(
    ("section", "key", "value"),
    [
        ("mood", "neutral_threshold", "1.0"),
        ("mood", "neutral_threshold", "0.500001"),
        ("reply", "top_p", "1.0"),
        ("reply", "temperature", "0"),
        ("reply", "top_k", "0"),
        ("reply", "seed", "0"),
        ("reply", "seed", "4294967295"),
        ("reply", "history_tokens", "0"),
        ("telegram", "poll_timeout", "0"),
        ("telegram", "stream_edit_interval", "0.1"),
        ("model", "threads", "0"),
        ("model", "max_batch", "1"),
        ("model", "cache_mb", "0"),
    ],
)
def test_boundary_values_are_accepted(tmp_path: Path, section: str, key: str, value: str) -> None:
    load_text(tmp_path, f"[{section}]\n{key} = {value}\n", require_token=False)


def test_log_level_is_case_insensitive(tmp_path: Path) -> None:
    config = load_text(tmp_path, '[logging]\nlevel = "warning"\n', require_token=False)
    assert config.logging.level == "WARNING"


# --- unknown keys and sections -----------------------------------------------------------


def test_unknown_key_suggests_the_closest_one(tmp_path: Path) -> None:
    message = config_error(tmp_path, "[reply]\ntemprature = 0.5\n")
    assert message == "config key reply.temprature: unknown key (did you mean reply.temperature?)"


def test_key_in_the_wrong_section_suggests_where_it_belongs(tmp_path: Path) -> None:
    message = config_error(tmp_path, "[reply]\nneutral_threshold = 0.8\n")
    assert message == (
        "config key reply.neutral_threshold: unknown key (did you mean mood.neutral_threshold?)"
    )


def test_top_level_token_suggests_the_telegram_section(tmp_path: Path) -> None:
    message = config_error(tmp_path, f'token = "{TOKEN}"\n')
    assert message == "config key token: unknown key (did you mean telegram.token?)"


def test_unknown_section_suggests_the_closest_one(tmp_path: Path) -> None:
    message = config_error(tmp_path, "[telegrm]\npoll_timeout = 5\n")
    assert message == "config key telegrm: unknown section (did you mean telegram?)"


def test_unknown_key_without_a_close_match(tmp_path: Path) -> None:
    message = config_error(tmp_path, "[model]\nqqqqqqqq = 1\n")
    assert message == "config key model.qqqqqqqq: unknown key"


def test_section_that_is_not_a_table(tmp_path: Path) -> None:
    message = config_error(tmp_path, "reply = 5\n")
    assert message == "config key reply: expected a table ([reply]), got integer"


def test_every_error_names_a_key(tmp_path: Path) -> None:
    for section, keys in SCHEMA.items():
        for key in keys:
            # An array is the wrong type for every key except the user id lists, where its
            # content is wrong instead.
            message = config_error(tmp_path, f'[{section}]\n{key} = [["x"]]\n')
            assert re.match(rf"config key {section}\.{key}: \S", message), message


# --- the file itself ---------------------------------------------------------------------


def test_invalid_toml_names_the_file_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path, f'[telegram]\ntoken = "{TOKEN}"\npoll_timeout = \n')
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    message = str(info.value)
    assert message.startswith(f"config file {path}: invalid TOML: ")
    assert "line 3" in message
    assert "column" in message
    assert SECRET not in message


def test_invalid_toml_on_the_token_line_does_not_echo_it(tmp_path: Path) -> None:
    message = config_error(tmp_path, f'[telegram]\ntoken = "{TOKEN}" oops\n')
    assert "invalid TOML" in message
    assert "line 2" in message
    assert SECRET not in message


def test_duplicate_key_is_invalid_toml(tmp_path: Path) -> None:
    message = config_error(tmp_path, "[reply]\ntop_k = 1\ntop_k = 2\n")
    assert "invalid TOML" in message
    assert "line 3" in message


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.toml"
    with pytest.raises(ConfigError) as info:
        load_config(path, env={TOKEN_ENV: TOKEN})
    assert str(info.value) == f"config file {path}: not found"


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"config file .*: cannot be read"):
        load_config(tmp_path, env={TOKEN_ENV: TOKEN})


def test_file_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes(b'[model]\nname = "caf\xe9"\n')
    with pytest.raises(ConfigError, match=r"config file .*latin1\.toml: not UTF-8 text"):
        load_config(path, env={}, require_token=False)


# --- config.example.toml -----------------------------------------------------------------


def test_example_loads_and_documents_the_real_defaults() -> None:
    env = {TOKEN_ENV: TOKEN}
    assert load_config(EXAMPLE, env=env) == load_config(None, env=env)


def _example_entries() -> dict[str, dict[str, str]]:
    """Every `key = value` line of the example, commented out or not, by section; later wins.
    A sub-table (`# [triage.intents]`) is one key of its section, as an inline table."""
    entries: dict[str, dict[str, str]] = {}
    section = ""
    table: list[str] | None = None
    for line in EXAMPLE.read_text(encoding="utf-8").splitlines():
        if header := re.fullmatch(r"\[(\w+)\]", line):
            section, table = header[1], None
            entries[section] = {}
        elif sub := re.fullmatch(r"# \[(\w+)\.(\w+)\]", line):
            section, table = sub[1], []
            entries[section][sub[2]] = ""
            key = sub[2]
        elif entry := re.fullmatch(r"(?:# )?(\w+) = (.+)", line):
            if table is None:
                entries[section][entry[1]] = entry[2]
            else:
                table.append(f"{entry[1]} = {entry[2]}")
                entries[section][key] = "{ " + ", ".join(table) + " }"
    return entries


def test_example_documents_every_key() -> None:
    entries = _example_entries()
    assert {section: set(keys) for section, keys in entries.items()} == {
        section: set(keys) for section, keys in SCHEMA.items()
    }


def test_example_with_its_examples_uncommented_is_valid(tmp_path: Path) -> None:
    text = "".join(
        f"[{section}]\n" + "".join(f"{key} = {value}\n" for key, value in keys.items())
        for section, keys in _example_entries().items()
    )
    facts = _example_entries()["knowledge"]["file"].strip('"')
    (tmp_path / facts).write_text("## Hours\nOpen 9:00 to 18:00.\n", encoding="utf-8")
    config = load_text(tmp_path, text)
    assert config.telegram.token
    assert config.engine.backend == "openai"
    assert config.engine.api_base.startswith("http")
    assert config.database.url.startswith("postgresql+asyncpg://")
    assert config.engine.sampling.seed is not None
    assert config.engine.knowledge is not None


# --- [triage] ------------------------------------------------------------------------------


def test_triage_reads_the_default_intents_unless_switched_off(tmp_path: Path) -> None:
    default = load_config(None, require_token=False).engine.triage
    assert default == TriageConfig()
    assert set(default.intents) == {
        "order_status", "shipping", "returns", "product", "payment", "order_change", "feedback",
        "other",
    }  # fmt: skip
    assert default.handoff_intents == ("order_status", "order_change")
    off = load_text(tmp_path, "[triage]\nenabled = false\n", require_token=False)
    assert off.engine.triage is None


def test_a_teams_own_intents_replace_the_set_and_keep_the_default_handoffs_they_name(
    tmp_path: Path,
) -> None:
    text = (
        "[triage.intents]\n"
        'order_status = "where my parcel is"\n'
        'warranty = "repairs under warranty"\n'
        'other = "anything else"\n'
    )
    triage = load_text(tmp_path, text, require_token=False).engine.triage
    assert triage is not None
    assert list(triage.intents) == ["order_status", "warranty", "other"]
    assert triage.handoff_intents == ("order_status",)
    chosen = load_text(
        tmp_path,
        text.replace(
            "[triage.intents]", '[triage]\nhandoff_intents = ["warranty"]\n[triage.intents]'
        ),
        require_token=False,
    ).engine.triage
    assert chosen is not None and chosen.handoff_intents == ("warranty",)


def test_a_long_intent_description_is_refused(tmp_path: Path) -> None:
    long = "x" * 161
    message = config_error(
        tmp_path,
        f'[telegram]\ntoken = "{TOKEN}"\n[triage.intents]\nreturns = "{long}"\nother = "else"\n',
    )
    assert message.startswith("config key triage.intents: returns: the description must be")


# --- [operators] ---------------------------------------------------------------------------


def test_operators_section_values(tmp_path: Path) -> None:
    config = load_text(
        tmp_path,
        "[operators]\nchat_id = -1001234567890\nalert_confidence = 0.8\nalert_streak = 0\n"
        'digest_time = "7:30"\ntimezone = "Asia/Shanghai"\n',
        require_token=False,
    )
    operators = config.operators
    assert operators.chat_id == -1001234567890
    assert operators.alert_confidence == 0.8
    assert operators.alert_streak == 0
    assert operators.digest_time == time(7, 30)
    assert operators.zone.key == "Asia/Shanghai"


def test_digest_time_accepts_a_toml_time_and_empty_turns_it_off(tmp_path: Path) -> None:
    toml_time = load_text(tmp_path, "[operators]\ndigest_time = 18:05:00\n", require_token=False)
    assert toml_time.operators.digest_time == time(18, 5)
    off = load_text(tmp_path, '[operators]\ndigest_time = ""\n', require_token=False)
    assert off.operators.digest_time is None


def test_facts_file_is_read_beside_the_config_with_its_settings(tmp_path: Path) -> None:
    (tmp_path / "facts.md").write_text("## Hours\nOpen 9:00 to 18:00.\n", encoding="utf-8")
    config = load_text(
        tmp_path,
        '[knowledge]\nfile = "facts.md"\nanswer_threshold = 0.7\n',
        require_token=False,
    )
    assert config.engine.knowledge == KnowledgeConfig(
        file=tmp_path / "facts.md", answer_threshold=0.7
    )


def test_no_knowledge_section_means_no_facts(tmp_path: Path) -> None:
    assert load_text(tmp_path, "", require_token=False).engine.knowledge is None


def test_knowledge_settings_without_a_file_name_the_missing_key(tmp_path: Path) -> None:
    message = config_error(
        tmp_path, f'[telegram]\ntoken = "{TOKEN}"\n[knowledge]\nanswer_threshold = 0.6\n'
    )
    assert message == "config key knowledge.file: missing (needed by knowledge.answer_threshold)"


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "holds no facts"),
        (b"  \n\n## Empty\n\n", "holds no facts"),
        (b"\xff\xfe\x00", "not UTF-8"),
    ],
)
def test_an_unusable_facts_file_stops_the_start_naming_the_key(
    tmp_path: Path, content: bytes, reason: str
) -> None:
    (tmp_path / "facts.md").write_bytes(content)
    message = config_error(
        tmp_path, f'[telegram]\ntoken = "{TOKEN}"\n[knowledge]\nfile = "facts.md"\n'
    )
    assert message.startswith("config key knowledge.file: ")
    assert reason in message


def test_an_unreadable_facts_file_names_the_key(tmp_path: Path) -> None:
    (tmp_path / "facts").mkdir()
    message = config_error(
        tmp_path, f'[telegram]\ntoken = "{TOKEN}"\n[knowledge]\nfile = "facts"\n'
    )
    assert message.startswith("config key knowledge.file: cannot read")


@pytest.mark.parametrize("policy", ["negative", "always"])
def test_approval_needs_operators_to_approve(tmp_path: Path, policy: str) -> None:
    text = f'[telegram]\ntoken = "{TOKEN}"\n\n[desk]\napprove = "{policy}"\n'
    assert config_error(tmp_path, text) == (
        f'config key desk.approve: "{policy}" needs telegram.operator_ids (nobody could '
        "approve a reply, and every customer would wait for ever)"
    )
    with_operators = text.replace("\n\n[desk]", "\noperator_ids = [42]\n\n[desk]")
    assert load_text(tmp_path, with_operators).desk.approve == policy
