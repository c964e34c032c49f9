"""`moodbot calibrate`: fit each language's neutral threshold to the operators' corrections,
print the agreement before and after, and write the thresholds to the config with --write."""

from __future__ import annotations

import asyncio
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bot.config import Config, ConfigError, load_config, parse_value
from engine.calibration import GRID, Fit, agreement_at, fit_threshold
from engine.language import Language, detect_language
from engine.prompts import CLASSIFICATION_PROMPTS
from engine.protocol import Engine
from storage import Database
from storage.corrections import CorrectedMessage, corrected_messages

THRESHOLD_KEYS: dict[Language, str] = {"en": "neutral_threshold", "zh": "neutral_threshold_zh"}


@dataclass(frozen=True)
class LanguageResult:
    language: Language
    count: int
    current: float
    before: float
    fit: Fit | None  # None: fewer corrections than the minimum
    # What --write stores: the fit, or where the fit is a threshold the config refuses (the
    # grid starts at 0.50, never neutral), the nearest one above it the config takes.
    written: Fit | None


async def read_corrections(config: Config) -> list[CorrectedMessage]:
    database = Database(config.database.url)
    await database.connect()
    try:
        return await corrected_messages(database)
    finally:
        await database.close()


def calibrate(
    engine: Engine, config: Config, corrected: list[CorrectedMessage], min_count: int
) -> list[LanguageResult]:
    results = []
    for language in THRESHOLD_KEYS:
        mine = [item for item in corrected if detect_language(item.text) == language]
        current = config.engine.neutral_threshold_for(language)
        if not mine:
            continue
        moods = engine.classify_many_sync([item.text for item in mine])
        probabilities = [mood.probabilities for mood in moods]
        labels = [item.human_label for item in mine]
        floor = CLASSIFICATION_PROMPTS[language].calibration.neutral_word_floor
        before = agreement_at(probabilities, labels, current, floor)
        if len(mine) < min_count:
            results.append(LanguageResult(language, len(mine), current, before, None, None))
            continue
        fit = fit_threshold(probabilities, labels, current, floor)
        threshold = accepted_threshold(THRESHOLD_KEYS[language], fit.threshold)
        written = Fit(threshold, agreement_at(probabilities, labels, threshold, floor))
        results.append(LanguageResult(language, len(mine), current, before, fit, written))
    return results


def accepted_threshold(key: str, fitted: float) -> float:
    """`fitted`, or the nearest threshold of the grid above it that `[mood] key` accepts."""
    for threshold in (t for t in GRID if t >= fitted):
        try:
            parse_value("mood", key, threshold)
        except ConfigError:
            continue
        return threshold
    raise ValueError(f"no threshold from {fitted:.2f} up is accepted by [mood] {key}")


def result_lines(results: list[LanguageResult], min_count: int) -> list[str]:
    if not results:
        return ["No operator corrections are stored yet: nothing to calibrate."]
    lines = []
    for result in results:
        head = f"{result.language}: {result.count} corrected messages"
        if result.fit is None or result.written is None:
            lines.append(
                f"{head}, fewer than {min_count}: threshold stays {result.current:.2f} "
                f"(agreement {result.before:.0%})"
            )
            continue
        line = (
            f"{head}: agreement {result.before:.0%} at {result.current:.2f} → "
            f"{result.fit.agreement:.0%} at {result.fit.threshold:.2f}"
        )
        if result.written != result.fit:
            line += (
                f", the config's nearest {result.written.threshold:.2f}: "
                f"{result.written.agreement:.0%}"
            )
        lines.append(line)
    return lines


def write_thresholds(path: Path, results: list[LanguageResult]) -> list[str]:
    """Set the fitted keys in the [mood] table of the config file, keeping everything else.

    The new file is written beside the old one and loaded through the config loader before it
    replaces it in one step: a crash, a full disk or a value the bot would refuse at its next
    start leaves the old file as it was (ConfigError names the key at fault)."""
    text = path.read_text(encoding="utf-8")
    written = []
    for result in results:
        if result.written is None:
            continue
        key = THRESHOLD_KEYS[result.language]
        text = set_mood_key(text, key, f"{result.written.threshold:.2f}")
        written.append(f"[mood] {key} = {result.written.threshold:.2f}")
    _replace_checked(path, text)
    return written


def _replace_checked(path: Path, text: str) -> None:
    handle, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    new = Path(name)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        # The token may come from the environment; the file alone must load.
        load_config(new, require_token=False, env={})
        # The file may hold the token: the copy is readable by whom the original was.
        os.chmod(new, path.stat().st_mode & 0o7777)
        os.replace(new, path)
    except BaseException:
        new.unlink(missing_ok=True)
        raise


def set_mood_key(document: str, key: str, value: str) -> str:
    """`document` with `key = value` in its [mood] table (replaced, added, or a new table)."""
    section = re.search(r"(?m)^\[mood\][ \t]*$", document)
    if section is None:
        return f"{document.rstrip()}\n\n[mood]\n{key} = {value}\n"
    end = re.search(r"(?m)^\[", document[section.end() :])
    stop = section.end() + end.start() if end else len(document)
    body = document[section.end() : stop]
    line = re.compile(rf"(?m)^[ \t]*{re.escape(key)}[ \t]*=.*$")
    if line.search(body):
        body = line.sub(f"{key} = {value}", body, count=1)
    else:
        body = f"\n{key} = {value}{body}"
    return document[: section.end()] + body + document[stop:]


def run(
    engine: Engine, config: Config, config_path: Path | None, min_count: int, write: bool
) -> int:
    corrected = asyncio.run(read_corrections(config))
    results = calibrate(engine, config, corrected, min_count)
    for line in result_lines(results, min_count):
        print(line)
    if write:
        if config_path is None:
            raise ValueError("--write needs the config file (--config)")
        for line in write_thresholds(config_path, results):
            print(f"wrote {line} to {config_path}")
    return 0
