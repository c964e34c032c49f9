"""`moodbot calibrate`: thresholds fitted to operators' corrections, written only on request."""

from __future__ import annotations

from pathlib import Path
from typing import cast

import pytest

from bot.cli.calibrate import (
    LanguageResult,
    calibrate,
    result_lines,
    set_mood_key,
    write_thresholds,
)
from bot.config import Config, ConfigError, TelegramConfig, load_config
from engine.calibration import fit_threshold
from engine.config import EngineConfig
from engine.protocol import Engine
from engine.types import Mood
from storage.corrections import CorrectedMessage, agreement

TOKEN_LINE = f'token = "123456789:{"A" * 35}"'


def polar(p_negative: float) -> dict[str, float]:
    return {"positive": 1 - p_negative, "negative": p_negative}


def test_the_fit_moves_the_threshold_to_where_operators_agree() -> None:
    # Operators call 0.6–0.7 negatives neutral, 0.9 ones negative.
    probabilities = [polar(0.6), polar(0.65), polar(0.7), polar(0.9), polar(0.95)]
    labels = ["neutral", "neutral", "neutral", "negative", "negative"]

    fit = fit_threshold(probabilities, labels, current=0.55)  # type: ignore[arg-type]

    assert fit.agreement == 1.0
    assert 0.7 < fit.threshold <= 0.9
    assert fit.threshold == 0.71  # nearest to the current one among the best


class TableEngine:
    def __init__(self, table: dict[str, float]) -> None:
        self._table = table

    def classify_many_sync(self, texts: list[str]) -> list[Mood]:
        return [Mood("neutral", 0.5, polar(self._table[text])) for text in texts]


def test_a_language_needs_the_minimum_count_and_reports_before_and_after() -> None:
    corrected = [
        CorrectedMessage("meh it is ok", "negative", "neutral"),
        CorrectedMessage("awful service", "negative", "negative"),
        CorrectedMessage("还行吧", "negative", "neutral"),
    ]
    engine = TableEngine({"meh it is ok": 0.65, "awful service": 0.95, "还行吧": 0.62})
    config = Config(
        TelegramConfig(token=""),
        engine=EngineConfig(neutral_threshold=0.6, neutral_threshold_zh=0.7),
    )

    results = calibrate(cast(Engine, engine), config, corrected, min_count=2)

    assert result_lines(results, 2) == [
        "en: 2 corrected messages: agreement 50% at 0.60 → 100% at 0.66",
        "zh: 1 corrected messages, fewer than 2: threshold stays "
        f"{config.engine.neutral_threshold_for('zh'):.2f} (agreement 100%)",
    ]
    assert agreement(corrected) == pytest.approx(1 / 3)


def test_write_changes_only_the_fitted_keys(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    before = f"[telegram]\n{TOKEN_LINE}\n\n[mood]\nneutral_threshold = 0.6\n# keep me\n\n[reply]\n"
    path.write_text(before + "top_k = 5\n", encoding="utf-8")
    corrected = [
        CorrectedMessage("meh it is ok", "negative", "neutral"),
        CorrectedMessage("awful service", "negative", "negative"),
    ]
    engine = TableEngine({"meh it is ok": 0.65, "awful service": 0.95})
    config = Config(
        TelegramConfig(token=""),
        engine=EngineConfig(neutral_threshold=0.6, neutral_threshold_zh=0.7),
    )
    results = calibrate(cast(Engine, engine), config, corrected, min_count=2)

    assert write_thresholds(path, results) == ["[mood] neutral_threshold = 0.66"]
    after = before.replace("neutral_threshold = 0.6\n", "neutral_threshold = 0.66\n")
    assert path.read_text(encoding="utf-8") == after + "top_k = 5\n"
    assert (
        set_mood_key("", "neutral_threshold_zh", "0.7")
        == "\n\n[mood]\nneutral_threshold_zh = 0.7\n"
    )


def fitted_at_the_grid_floor(config: Config) -> list[LanguageResult]:
    """Operators call every barely negative message negative: the best fit is 0.50, never
    neutral, which the config does not accept."""
    corrected = [CorrectedMessage(f"not good {n}", "negative", "negative") for n in range(3)]
    engine = TableEngine({item.text: 0.505 for item in corrected})
    results = calibrate(cast(Engine, engine), config, corrected, min_count=2)
    fit = results[0].fit
    assert fit is not None and fit.threshold == 0.5
    return results


def test_written_thresholds_load_back_through_the_config_loader(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(f"[telegram]\n{TOKEN_LINE}\n\n[mood]\nneutral_threshold = 0.6\n", "utf-8")
    config = Config(TelegramConfig(token=""), engine=EngineConfig(neutral_threshold=0.6))
    results = fitted_at_the_grid_floor(config)

    written = write_thresholds(path, results)

    loaded = load_config(path, require_token=False, env={})
    assert written == ["[mood] neutral_threshold = 0.51"]
    assert loaded.engine.neutral_threshold == 0.51
    assert result_lines(results, 2)[0] == (
        "en: 3 corrected messages: agreement 0% at 0.60 → 100% at 0.50, "
        "the config's nearest 0.51: 0%"
    )


def test_a_failed_write_leaves_the_config_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "config.toml"
    before = f"[telegram]\n{TOKEN_LINE}\n\n[mood]\nneutral_threshold = 0.6\n"
    path.write_text(before, "utf-8")
    config = Config(TelegramConfig(token=""), engine=EngineConfig(neutral_threshold=0.6))
    results = fitted_at_the_grid_floor(config)

    def interrupted(source: object, target: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr("os.replace", interrupted)
    with pytest.raises(OSError, match="disk full"):
        write_thresholds(path, results)

    assert path.read_text("utf-8") == before
    assert [p.name for p in tmp_path.iterdir()] == ["config.toml"]


def test_a_config_the_loader_would_refuse_is_not_written(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    # Broken before calibrate ran: writing the thresholds into it must not pass as success.
    before = f"[telegram]\n{TOKEN_LINE}\n\n[mood]\nneutral_threshold = 0.6\n\n[reply]\ntop_k = -1\n"
    path.write_text(before, "utf-8")
    config = Config(TelegramConfig(token=""), engine=EngineConfig(neutral_threshold=0.6))
    results = fitted_at_the_grid_floor(config)

    with pytest.raises(ConfigError, match=r"reply\.top_k"):
        write_thresholds(path, results)

    assert path.read_text("utf-8") == before
