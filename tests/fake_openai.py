"""A fake OpenAI-compatible inference server (the parts vLLM serves that moodbot uses).

It runs on 127.0.0.1 in a thread of its own, like a real server in another process, so
blocking and async callers alike can use it. Classification answers follow keyword rules;
streamed replies are canned chunks. Tests steer it through its public attributes.
"""

from __future__ import annotations

import asyncio
import json
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from aiohttp import web

from engine.knowledge.prompts import (
    ASKS_INSTRUCTIONS,
    ASKS_QUESTIONS,
    MESSAGE_LEADS,
    PICK_INSTRUCTIONS,
    VERIFY_QUESTIONS,
)
from engine.knowledge.retrieval import words
from engine.prompts import CLASSIFICATION_PROMPTS
from engine.triage_prompt import INTENTS_SLOT, TRIAGE_PROMPTS, TriagePrompt

POSITIVE_WORDS = ("love", "great", "喜欢", "太好了")
NEGATIVE_WORDS = ("hate", "broken", "讨厌", "糟糕")
# Words that leave the model torn between the two labels.
TORN_WORDS = ("meh", "还行")


def best_match(statements: list[str], message: str) -> int:
    """The number (from 1) of the statement sharing the most words with the message; 0 when
    none shares any: how the fake model picks the facts' evidence."""
    wanted = set(words(message))
    overlaps = [len(wanted & set(words(statement))) for statement in statements]
    best = max(overlaps, default=0)
    return overlaps.index(best) + 1 if best else 0


def asks_something(message: str) -> bool:
    """How the fake model tells a request for information: it ends in a question mark."""
    return message.rstrip().endswith(("?", "？"))


def positive_share(text: str) -> float:
    """The probability the fake model gives the positive label for a classification prompt."""
    if any(word in text for word in TORN_WORDS):
        return 0.55
    if any(word in text for word in POSITIVE_WORDS):
        return 0.97
    if any(word in text for word in NEGATIVE_WORDS):
        return 0.02
    return 0.5


# How the fake model reads what a customer wants: the first intent whose words the message holds.
INTENT_WORDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("order_change", ("cancel", "change my order", "取消", "改地址")),
    ("order_status", ("where is my order", "my parcel", "订单到哪", "还没到")),
    ("returns", ("refund", "return", "broken", "退货", "退款")),
    ("payment", ("charged", "pay", "付款", "支付")),
    ("shipping", ("deliver", "shipping", "发货", "运费")),
)


def _before_intents(prompt: TriagePrompt) -> str:
    return prompt.system.split(INTENTS_SLOT)[0]


def intent_of(text: str, intents: list[str]) -> str:
    found = next(
        (name for name, keys in INTENT_WORDS if name in intents and any(k in text for k in keys)),
        None,
    )
    return found or ("other" if "other" in intents else intents[-1])


@dataclass(frozen=True)
class RecordedRequest:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    # The client's end of the connection: the same for requests over one kept-alive connection.
    peer: tuple[str, int] | None = None


class FakeOpenAIServer:
    def __init__(self, models: tuple[str, ...] = ("qwen-test",)) -> None:
        self.models = list(models)
        # False: answers classification requests without logprobs, as some servers do.
        self.logprobs = True
        # The token the model emits for a label word, or None to leave it out of the top list.
        self.spell: Callable[[str], str | None] = lambda word: word
        self.classify_delay = 0.0
        self.reply_chunks: list[str] = ["Thank you for writing to us!"]
        # Replies for the next streamed requests, one each, before reply_chunks again.
        self.next_replies: list[list[str]] = []
        # The answer to a chat that is not a classification (e.g. complaint keywords).
        self.completion = " refund, delivery "
        # The facts' pick: the number of the statement that answers a message (0: none).
        self.pick: Callable[[list[str], str], int] = best_match
        self.asks: Callable[[str], bool] = asks_something
        self.chunk_delay = 0.0
        self.finish_reason = "stop"
        # Send this error event after the reply chunks instead of [DONE], as vLLM does when
        # generation fails mid-stream.
        self.stream_error: str | None = None
        # Answer chat completions with this HTTP status and an OpenAI-style error body.
        self.fail_status: int | None = None
        self.requests: list[RecordedRequest] = []
        self.max_in_flight = 0
        # Set when a client closes a streamed reply before its end.
        self.stream_abandoned = threading.Event()
        self._in_flight = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> FakeOpenAIServer:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._serve(), self._loop).result(timeout=10)
        return self

    def stop(self) -> None:
        """Close the listening socket and the thread; a second call does nothing."""
        if self._loop.is_closed():
            return
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
            self._runner = None
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def __enter__(self) -> FakeOpenAIServer:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def chat_requests(self) -> list[dict[str, Any]]:
        return [r.body for r in self.requests if r.path.endswith("/chat/completions")]

    async def _serve(self) -> None:
        app = web.Application()
        app.router.add_get("/v1/models", self._models)
        app.router.add_post("/v1/chat/completions", self._chat)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]

    def _record(self, request: web.Request, body: dict[str, Any]) -> None:
        peer = request.transport.get_extra_info("peername") if request.transport else None
        self.requests.append(
            RecordedRequest(request.path, dict(request.headers), body, peer and tuple(peer[:2]))
        )

    async def _models(self, request: web.Request) -> web.Response:
        self._record(request, {})
        data = [{"id": name, "object": "model", "owned_by": "fake"} for name in self.models]
        return web.json_response({"object": "list", "data": data})

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self._record(request, body)
        if self.fail_status is not None:
            key = request.headers.get("Authorization", "").removeprefix("Bearer ")
            # Real servers do quote a refused key back.
            message = f"Incorrect API key provided: {key}" if self.fail_status == 401 else "boom"
            return web.json_response(
                {"error": {"message": message, "type": "server_error"}}, status=self.fail_status
            )
        if body["model"] not in self.models:
            return web.json_response(
                {"error": {"message": f"The model `{body['model']}` does not exist."}}, status=404
            )
        if body.get("stream"):
            return await self._stream(request)
        self._in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self._in_flight)
        try:
            await asyncio.sleep(self.classify_delay)
            return web.json_response(self._classification(body))
        finally:
            self._in_flight -= 1

    def _classification(self, body: dict[str, Any]) -> dict[str, Any]:
        messages = body["messages"]
        system, user = messages[0]["content"], messages[1]["content"]
        if any(system.startswith(instructions) for instructions in PICK_INSTRUCTIONS.values()):
            return self._answer_token(body, self._pick_candidates(system, user))
        if system in ASKS_INSTRUCTIONS.values():
            if any(user.endswith(question) for question in ASKS_QUESTIONS.values()):
                return self._answer_token(body, self._asks_candidates(user))
            return self._answer_token(body, self._verify_candidates(user))
        triage = next(
            (
                p
                for p in TRIAGE_PROMPTS.values()
                if system.startswith(p.system.split(INTENTS_SLOT)[0])
            ),
            None,
        )
        if triage is not None:
            return self._triage(body, messages, system, user, triage)
        prompt = next((p for p in CLASSIFICATION_PROMPTS.values() if p.system == system), None)
        if prompt is None:
            message = {"role": "assistant", "content": self.completion}
            choice = {"index": 0, "message": message, "finish_reason": "stop"}
            return {"id": "chatcmpl-fake", "object": "chat.completion", "choices": [choice]}
        share = positive_share(user)
        # The label words share most of the mass; the rest goes to a few other tokens.
        candidates = [
            (self.spell(prompt.label_words["positive"]), 0.98 * share),
            (self.spell(prompt.label_words["negative"]), 0.98 * (1 - share)),
            ("The", 0.015),
            ("I", 0.005),
        ]
        return self._answer_token(body, candidates)

    def _triage(
        self,
        body: dict[str, Any],
        messages: list[dict[str, str]],
        system: str,
        user: str,
        prompt: TriagePrompt,
    ) -> dict[str, Any]:
        """The mood as the mood prompt's, or the intent: its name in two answer tokens where it
        is spelled with "_" (" order", "_status"), as Qwen's tokenizer spells it."""
        if messages[-1]["content"] == prompt.mood_answer:
            share = positive_share(user)
            return self._answer_token(
                body,
                [
                    (self.spell(prompt.label_words["positive"]), 0.98 * share),
                    (self.spell(prompt.label_words["negative"]), 0.98 * (1 - share)),
                    ("The", 0.02),
                ],
            )
        intents = [
            line[2:].split(":", 1)[0] for line in system.splitlines() if line.startswith("- ")
        ]
        name = intent_of(user, intents)
        head, underscore, rest = name.partition("_")
        first = [(" " + head + (underscore if not rest else ""), 0.9), (" other", 0.05)]
        answer = self._answer_token(body, first if head != "other" else [(" other", 0.95)])
        if rest:
            second = self._answer_token(body, [("_" + rest, 0.8), ("_other", 0.2)])
            answer["choices"][0]["logprobs"]["content"] += second["choices"][0]["logprobs"][
                "content"
            ]
        return answer

    def _pick_candidates(self, system: str, message: str) -> list[tuple[str | None, float]]:
        """The pick's first answer token: the number of the candidate that answers."""
        statements = [
            line.split(". ", 1)[1]
            for line in system.splitlines()
            if line[:1].isdigit() and ". " in line
        ]
        number = str(self.pick(statements, message))
        return [(number, 0.95), ("9" if number != "9" else "8", 0.03), ("The", 0.02)]

    def _verify_candidates(self, user: str) -> list[tuple[str | None, float]]:
        """Whether the statement checked answers the message: as the fake's pick would say."""
        for language, template in VERIFY_QUESTIONS.items():
            before, after = template.split("{statement}")
            head, found, rest = user.partition("\n\n" + before)
            if found:
                message = head.removeprefix(MESSAGE_LEADS[language])
                statement = rest.removesuffix(after)
                yes = self.pick([statement], message) == 1
                word, other = ("yes", "no") if language == "en" else ("是", "否")
                answer = word if yes else other
                return [(answer, 0.95), (other if yes else word, 0.04), ("The", 0.01)]
        raise AssertionError(f"not a check of a statement: {user!r}")

    def _asks_candidates(self, user: str) -> list[tuple[str | None, float]]:
        """Whether the message (between the lead and the question) asks anything."""
        question = next(q for q in ASKS_QUESTIONS.values() if user.endswith(q))
        message = user.removesuffix(question).removesuffix("\n\n")
        for lead in MESSAGE_LEADS.values():
            message = message.removeprefix(lead)
        yes = self.asks(message)
        word = "yes" if "Answer yes or no" in question else "是"
        other = "no" if word == "yes" else "否"
        return [(word if yes else other, 0.95), (other if yes else word, 0.04), ("The", 0.01)]

    def _answer_token(
        self, body: dict[str, Any], candidates: list[tuple[str | None, float]]
    ) -> dict[str, Any]:
        top = [
            {"token": token, "logprob": math.log(p), "bytes": list(token.encode())}
            for token, p in sorted(candidates, key=lambda item: -item[1])
            if token is not None
        ][: body.get("top_logprobs", 0)]
        choice: dict[str, Any] = {
            "index": 0,
            "message": {"role": "assistant", "content": top[0]["token"]},
            "finish_reason": "length",
            "logprobs": {"content": [{**top[0], "top_logprobs": top}]} if self.logprobs else None,
        }
        return {"id": "chatcmpl-fake", "object": "chat.completion", "choices": [choice]}

    async def _stream(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)

        def event(delta: dict[str, str], finish: str | None = None) -> bytes:
            chunk = {
                "id": "chatcmpl-fake",
                "object": "chat.completion.chunk",
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }
            return f"data: {json.dumps(chunk)}\n\n".encode()

        try:
            # Like vLLM: the role first, then the text, the finish reason on the last piece.
            await response.write(event({"role": "assistant", "content": ""}))
            chunks = self.next_replies.pop(0) if self.next_replies else self.reply_chunks
            for number, piece in enumerate(chunks, start=1):
                await asyncio.sleep(self.chunk_delay)
                last = number == len(chunks)
                await response.write(
                    event({"content": piece}, self.finish_reason if last else None)
                )
            if self.stream_error is not None:
                error = {"error": {"message": self.stream_error, "code": 500}}
                await response.write(f"data: {json.dumps(error)}\n\n".encode())
            await response.write(b"data: [DONE]\n\n")
        except ConnectionResetError:
            self.stream_abandoned.set()
        return response
