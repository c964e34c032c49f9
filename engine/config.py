"""Engine settings: which model, how to classify, how to sample replies."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from engine.language import Language
from engine.packaged_models import DEFAULT_MODEL, PACKAGED_MODELS

Backend = Literal["local", "openai"]
WeightType = Literal["bf16", "int4"]


@dataclass(frozen=True)
class SamplingConfig:
    max_new_tokens: int = 120
    temperature: float = 0.5
    top_p: float = 0.9
    top_k: int = 40
    repetition_penalty: float = 1.1
    # The customer's earlier turns are trimmed (oldest first) to fit this many prompt tokens.
    history_tokens: int = 768
    seed: int | None = None


@dataclass(frozen=True)
class KnowledgeConfig:
    """The company's facts file and how replies use it."""

    file: Path
    # A message is answered from its picked statement when the decision's score (the chance
    # that the statement answers it) reaches this; else a colleague answers. None: the fitted
    # default (engine.knowledge.decision.DEFAULT_THRESHOLD). Higher: fewer wrong answers, more
    # hand-offs.
    answer_threshold: float | None = None


# The intents every message is read for unless [triage] intents replaces them: a name the bot
# stores and shows, and the plain words the model is prompted with.
DEFAULT_INTENTS: dict[str, str] = {
    "order_status": "where the customer's own order is, when it arrives, its tracking",
    "shipping": "delivery in general, before any order: areas, times, costs, couriers",
    "returns": "return, refund or exchange; a damaged, faulty or wrong item",
    "product": "what a product does, fits, costs, or whether it exists or is in stock",
    "payment": "ways to pay, failed or double charges, invoices, instalments",
    "order_change": "change or cancel an order: its address, items or delivery time",
    "feedback": "praise or a complaint about the shop or its service, asking for nothing",
    "other": "greetings, thanks, chit-chat, or anything else",
}


@dataclass(frozen=True)
class TriageConfig:
    """What each customer message wants, read beside its mood."""

    intents: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_INTENTS))
    # Messages with these intents go to a person at once (they need data the bot cannot see).
    handoff_intents: tuple[str, ...] = ("order_status", "order_change")


@dataclass(frozen=True)
class EngineConfig:
    # A packaged model name (see engine.packaged_models), a local HF model directory or a hub id.
    model: str = DEFAULT_MODEL
    cache_dir: Path | None = None
    backend: Backend = "local"
    # Only for backend = "openai": the server's base URL (".../v1"), its model name and API key.
    api_base: str = ""
    api_model: str = ""
    api_key: str = field(default="", repr=False)
    # CPU threads for torch; 0 keeps torch's default (all cores).
    threads: int = 0
    # Below this top label probability a message is neutral. Each language has its own prompt,
    # and so its own calibration. None: the packaged model's own tuned value, or the default
    # model's for any other model.
    neutral_threshold: float | None = None
    neutral_threshold_zh: float | None = None
    # Requests the worker folds into one batched forward pass at most.
    max_batch: int = 8
    # Decoder weights for decoding: "int4" (group-wise int4 layers, int8 output head, quantized
    # once into the cache; about 3x faster on CPU) or "bf16" (the weights as loaded).
    dtype: WeightType = "bf16"
    # Memory for cached prefixes (system prompts, each conversation's last turn), in MiB.
    cache_mb: int = 256
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    # None: replies are not grounded in facts (no facts file configured).
    knowledge: KnowledgeConfig | None = None
    # None: moods only ([triage] enabled = false).
    triage: TriageConfig | None = field(default_factory=TriageConfig)

    def neutral_threshold_for(self, language: Language) -> float:
        configured = self.neutral_threshold_zh if language == "zh" else self.neutral_threshold
        if configured is not None:
            return configured
        calibrated = PACKAGED_MODELS.get(self.model, PACKAGED_MODELS[DEFAULT_MODEL])
        return calibrated.neutral_thresholds[language]


def handoff_intents(config: EngineConfig) -> tuple[str, ...]:
    """The intents that go to a person at once (none with triage off)."""
    return config.triage.handoff_intents if config.triage is not None else ()
