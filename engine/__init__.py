"""moodbot's model: mood classification and empathetic replies, with no knowledge of Telegram."""

from __future__ import annotations

from engine.config import EngineConfig, SamplingConfig
from engine.model_cache import Progress, ProgressFactory
from engine.protocol import Engine, ReplyStreamLike
from engine.types import Mood, ReplyCancelled, Turn


def open_engine(config: EngineConfig, progress: ProgressFactory = Progress) -> Engine:
    """The engine the config asks for: the model in this process, or an OpenAI-compatible server."""
    if config.backend == "openai":
        from engine.remote_engine import RemoteMoodEngine

        return RemoteMoodEngine(config)
    from engine.mood_engine import MoodEngine

    return MoodEngine.load(config, progress)


__all__ = [
    "Engine",
    "EngineConfig",
    "Mood",
    "ReplyCancelled",
    "ReplyStreamLike",
    "SamplingConfig",
    "Turn",
    "open_engine",
]
