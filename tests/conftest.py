"""Session-wide model fixtures: each model is loaded once per test session."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.tiny_model import build_tiny_model, real_model_dir, tiny_engine_config
from engine.config import EngineConfig, SamplingConfig
from engine.mood_engine import MoodEngine


@pytest.fixture(scope="session")
def packaged_model_dir() -> Path:
    """The real packaged model as a bf16 directory (converted on the first run of a cache)."""
    return real_model_dir()


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory, packaged_model_dir: Path) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny-qwen2"), packaged_model_dir)


@pytest.fixture(scope="session")
def tiny_engine(tiny_model_dir: Path) -> Iterator[MoodEngine]:
    engine = MoodEngine.load(tiny_engine_config(tiny_model_dir))
    yield engine
    engine.close()


@pytest.fixture(scope="session")
def real_engine(packaged_model_dir: Path) -> Iterator[MoodEngine]:
    # Greedy decoding: the assertions on the real model's words must not depend on luck.
    engine = MoodEngine.load(EngineConfig(sampling=SamplingConfig(temperature=0.0)))
    yield engine
    engine.close()
