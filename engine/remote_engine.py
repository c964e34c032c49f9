"""The engine on an OpenAI-compatible server (vLLM, llama.cpp server, …) for scale-out.

Same prompts, same mood rule and same reply clean-up as the model in this process; the server
does the batching, so requests simply go out concurrently.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

import httpx

from engine.config import EngineConfig, handoff_intents
from engine.control_tokens import defuse_control_spellings
from engine.knowledge.answering import GroundedAnswerer, WriteRequest
from engine.knowledge.base import DeskFact, Knowledge, KnowledgeBase
from engine.knowledge.evidence import (
    YES_NO_WORDS,
    Pick,
    asks_user_turn,
    best_candidate,
    pick_system,
    read_pick,
    verify_user_turn,
)
from engine.knowledge.prompts import (
    ASKS_INSTRUCTIONS,
    GROUNDED_PERSONAS,
    evidence_note,
)
from engine.knowledge.statements import Statement
from engine.language import Language, detect_language
from engine.mood_decision import MAX_TEXT_TOKENS, decide_intent, decide_mood
from engine.openai_client import Json, OpenAIServer, RemoteEngineError
from engine.prompts import CLASSIFICATION_PROMPTS, TEXT_SLOT, reply_system_prompt
from engine.reply_prompt import (
    MAX_MESSAGE_TOKENS,
    TURN_OVERHEAD_TOKENS,
    recent_turns,
    reply_messages,
)
from engine.reply_stream import ReplyStream
from engine.triage_prompt import TRIAGE_PROMPTS
from engine.types import Mood, Turn
from engine.vocabulary import MoodLabel

__all__ = ["RemoteEngineError", "RemoteMoodEngine"]

log = logging.getLogger(__name__)

# Mood requests of one batch in flight at once; the server batches whatever arrives together.
CLASSIFY_CONCURRENCY = 8
# OpenAI's and vLLM's default ceiling.
TOP_LOGPROBS = 20
# A label word missing from the top logprobs is less likely than every token listed; this far
# below the least likely one stands in for its unknown logprob.
MISSING_LABEL_PENALTY = 5.0
# No tokenizer here, so token budgets become character budgets. A Han character is about a
# token (a little less with Qwen's vocabulary, so the estimate errs on the short side).
CHARS_PER_TOKEN: dict[Language, int] = {"en": 3, "zh": 1}


def _clip(text: str, language: Language) -> str:
    """Head and tail of a long message, as the local classifier cuts it."""
    limit = MAX_TEXT_TOKENS * CHARS_PER_TOKEN[language]
    if len(text) <= limit:
        return text
    half = limit // 2
    return text[:half] + text[-half:]


def _head(text: str) -> str:
    """An over-long new message cut to its head, as the local reply prompt cuts it."""
    limit = MAX_MESSAGE_TOKENS * CHARS_PER_TOKEN[detect_language(text)]
    return text if len(text) <= limit else text[:limit] + " …"


def _label_of(token: str, label_words: dict[MoodLabel, str]) -> MoodLabel | None:
    """The label whose word this token spells or begins (" Positive", "正" of "正面")."""
    spelled = token.strip().casefold()
    if not spelled:
        return None
    matches = [
        label for label, word in label_words.items() if word.strip().casefold().startswith(spelled)
    ]
    return matches[0] if len(matches) == 1 else None


def label_probabilities(
    top_logprobs: Sequence[Json], label_words: dict[MoodLabel, str]
) -> dict[str, float]:
    """The softmax over the label words, from the first answer token's top logprobs."""
    found: dict[MoodLabel, list[float]] = {label: [] for label in label_words}
    for entry in top_logprobs:
        label = _label_of(str(entry["token"]), label_words)
        if label is not None:
            found[label].append(float(entry["logprob"]))
    floor = min(float(entry["logprob"]) for entry in top_logprobs) - MISSING_LABEL_PENALTY
    # Every spelling of a label is one way of answering it, so their probabilities add up.
    logits = {
        label: math.log(sum(math.exp(value) for value in values)) if values else floor
        for label, values in found.items()
    }
    peak = max(logits.values())
    weights = {label: math.exp(value - peak) for label, value in logits.items()}
    total = sum(weights.values())
    return {label: weight / total for label, weight in weights.items()}


@dataclass(frozen=True)
class AnswerToken:
    token: str
    top: list[Json]


# Answer tokens an intent's name is read from: " order" "_status" tells the longest default.
INTENT_TOKENS = 3


def intent_probabilities(
    answer: Sequence[AnswerToken], intents: Mapping[str, str]
) -> dict[str, float]:
    """Each intent's probability from the answer's top logprobs, as the local engine reads them:
    a token that begins several names (" order") shares its probability among them by the next
    token's top logprobs where the answer went on with it, else evenly."""
    found = dict.fromkeys(intents, 0.0)

    def spread(depth: int, spelled: str, among: list[str], weight: float) -> None:
        for entry in answer[depth].top:
            text = (spelled + str(entry["token"])).lstrip().casefold()
            matching = [name for name in among if text and name.startswith(text)]
            if not matching:
                continue
            probability = weight * math.exp(float(entry["logprob"]))
            if len(matching) == 1:
                found[matching[0]] += probability
            elif depth + 1 < len(answer) and _spelled(answer[: depth + 1]) == text:
                spread(depth + 1, text, matching, probability)
            else:
                for name in matching:
                    found[name] += probability / len(matching)

    if answer:
        spread(0, "", list(intents), 1.0)
    return found


def _spelled(tokens: Sequence[AnswerToken]) -> str:
    """The answer's tokens as one name (the first token's leading space dropped)."""
    return "".join(token.token for token in tokens).lstrip().casefold()


def estimate_tokens(text: str) -> int:
    return math.ceil(len(text) / CHARS_PER_TOKEN[detect_language(text)])


def _token_probabilities(
    top_logprobs: Sequence[Json], words: Sequence[str], *, casefold: bool = False
) -> list[float]:
    """Each word's probability as the next token (0 when it is not among the top ones)."""

    def spelled(token: str) -> str:
        stripped = token.strip()
        return stripped.casefold() if casefold else stripped

    wanted = [spelled(word) for word in words]
    found = [0.0] * len(words)
    for entry in top_logprobs:
        token = spelled(str(entry["token"]))
        if token in wanted:
            found[wanted.index(token)] += math.exp(float(entry["logprob"]))
    return found


def trim_history(history: Sequence[Turn], history_tokens: int) -> list[Turn]:
    """The newest turns that fit the budget (estimated from characters), opening with the
    customer's."""
    return recent_turns(
        history,
        history_tokens,
        lambda turn: (
            len(turn.text) / CHARS_PER_TOKEN[detect_language(turn.text)] + TURN_OVERHEAD_TOKENS
        ),
    )


DeltaSink = Callable[[str], None]


@dataclass(frozen=True)
class _PickLayout:
    statements: tuple[Statement, ...]
    yes_tokens: int


class RemoteMoodEngine:
    """Tags moods and writes replies with a model on an OpenAI-compatible server.

    Construction checks that the server answers and serves `api_model` (the first model it
    lists when that is empty); `load_seconds` is how long that took. The server must return
    logprobs (vLLM does): the mood is read from the label words' logprobs, never generated.
    """

    def __init__(self, config: EngineConfig) -> None:
        self.config = config
        self._server = OpenAIServer(config.api_base, config.api_key)
        self.knowledge = KnowledgeBase(config.knowledge) if config.knowledge else None
        # With triage on: the intents, and the triage prompt's system turn per language listing
        # them, built once.
        self._intents: Mapping[str, str] = config.triage.intents if config.triage else {}
        self._triage_systems = {
            language: prompt.system_with(self._intents, language)
            for language, prompt in TRIAGE_PROMPTS.items()
            if self._intents
        }
        self._answerer = GroundedAnswerer(
            self,
            self.knowledge,
            config.knowledge.answer_threshold if config.knowledge else None,
            handoff_intents(config),
        )
        started = time.perf_counter()
        self.model_name = self._pick_model(self._server.list_models())
        self.load_seconds = time.perf_counter() - started
        log.info("using model %s at %s", self.model_name, self._server.api_base)

    def _pick_model(self, served: list[str]) -> str:
        wanted = self.config.api_model
        if wanted in served:
            return wanted
        if not wanted and served:
            return served[0]
        raise RemoteEngineError(
            f"config key model.api_model: the inference server at {self._server.api_base} "
            f"does not serve {wanted or 'any model'!r} (it lists: {', '.join(served) or 'none'})"
        )

    async def classify(self, text: str) -> Mood:
        (mood,) = await self.classify_many([text])
        return mood

    async def classify_many(self, texts: Sequence[str]) -> list[Mood]:
        if not texts:
            return []
        gate = asyncio.Semaphore(CLASSIFY_CONCURRENCY)
        client = self._server.client()

        async def one(text: str) -> Mood:
            async with gate:
                return await self._classify_with(client, text)

        try:
            async with asyncio.TaskGroup() as group:
                tasks = [group.create_task(one(text)) for text in texts]
        except ExceptionGroup as failed:
            # A failing server fails every request alike; the first one says why.
            raise failed.exceptions[0] from None
        return [task.result() for task in tasks]

    def classify_many_sync(self, texts: Sequence[str]) -> list[Mood]:
        """For callers without an event loop (batch tagging, evaluation)."""
        return asyncio.run(self._classify_in_own_loop(texts)) if texts else []

    async def _classify_in_own_loop(self, texts: Sequence[str]) -> list[Mood]:
        try:
            return await self.classify_many(texts)
        finally:
            # The loop ends with this call: its connections are closed while it still runs.
            await self._server.close_client()

    async def _classify_with(self, client: httpx.AsyncClient, text: str) -> Mood:
        language = detect_language(text)
        customer_text = defuse_control_spellings(_clip(text, language))
        if self._triage_systems:
            return await self._triage_with(client, customer_text, language)
        prompt = CLASSIFICATION_PROMPTS[language]
        messages = [
            {"role": "system", "content": prompt.system},
            {"role": "user", "content": prompt.user.replace(TEXT_SLOT, customer_text)},
        ]
        top = await self._answer_logprobs(client, messages, prompt.answer_prefix, 1)
        probabilities = label_probabilities(top[0].top, prompt.label_words)
        return decide_mood(
            probabilities, self.config.neutral_threshold_for(language), prompt.calibration
        )

    async def _triage_with(
        self, client: httpx.AsyncClient, customer_text: str, language: Language
    ) -> Mood:
        """The mood and the intent after the triage prompt the local engine reads: two
        requests (a server shares no branches), the same words."""
        prompt = TRIAGE_PROMPTS[language]
        system = self._triage_systems[language]
        user = prompt.user.replace(TEXT_SLOT, customer_text)

        messages = [{"role": "system", "content": system}, {"role": "user", "content": user}]
        mood_top, intent_tops = await asyncio.gather(
            self._answer_logprobs(client, messages, prompt.mood_answer, 1),
            self._answer_logprobs(client, messages, prompt.intent_answer, INTENT_TOKENS),
        )
        mood = decide_mood(
            label_probabilities(mood_top[0].top, prompt.label_words),
            self.config.neutral_threshold_for(language),
            prompt.calibration,
        )
        intent = decide_intent(intent_probabilities(intent_tops, self._intents))
        return replace(mood, intent=intent)

    async def _answer_logprobs(
        self,
        client: httpx.AsyncClient,
        messages: list[dict[str, str]],
        answer_prefix: str,
        tokens: int,
    ) -> list[AnswerToken]:
        """The first `tokens` answer tokens (greedy) after the prefix, with their top
        logprobs."""
        # The same answer prefix as the local engine: the server continues the assistant's
        # turn after it (vLLM's continue_final_message), so the label word comes next.
        prefill: Json = {}
        if answer_prefix:
            messages = [*messages, {"role": "assistant", "content": answer_prefix}]
            prefill = {"continue_final_message": True, "add_generation_prompt": False}
        body = {
            "model": self.model_name,
            "messages": messages,
            **prefill,
            "max_tokens": tokens,
            "temperature": 0,
            "logprobs": True,
            "top_logprobs": TOP_LOGPROBS,
        }
        return await self._token_logprobs(client, body)

    async def _top_logprobs(self, client: httpx.AsyncClient, body: Json) -> list[Json]:
        """The top logprobs of the first answer token."""
        return (await self._token_logprobs(client, body))[0].top

    async def _token_logprobs(self, client: httpx.AsyncClient, body: Json) -> list[AnswerToken]:
        """Per answer token, the token chosen and the top logprobs of its place."""
        answer = await self._server.complete(client, body)
        choices = answer.get("choices") or [{}]
        content = (choices[0].get("logprobs") or {}).get("content") or [{}]
        tops = [
            AnswerToken(str(entry.get("token", "")), list(entry["top_logprobs"]))
            for entry in content
            if entry.get("top_logprobs")
        ]
        if not tops:
            raise RemoteEngineError(
                f"inference server at {self._server.api_base} returned no logprobs: moodbot "
                "reads moods and the facts' pick from label logprobs, so the server must support "
                "`logprobs` and `top_logprobs` in chat completions (vLLM does)"
            )
        return tops

    async def complete(
        self, messages: list[dict[str, str]], *, max_new_tokens: int, low_priority: bool = False
    ) -> str:
        """Greedy completion; the server schedules it (`low_priority` is for the local worker,
        whose single model is shared)."""
        body = {
            "model": self.model_name,
            "messages": messages,
            "max_tokens": max_new_tokens,
            "temperature": 0,
        }
        answer = await self._server.complete(self._server.client(), body)
        choices = answer.get("choices") or [{}]
        return str((choices[0].get("message") or {}).get("content") or "").strip()

    def reply(
        self,
        history: Sequence[Turn],
        text: str,
        mood: Mood,
        *,
        conversation: str | None = None,
    ) -> ReplyStream:
        """Start a reply; must be called from a running event loop. `conversation` is unused:
        the server keeps (or not) its own prefix cache."""
        return ReplyStream(
            lambda on_delta: self._answerer.answer(history, text, mood, None, on_delta)
        )

    def reload_knowledge(self) -> Knowledge | None:
        """Re-read the facts file; raises FactsError and keeps the facts in use on failure."""
        return self.knowledge.reload() if self.knowledge is not None else None

    def set_desk_facts(self, facts: Sequence[DeskFact]) -> None:
        if self.knowledge is not None:
            self.knowledge.set_desk_facts(facts)

    # --- the model work the answerer asks for (engine.knowledge.answering.AnswerModel) ---

    async def pick(self, language: Language, statements: Sequence[Statement], item: str) -> Pick:
        """The same pick as the local engine's, from the first answer token's top logprobs:
        whether the message asks anything, the number of the candidate that answers it, and
        the focused check of that candidate (once the number is known)."""
        client = self._server.client()
        message = defuse_control_spellings(_head(item))

        def body(system: str, user: str) -> Json:
            return {
                "model": self.model_name,
                "messages": [
                    {"role": "system", "content": system},
                    {"role": "user", "content": user},
                ],
                "max_tokens": 1,
                "temperature": 0,
                "logprobs": True,
                "top_logprobs": TOP_LOGPROBS,
            }

        yes, no = YES_NO_WORDS[language]
        layout = _PickLayout(tuple(statements), len(yes))
        requests = [body(ASKS_INSTRUCTIONS[language], asks_user_turn(language, message))]
        if statements:
            requests.append(body(pick_system(language, statements), message))
        answers = await asyncio.gather(*(self._top_logprobs(client, b) for b in requests))
        asks = _token_probabilities(answers[0], (*yes, *no), casefold=True)
        if not statements:
            return read_pick(layout, None, asks)
        digits = tuple(str(digit) for digit in range(len(statements) + 1))
        choice = _token_probabilities(answers[1], digits)
        best = statements[best_candidate(choice)]
        check = body(ASKS_INSTRUCTIONS[language], verify_user_turn(language, message, best))
        verify = _token_probabilities(
            await self._top_logprobs(client, check), (*yes, *no), casefold=True
        )
        return read_pick(layout, choice, asks, verify)

    async def write(self, request: WriteRequest, on_delta: DeltaSink) -> tuple[str, bool]:
        """One streamed completion of the same chat as the local engine's: the raw text and
        whether it ran into the token limit."""
        sampling = self.config.sampling
        # Customers' turns with control-token spellings defused (the server's tokenizer would
        # read them as real ones).
        turns = [
            Turn(turn.role, defuse_control_spellings(turn.text), turn.mood)
            if turn.role == "user"
            else turn
            for turn in trim_history(request.history, sampling.history_tokens)
        ]
        language = request.language
        messages = reply_messages(
            turns,
            defuse_control_spellings(_head(request.text)),
            request.mood,
            language,
            GROUNDED_PERSONAS[language]
            if request.evidence is not None
            else reply_system_prompt(language),
            evidence_note(language, list(request.evidence), request.stricter)
            if request.evidence
            else "",
        )
        body: Json = {
            "model": self.model_name,
            "messages": messages,
            "stream": True,
            "max_tokens": sampling.max_new_tokens,
            "temperature": sampling.temperature,
            "top_p": sampling.top_p,
            # Not OpenAI's, but vLLM's sampling extensions, which the local engine also applies.
            "top_k": sampling.top_k,
            "repetition_penalty": sampling.repetition_penalty,
        }
        if sampling.seed is not None:
            body["seed"] = sampling.seed
        pieces: list[str] = []
        hit_limit = False
        async with contextlib.aclosing(self._server.stream(self._server.client(), body)) as chunks:
            async for chunk in chunks:
                choices = chunk.get("choices") or []
                if not choices:
                    continue
                delta = (choices[0].get("delta") or {}).get("content")
                if delta:
                    pieces.append(delta)
                    on_delta(delta)
                hit_limit = hit_limit or choices[0].get("finish_reason") == "length"
        return "".join(pieces), hit_limit

    def forget_conversation(self, conversation: str) -> None:
        """Nothing is cached here for a conversation."""

    def healthy(self) -> bool:
        """Always: a server outage fails single requests, which the bot reports and retries."""
        return True

    def close(self) -> None:
        """Nothing to release here: each loop's client goes with its loop."""
