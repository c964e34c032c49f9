"""`moodbot moods`, `moodbot report` and `moodbot export` on a seeded database."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import matplotlib.image
import pytest

from bot.cli.main import main
from bot.cli.operators import INTENT_FIELDS, LOG_FIELDS
from storage import CustomerInfo, Database, Store, migrations
from tests.mood_log_seed import tagged

ANN = CustomerInfo(id=100_001, name="Ann", username="ann_k", language="en")
BO = CustomerInfo(id=100_002, name="波")
OPERATOR = 900_001
# The commands' clock: five minutes past midnight in the configured zone (Asia/Shanghai).
NOW = datetime(2024, 5, 7, 16, 5, tzinfo=UTC)


def write_config(tmp_path: Path, url: str, time_zone: str = "Asia/Shanghai") -> Path:
    path = tmp_path / "config.toml"
    path.write_text(
        f'[database]\nurl = "{url}"\n\n[operators]\ntimezone = "{time_zone}"\n', encoding="utf-8"
    )
    return path


async def _seed(url: str) -> None:
    database = Database(url)
    await database.connect()
    await migrations.upgrade(database)
    try:
        sad = await tagged(
            database, ANN, "sad, it broke", "negative", 0.91, NOW - timedelta(hours=2)
        )
        await Store(database).correct_mood(sad.id, "neutral", OPERATOR)
        await Store(database).record_answer(sad.id, "😢 sorry", 77)
        await tagged(database, BO, "好评, 很满意", "positive", 0.88, NOW - timedelta(minutes=70))
        await tagged(database, ANN, "still broken", "negative", 0.8, NOW - timedelta(minutes=5))
        await tagged(database, ANN, "last month", "negative", 0.7, NOW - timedelta(days=20))
    finally:
        await database.close()


@pytest.fixture
def config(tmp_path: Path) -> Path:
    url = f"sqlite+aiosqlite:///{tmp_path / 'moodbot.db'}"
    asyncio.run(_seed(url))
    return write_config(tmp_path, url)


def run(config: Path, *arguments: str) -> int:
    return main(["--config", str(config), *arguments], clock=lambda: NOW)


def test_moods_as_json(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(config, "moods", "--format", "json") == 0
    rows = json.loads(capsys.readouterr().out)

    assert [row["text"] for row in rows] == ["still broken", "好评, 很满意", "sad, it broke"]
    corrected = rows[2]
    assert corrected["customer_id"] == ANN.id and corrected["customer_username"] == "ann_k"
    assert (corrected["model_label"], corrected["model_confidence"]) == ("negative", 0.91)
    assert (corrected["human_label"], corrected["corrected_by"]) == ("neutral", OPERATOR)
    assert corrected["label"] == "neutral"
    assert rows[0]["human_label"] is None
    # Times are in the configured zone, with their offset.
    written = datetime.fromisoformat(rows[0]["time"])
    assert written.utcoffset() == timedelta(hours=8)
    assert written == NOW - timedelta(minutes=5)


def test_moods_filters(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(config, "moods", "--since", "30d", "--label", "negative", "--format", "json") == 0
    negative = [row["text"] for row in json.loads(capsys.readouterr().out)]
    assert run(config, "moods", "--user", "@ANN_K", "--since", "24h", "--format", "json") == 0
    anns = [row["text"] for row in json.loads(capsys.readouterr().out)]
    assert run(config, "moods", "--user", str(BO.id), "--format", "json") == 0
    bos = [row["text"] for row in json.loads(capsys.readouterr().out)]

    # "sad, it broke" was corrected to neutral, so it is no longer negative.
    assert negative == ["still broken", "last month"]
    assert anns == ["still broken", "sad, it broke"]
    assert bos == ["好评, 很满意"]


def test_moods_as_csv(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(config, "moods", "--format", "csv") == 0
    reader = csv.DictReader(io.StringIO(capsys.readouterr().out))
    rows = list(reader)

    assert tuple(reader.fieldnames or ()) == LOG_FIELDS
    assert [row["text"] for row in rows] == ["still broken", "好评, 很满意", "sad, it broke"]
    assert (rows[2]["human_label"], rows[2]["corrected_by"]) == ("neutral", str(OPERATOR))
    assert rows[0]["human_label"] == ""


def test_moods_as_a_table(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(config, "moods") == 0
    out = capsys.readouterr().out

    assert "3 tagged messages since" in out and "(Asia/Shanghai), newest first" in out
    for text in ("still broken", "好评, 很满意", "sad, it broke", "neutral", "91%"):
        assert text in out
    assert "last month" not in out


def test_moods_reports_an_empty_log_and_unknown_customers(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(config, "moods", "--since", "1h", "--label", "positive") == 0
    assert capsys.readouterr().out.startswith("No tagged messages match since ")
    assert run(config, "moods", "--user", "@nobody") == 1
    assert "no customer with username @nobody" in capsys.readouterr().err


def test_moods_refuses_a_bad_period(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        run(config, "moods", "--since", "7w")
    assert exit_info.value.code == 2
    assert "period '7w' is not a number of hours or days" in capsys.readouterr().err


def test_report_writes_the_chart(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "report.png"

    assert run(config, "report", "--since", "30d", "--out", str(out)) == 0

    png = out.read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert matplotlib.image.imread(io.BytesIO(png), format="png").ndim == 3
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("Moods ") and lines[0].endswith("(Asia/Shanghai)")
    assert lines[1] == "4 messages: 😄 1 · 😐 1 · 😢 2 · 50% negative"
    assert len([line for line in lines if line.endswith(" negative")]) == 31
    assert lines[-1] == f"chart written to {out}"


def test_report_on_an_empty_period_writes_no_chart(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}", "UTC")
    assert run(config, "migrate") == 0
    out = tmp_path / "report.png"

    assert run(config, "report", "--since", "7d", "--out", str(out)) == 1

    assert not out.exists()
    error = capsys.readouterr().err
    assert error.startswith("moodbot: No tagged messages in ")
    assert error.rstrip().endswith("(UTC). No chart written.")


def test_export_is_everything_about_one_customer(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(config, "export", "--user", str(ANN.id)) == 0
    document = json.loads(capsys.readouterr().out)
    out = tmp_path / "ann.json"
    assert run(config, "export", "--user", "@ann_k", "--out", str(out)) == 0

    assert json.loads(out.read_text(encoding="utf-8"))["messages"] == document["messages"]
    assert document["customer"]["id"] == ANN.id
    assert document["customer"]["username"] == "ann_k"
    assert [(m["role"], m["text"]) for m in document["messages"]] == [
        ("user", "sad, it broke"),
        ("assistant", "😢 sorry"),
        ("user", "still broken"),
        ("user", "last month"),
    ]
    [correction] = document["messages"][0]["corrections"]
    assert (correction["label"], correction["operator_id"]) == ("neutral", OPERATOR)
    assert datetime.fromisoformat(correction["created_at"]).tzinfo is not None
    assert "好评" not in json.dumps(document, ensure_ascii=False)


def test_export_of_an_unknown_customer_fails(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(config, "export", "--user", "42") == 1
    assert "no customer 42 is stored" in capsys.readouterr().err


def test_reports_never_change_the_schema(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = write_config(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'new.db'}")

    assert run(empty, "moods") == 1
    assert "has no moodbot schema" in capsys.readouterr().err
    assert run(empty, "migrate") == 0
    assert run(empty, "moods") == 0


# --- intents ([triage]) ----------------------------------------------------------------------


async def _seed_intents(url: str) -> None:
    database = Database(url)
    await database.connect()
    await migrations.upgrade(database)
    store = Store(database)
    try:
        refund = await tagged(
            database,
            ANN,
            "refund please",
            "negative",
            0.9,
            NOW - timedelta(hours=3),
            intent=("returns", 0.84),
        )
        moved = await tagged(
            database,
            BO,
            "到哪了",
            "neutral",
            0.6,
            NOW - timedelta(hours=2),
            intent=("shipping", 0.55),
        )
        await store.correct_intent(moved.id, "order_status", OPERATOR)
        await tagged(
            database,
            ANN,
            "money back",
            "positive",
            0.7,
            NOW - timedelta(hours=1),
            intent=("returns", 0.66),
        )
        await tagged(database, BO, "before triage", "negative", 0.8, NOW - timedelta(minutes=30))
        await tagged(
            database,
            ANN,
            "last month",
            "negative",
            0.7,
            NOW - timedelta(days=20),
            intent=("returns", 0.9),
        )
        assert refund.intent == "returns"
    finally:
        await database.close()


@pytest.fixture
def triage_config(tmp_path: Path) -> Path:
    url = f"sqlite+aiosqlite:///{tmp_path / 'triage.db'}"
    asyncio.run(_seed_intents(url))
    return write_config(tmp_path, url)


def test_moods_filter_by_intent_and_show_it(
    triage_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(triage_config, "moods", "--intent", "returns", "--format", "json") == 0
    returns = json.loads(capsys.readouterr().out)
    assert run(triage_config, "moods", "--intent", "order_status", "--format", "json") == 0
    [ordered] = json.loads(capsys.readouterr().out)
    assert run(triage_config, "moods", "--format", "json") == 0
    everything = json.loads(capsys.readouterr().out)

    assert [row["text"] for row in returns] == ["money back", "refund please"]
    assert (returns[1]["intent"], returns[1]["model_intent"]) == ("returns", "returns")
    assert (returns[1]["model_intent_confidence"], returns[1]["human_intent"]) == (0.84, None)
    # The operator's correction decides the filter, the model's intent stays beside it.
    assert ordered["text"] == "到哪了"
    assert (ordered["intent"], ordered["model_intent"]) == ("order_status", "shipping")
    assert ordered["human_intent"] == "order_status"
    assert [(row["text"], row["intent"]) for row in everything] == [
        ("before triage", None),
        ("money back", "returns"),
        ("到哪了", "order_status"),
        ("refund please", "returns"),
    ]


def test_moods_as_csv_with_the_intent_columns(
    triage_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(triage_config, "moods", "--format", "csv") == 0
    reader = csv.DictReader(io.StringIO(capsys.readouterr().out))
    rows = list(reader)

    assert tuple(reader.fieldnames or ()) == (*LOG_FIELDS[:-1], *INTENT_FIELDS, "text")
    assert [(row["text"], row["intent"], row["human_intent"]) for row in rows] == [
        ("before triage", "", ""),
        ("money back", "returns", ""),
        ("到哪了", "order_status", "order_status"),
        ("refund please", "returns", ""),
    ]


def test_moods_table_has_an_intent_column(
    triage_config: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    assert run(triage_config, "moods", "--intent", "order_status") == 0
    out = capsys.readouterr().out

    assert "1 tagged messages with intent order_status since" in out
    [header] = [line for line in out.splitlines() if "customer" in line]
    assert [cell.strip() for cell in header.strip("┃ ").split("┃")][3:5] == [
        "corrected",
        "intent",
    ]
    assert "🏷 shipping 55% → ✍️ order_status" in out


def test_a_log_without_intents_has_no_intent_columns(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(config, "moods", "--format", "json") == 0
    rows = json.loads(capsys.readouterr().out)
    assert run(config, "moods") == 0
    table = capsys.readouterr().out

    assert all(set(row) == set(LOG_FIELDS) for row in rows)
    assert "intent" not in table and "🏷" not in table


def test_moods_refuses_an_intent_not_configured(
    triage_config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(triage_config, "moods", "--intent", "refunds") == 1
    error = capsys.readouterr().err
    off = tmp_path / "off.toml"
    off.write_text(triage_config.read_text() + "\n[triage]\nenabled = false\n", encoding="utf-8")
    assert run(off, "moods", "--intent", "returns") == 1
    off_error = capsys.readouterr().err

    assert "no intent 'refunds'; the configured intents are order_status, shipping," in error
    assert "triage is off ([triage] enabled = false)" in off_error


def test_report_adds_the_intents(
    triage_config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "report.png"

    assert run(triage_config, "report", "--since", "7d", "--out", str(out)) == 0

    lines = capsys.readouterr().out.splitlines()
    start = lines.index("By intent (what customers wanted):")
    assert lines[start + 1 : start + 4] == [
        "returns: 2 messages, 50% negative",
        "order_status: 1 message, 0% negative",
        "",
    ]
    assert lines[start - 1] == "" and lines[start - 2].endswith(" negative")
    pixels = matplotlib.image.imread(io.BytesIO(out.read_bytes()), format="png")
    assert pixels.shape[:2] == (480, 1400)


def test_report_without_intents_says_nothing_of_them(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "report.png"

    assert run(config, "report", "--since", "7d", "--out", str(out)) == 0

    assert "By intent" not in capsys.readouterr().out
    pixels = matplotlib.image.imread(io.BytesIO(out.read_bytes()), format="png")
    assert pixels.shape[:2] == (480, 900)
