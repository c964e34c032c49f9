"""The three calls moodbot makes to an OpenAI-compatible server: list its models, complete a
chat, stream a chat."""

from __future__ import annotations

import asyncio
import json
import weakref
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

import httpx

CONNECT_TIMEOUT_S = 5.0
# Between two bytes of an answer: a busy server may queue a request for a while.
READ_TIMEOUT_S = 60.0

# Enough of an error body to say what went wrong without flooding the journal.
_DETAIL_CHARS = 300

Json = dict[str, Any]


class RemoteEngineError(RuntimeError):
    """The inference server could not be reached or did not answer as expected."""


class OpenAIServer:
    """One OpenAI-compatible endpoint (`api_base` ends in /v1).

    One HTTP client, kept for the endpoint's life, so that its connections (and TLS sessions)
    are reused from one request to the next. A client's connections belong to the event loop
    that opened them, and the engine may be called from several loops (the bot's, `asyncio.run`
    in a worker thread, one per CLI command), so there is one client per loop; it goes with its
    loop, and one that only lives for a call closes its client with `close_client()`.
    """

    def __init__(self, api_base: str, api_key: str) -> None:
        self.api_base = api_base.rstrip("/")
        self._api_key = api_key
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._timeout = httpx.Timeout(READ_TIMEOUT_S, connect=CONNECT_TIMEOUT_S)
        # Reading the CA bundle costs tens of milliseconds: once per engine, not per client.
        self._ssl = httpx.create_ssl_context()
        self._clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx.AsyncClient] = (
            weakref.WeakKeyDictionary()
        )

    def client(self) -> httpx.AsyncClient:
        """The running loop's client, opened on its first use."""
        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None or client.is_closed:
            client = httpx.AsyncClient(
                headers=self._headers, timeout=self._timeout, verify=self._ssl
            )
            self._clients[loop] = client
        return client

    async def close_client(self) -> None:
        """Close the running loop's client, before that loop ends."""
        client = self._clients.pop(asyncio.get_running_loop(), None)
        if client is not None:
            await client.aclose()

    def list_models(self) -> list[str]:
        """The model names the server serves; blocking, for start-up."""
        with (
            self._translate_errors(),
            httpx.Client(headers=self._headers, timeout=self._timeout, verify=self._ssl) as client,
        ):
            response = client.get(f"{self.api_base}/models")
            self._raise_for_status(response)
            body = self._json(response.text)
        return [str(model["id"]) for model in body.get("data") or [] if "id" in model]

    async def complete(self, client: httpx.AsyncClient, body: Json) -> Json:
        with self._translate_errors():
            response = await client.post(f"{self.api_base}/chat/completions", json=body)
        self._raise_for_status(response)
        return self._json(response.text)

    async def stream(self, client: httpx.AsyncClient, body: Json) -> AsyncIterator[Json]:
        """The chunks of a streamed chat completion (server-sent events), until [DONE]."""
        with self._translate_errors():
            async with client.stream(
                "POST", f"{self.api_base}/chat/completions", json=body
            ) as response:
                if not response.is_success:
                    await response.aread()
                    self._raise_for_status(response)
                async for line in response.aiter_lines():
                    # Blank lines separate events; comments and other fields carry no text.
                    if not line.startswith("data:"):
                        continue
                    data = line.removeprefix("data:").strip()
                    if data == "[DONE]":
                        return
                    chunk = self._json(data)
                    if "error" in chunk:
                        raise self._error(f"failed mid-answer: {self._detail(chunk)}")
                    yield chunk

    def _error(self, what: str) -> RemoteEngineError:
        message = f"inference server at {self.api_base} {what}"
        # Some servers quote the key they refused; it must not reach a log.
        if self._api_key:
            message = message.replace(self._api_key, "***")
        return RemoteEngineError(message)

    @contextmanager
    def _translate_errors(self) -> Iterator[None]:
        try:
            yield
        except httpx.TimeoutException as exc:
            raise self._error(f"timed out ({type(exc).__name__})") from exc
        except httpx.ConnectError as exc:
            raise self._error(f"is unreachable: {exc}") from exc
        except httpx.HTTPError as exc:
            raise self._error(f"broke off the request: {str(exc) or type(exc).__name__}") from exc

    def _raise_for_status(self, response: httpx.Response) -> None:
        if response.is_success:
            return
        try:
            detail = self._detail(json.loads(response.text))
        except ValueError:
            detail = response.text[:_DETAIL_CHARS]
        hint = " (check model.api_key)" if response.status_code in (401, 403) else ""
        raise self._error(f"answered HTTP {response.status_code}{hint}: {detail}")

    @staticmethod
    def _detail(body: object) -> str:
        """The message of an OpenAI-style error body (vLLM, llama.cpp and OpenAI nest it)."""
        if isinstance(body, dict):
            error = body.get("error", body)
            if isinstance(error, dict):
                error = error.get("message") or error.get("detail") or error
            return str(error)[:_DETAIL_CHARS]
        return str(body)[:_DETAIL_CHARS]

    def _json(self, text: str) -> Json:
        try:
            body = json.loads(text)
        except ValueError:
            raise self._error(f"answered with something other than JSON: {text[:80]!r}") from None
        if not isinstance(body, dict):
            raise self._error(f"answered with unexpected JSON: {text[:80]!r}")
        return body
