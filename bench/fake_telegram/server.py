"""An HTTP server that speaks enough of the Telegram Bot API to run the bot unmodified.

The bot talks to it through python-telegram-bot's real HTTP stack (`base_url`), so request
encoding, error mapping (BadRequest, RetryAfter, NetworkError, TimedOut, Conflict), retries and
long polling are exercised exactly as against api.telegram.org. Tests play the customers
(`send_text`, `press_button`, ...), inspect what the bot did (`messages`, `drafts`, `calls`, ...)
and inject failures (`fail_next`, `outage`, `block_bot`).

All state lives behind one lock, so the control methods work both from a test on the server's
own event loop (`async with FakeTelegram()`) and from another thread (`with FakeTelegram()`,
which serves from a background thread for tests that run the bot as a subprocess).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import itertools
import json
import re
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from types import TracebackType
from typing import Any, Literal, Self, TypeVar

from aiohttp import ClientError, ClientSession, ClientTimeout, web

from ._text import (
    EntityParseError,
    JSONDict,
    detect_entities,
    parse_html,
    trim,
    utf16_len,
    utf16_slice,
)
from .records import (
    BotMessage,
    Call,
    CallbackAnswer,
    ChatAction,
    Draft,
    ForumTopic,
    MessageKind,
    Revision,
    Upload,
)

T = TypeVar("T")
ChatType = Literal["private", "group", "supergroup", "channel"]

DEFAULT_TOKEN = "123456789:AAFakeTelegramTokenForMoodbotTests0001"
MAX_TEXT_LENGTH = 4096
MAX_CAPTION_LENGTH = 1024
MAX_CALLBACK_ANSWER_LENGTH = 200
MAX_CALLBACK_DATA_BYTES = 64
MAX_COMMANDS = 100
MAX_TOPIC_NAME_LENGTH = 128
TOPIC_COLORS = (0x6FB9F0, 0xFFD67E, 0xCB86DB, 0x8EEE98, 0xFF93B2, 0xFB6F5F)
# Telegram accepts uploads up to 50 MB; aiohttp's default body limit is 1 MB.
MAX_UPLOAD_BYTES = 50 * 1024 * 1024

CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)
# Telegram delivers these only to bots that ask for them by name in allowed_updates.
OPT_IN_UPDATE_TYPES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})

_TOKEN_SHAPE = re.compile(r"\d+:[\w-]+")
_COMMAND_NAME = re.compile(r"[a-z0-9_]{1,32}")
_INTEGER = re.compile(r"-?\d+")

# PTB sends every parameter as a string (form-encoded or multipart parts), objects JSON-encoded;
# raw JSON bodies carry native types. These sets say what each name decodes to.
_INT_PARAMS = frozenset(
    {
        "message_id",
        "draft_id",
        "offset",
        "limit",
        "reply_to_message_id",
        "message_thread_id",
        "cache_time",
        "user_id",
        "icon_color",
    }
)
_FLOAT_PARAMS = frozenset({"timeout"})
_BOOL_PARAMS = frozenset(
    {
        "disable_notification",
        "protect_content",
        "show_alert",
        "drop_pending_updates",
        "allow_sending_without_reply",
        "disable_web_page_preview",
        "has_spoiler",
        "disable_content_type_detection",
        "allow_paid_broadcast",
    }
)
_JSON_PARAMS = frozenset(
    {
        "reply_markup",
        "reply_parameters",
        "entities",
        "caption_entities",
        "allowed_updates",
        "link_preview_options",
        "scope",
        "commands",
    }
)

_INLINE_BUTTON_ACTIONS = frozenset(
    {
        "callback_data",
        "url",
        "web_app",
        "login_url",
        "switch_inline_query",
        "switch_inline_query_current_chat",
        "switch_inline_query_chosen_chat",
        "copy_text",
        "callback_game",
        "pay",
    }
)
# The fake does not decode images; clients only need plausible dimensions.
_PHOTO_SIZE = (1280, 720)


class _ApiError(Exception):
    """An error answer, shaped like Telegram's: {"ok": false, "error_code", "description"}."""

    def __init__(self, status: int, description: str, *, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.retry_after = retry_after

    def payload(self) -> JSONDict:
        payload: JSONDict = {
            "ok": False,
            "error_code": self.status,
            "description": self.description,
        }
        if self.retry_after is not None:
            payload["parameters"] = {"retry_after": self.retry_after}
        return payload


def _default_description(status: int, retry_after: int) -> str:
    if status == HTTPStatus.TOO_MANY_REQUESTS:
        return f"Too Many Requests: retry after {retry_after}"
    if status == HTTPStatus.FORBIDDEN:
        return "Forbidden: bot was blocked by the user"
    if status == HTTPStatus.BAD_REQUEST:
        return "Bad Request"
    return HTTPStatus(status).phrase


@dataclass(frozen=True)
class _Fault:
    status: int | Literal["timeout"]
    retry_after: int
    description: str | None
    delay: float


@dataclass(frozen=True)
class _FilePart:
    filename: str | None
    content_type: str | None
    data: bytes


def _coerce(name: str, value: Any) -> Any:
    if name in _JSON_PARAMS and isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            raise _ApiError(400, f"Bad Request: can't parse {name} JSON object") from None
    if name in _INT_PARAMS or name == "chat_id":
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str) and _INTEGER.fullmatch(value.strip()):
            return int(value)
        if name == "chat_id" and isinstance(value, str):
            return value
        raise _ApiError(400, f"Bad Request: invalid {name} specified")
    if name in _FLOAT_PARAMS:
        try:
            return float(value)
        except (TypeError, ValueError):
            raise _ApiError(400, f"Bad Request: invalid {name} specified") from None
    if name in _BOOL_PARAMS and not isinstance(value, bool):
        return str(value).lower() in ("true", "1")
    return value


class _Params:
    """The decoded parameters of one request, whatever encoding the client chose."""

    def __init__(self, values: JSONDict, files: dict[str, _FilePart]) -> None:
        self.values = values
        self.files = files

    @classmethod
    async def read(cls, request: web.Request) -> _Params:
        values: JSONDict = dict(request.query)
        files: dict[str, _FilePart] = {}
        if request.content_type == "application/json":
            try:
                body = await request.json()
            except ValueError:
                raise _ApiError(400, "Bad Request: can't parse JSON request body") from None
            if not isinstance(body, dict):
                raise _ApiError(400, "Bad Request: request body must be a JSON object")
            values.update(body)
        elif request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
            for name, value in (await request.post()).items():
                if isinstance(value, web.FileField):
                    files[name] = _FilePart(value.filename, value.content_type, value.file.read())
                elif isinstance(value, bytes | bytearray):
                    values[name] = bytes(value).decode("utf-8", errors="replace")
                else:
                    values[name] = value
        return cls({name: _coerce(name, value) for name, value in values.items()}, files)

    def record(self) -> JSONDict:
        recorded = copy.deepcopy(self.values)
        for name, part in self.files.items():
            recorded[name] = {
                "filename": part.filename,
                "content_type": part.content_type,
                "size": len(part.data),
            }
        return recorded

    def get(self, name: str) -> Any:
        return self.values.get(name)

    def text(self, name: str) -> str | None:
        value = self.values.get(name)
        return None if value is None else str(value)

    def file(self, name: str) -> _FilePart | str | None:
        """An uploaded part, following attach:// references; a file_id/URL string otherwise."""
        if name in self.files:
            return self.files[name]
        value = self.values.get(name)
        if isinstance(value, str) and value.startswith("attach://"):
            return self.files.get(value.removeprefix("attach://"))
        return None if value is None else str(value)


_Handler = Callable[["FakeTelegram", _Params], Any]
_HANDLERS: dict[str, _Handler] = {}


def _api(name: str) -> Callable[[_Handler], _Handler]:
    """Register a Bot API method; Telegram matches method names case-insensitively."""

    def register(handler: _Handler) -> _Handler:
        _HANDLERS[name.lower()] = handler
        return handler

    return register


class FakeTelegram:
    """A fake Telegram Bot API server; see the package docstring for the test-facing API."""

    def __init__(
        self,
        *,
        token: str = DEFAULT_TOKEN,
        host: str = "127.0.0.1",
        port: int = 0,
        long_poll_cap: float = 1.0,
        privacy_mode: bool = False,
        bot_first_name: str = "MoodBot",
        bot_username: str = "moodbot_test_bot",
    ) -> None:
        if not _TOKEN_SHAPE.fullmatch(token):
            raise ValueError(f"a bot token looks like '<bot id>:<secret>', got {token!r}")
        self.token = token
        self.long_poll_cap = long_poll_cap
        """getUpdates never holds a request longer than this many seconds, whatever
        `timeout` the client asked for, so that tests and shutdowns stay fast."""
        self.privacy_mode = privacy_mode
        """Like BotFather's privacy mode: in groups only commands, mentions of the bot and
        replies to it reach the bot. Off by default, so tests see the bot's own filtering."""
        self.bot_user: JSONDict = {
            "id": int(token.split(":", 1)[0]),
            "is_bot": True,
            "first_name": bot_first_name,
            "username": bot_username,
            "can_join_groups": True,
            "can_read_all_group_messages": not privacy_mode,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }
        self._host = host
        self._port = port
        self._lock = threading.RLock()
        self._runner: web.AppRunner | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread_id: int | None = None
        self._thread: threading.Thread | None = None
        self._updates_changed: asyncio.Event | None = None
        self._closing: asyncio.Event | None = None
        # setWebhook's URL and secret token; while set, updates are posted there, one at a
        # time in order, and getUpdates is refused.
        self._webhook: tuple[str, str | None] | None = None
        self._webhook_wake: asyncio.Event | None = None
        self._webhook_task: asyncio.Task[None] | None = None
        self._webhook_statuses: list[int] = []

        self._chats: dict[int, JSONDict] = {}
        self._users: dict[int, JSONDict] = {}
        self._last_message_id: dict[int, int] = {}
        self._user_messages: dict[int, dict[int, JSONDict]] = {}
        self._bot_messages: dict[int, dict[int, BotMessage]] = {}
        self._pending: list[JSONDict] = []
        self._next_update_id = 1
        self._allowed_updates: frozenset[str] | None = None
        self._poll_generation = 0
        self._drafts: list[Draft] = []
        self._chat_actions: list[ChatAction] = []
        self._uploads: list[Upload] = []
        self._calls: list[Call] = []
        self._commands: dict[tuple[str, str], list[JSONDict]] = {}
        self._open_callback_queries: set[str] = set()
        self._callback_answers: list[CallbackAnswer] = []
        self._file_ids: set[str] = set()
        self._file_counter = itertools.count(1)
        self._callback_counter = itertools.count(1)
        self._blocked: set[int] = set()
        self._faults: dict[str, list[_Fault]] = {}
        self._outage_until = 0.0
        self._outage_status = HTTPStatus.BAD_GATEWAY.value
        self._topics: dict[int, dict[int, ForumTopic]] = {}
        self._manages_topics: set[int] = set()

    # ------------------------------------------------------------------ lifecycle

    @property
    def url(self) -> str:
        """http://127.0.0.1:PORT — valid once started."""
        if self._port == 0:
            raise RuntimeError("FakeTelegram is not started")
        return f"http://{self._host}:{self._port}"

    @property
    def base_url(self) -> str:
        """What python-telegram-bot's `base_url` takes (it appends the token itself)."""
        return f"{self.url}/bot"

    async def start(self) -> None:
        """Serve on the running event loop."""
        if self._runner is not None:
            raise RuntimeError("FakeTelegram is already running")
        self._loop = asyncio.get_running_loop()
        self._loop_thread_id = threading.get_ident()
        self._updates_changed = asyncio.Event()
        self._closing = asyncio.Event()
        self._webhook_wake = asyncio.Event()
        self._webhook_task = asyncio.create_task(self._deliver_to_webhook())
        app = web.Application(client_max_size=MAX_UPLOAD_BYTES + 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        app.router.add_route("*", "/{tail:.*}", self._not_found)
        # Long polls are woken by _closing before cleanup, so a short grace period suffices.
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=2.0)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self._host, self._port))
        self._port = sock.getsockname()[1]
        await web.SockSite(self._runner, sock).start()

    async def stop(self) -> None:
        """Stop serving; pending long polls and delayed answers return at once."""
        if self._runner is None:
            return
        assert self._closing is not None and self._updates_changed is not None
        self._closing.set()
        self._updates_changed.set()
        if self._webhook_task is not None:
            self._webhook_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._webhook_task
        await self._runner.cleanup()
        self._runner = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    def start_in_thread(self, timeout: float = 10.0) -> Self:
        """Serve from a background thread with its own event loop (for sync tests and for a
        bot running as a subprocess)."""
        if self._thread is not None:
            raise RuntimeError("FakeTelegram is already running in a thread")
        started = threading.Event()
        failures: list[BaseException] = []

        def serve() -> None:
            loop = asyncio.new_event_loop()
            try:
                loop.run_until_complete(self.start())
            except BaseException as error:
                failures.append(error)
                started.set()
                loop.close()
                return
            started.set()
            try:
                loop.run_forever()
            finally:
                loop.run_until_complete(self.stop())
                loop.close()

        self._thread = threading.Thread(target=serve, name="fake-telegram", daemon=True)
        self._thread.start()
        if not started.wait(timeout):
            raise RuntimeError(f"FakeTelegram did not start within {timeout}s")
        if failures:
            self._thread = None
            raise failures[0]
        return self

    def stop_thread(self, timeout: float = 10.0) -> None:
        """Stop a server started by `start_in_thread` and wait for its thread."""
        thread, loop = self._thread, self._loop
        if thread is None or loop is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout)
        if thread.is_alive():
            raise RuntimeError(f"FakeTelegram's thread did not stop within {timeout}s")
        self._thread = None

    def __enter__(self) -> Self:
        return self.start_in_thread()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop_thread()

    # ------------------------------------------------------------------ HTTP

    async def _not_found(self, request: web.Request) -> web.Response:
        return web.json_response(_ApiError(404, "Not Found").payload(), status=404)

    async def _handle(self, request: web.Request) -> web.Response:
        arrived = time.time()
        method = request.match_info["method"]
        params: _Params | None = None
        try:
            params = await _Params.read(request)
            result = await self._dispatch(request.match_info["token"], method, params)
            status, payload = 200, {"ok": True, "result": result}
        except _ApiError as error:
            status, payload = error.status, error.payload()
        with self._lock:
            recorded = params.record() if params is not None else {}
            self._calls.append(Call(method, recorded, arrived, status))
        return web.json_response(payload, status=status)

    async def _dispatch(self, token: str, method: str, params: _Params) -> Any:
        if token != self.token:
            # Telegram: 401 for a well-formed but unknown token, 404 for a malformed one.
            if _TOKEN_SHAPE.fullmatch(token):
                raise _ApiError(401, "Unauthorized")
            raise _ApiError(404, "Not Found")
        key = method.lower()
        if key != "getupdates" and key not in _HANDLERS:
            raise _ApiError(404, "Not Found")
        fault = self._take_fault(key)
        if fault is not None:
            await self._delay(fault.delay)
        if key == "getupdates":
            return await self._get_updates(params)
        with self._lock:
            return _HANDLERS[key](self, params)

    def _take_fault(self, key: str) -> _Fault | None:
        """Raise the armed failure for this call, or return a delay-only ("timeout") fault."""
        with self._lock:
            if time.monotonic() < self._outage_until:
                raise _ApiError(self._outage_status, HTTPStatus(self._outage_status).phrase)
            queue = self._faults.get(key)
            if not queue:
                return None
            fault = queue.pop(0)
        if fault.status == "timeout":
            return fault
        retry_after = fault.retry_after if fault.status == HTTPStatus.TOO_MANY_REQUESTS else None
        description = fault.description or _default_description(fault.status, fault.retry_after)
        raise _ApiError(fault.status, description, retry_after=retry_after)

    async def _delay(self, seconds: float) -> None:
        assert self._closing is not None
        try:
            await asyncio.wait_for(self._closing.wait(), seconds)
        except TimeoutError:
            return
        raise _ApiError(502, "Bad Gateway")

    def _notify(self) -> None:
        """Wake long polls; safe from any thread."""
        loop, event, wake = self._loop, self._updates_changed, self._webhook_wake
        if loop is None or event is None or wake is None or loop.is_closed():
            return
        if threading.get_ident() == self._loop_thread_id:
            event.set()
            wake.set()
        else:
            loop.call_soon_threadsafe(event.set)
            loop.call_soon_threadsafe(wake.set)

    # ------------------------------------------------------------------ updates

    async def _get_updates(self, params: _Params) -> list[JSONDict]:
        assert self._updates_changed is not None and self._closing is not None
        offset = params.get("offset")
        limit = min(max(params.get("limit") or 100, 1), 100)
        timeout = max(params.get("timeout") or 0.0, 0.0)
        allowed = params.get("allowed_updates")
        with self._lock:
            if self._webhook is not None:
                raise _ApiError(
                    409,
                    "Conflict: can't use getUpdates method while webhook is active; "
                    "use deleteWebhook to delete the webhook first",
                )
            if allowed is not None:
                # An empty list restores the default; omitting it keeps the previous choice.
                self._allowed_updates = frozenset(allowed) or None
            if offset:
                self._pending = (
                    [u for u in self._pending if u["update_id"] >= offset]
                    if offset > 0
                    else self._pending[offset:]
                )
            # A newer getUpdates ends an older one with 409, as on the real server.
            self._poll_generation += 1
            generation = self._poll_generation
        self._notify()
        deadline = time.monotonic() + min(timeout, self.long_poll_cap)
        while True:
            self._updates_changed.clear()
            with self._lock:
                if self._poll_generation != generation:
                    raise _ApiError(
                        409,
                        "Conflict: terminated by other getUpdates request; "
                        "make sure that only one bot instance is running",
                    )
                batch = copy.deepcopy(self._pending[:limit])
            remaining = deadline - time.monotonic()
            if batch or remaining <= 0 or self._closing.is_set():
                return batch
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._updates_changed.wait(), remaining)

    async def _deliver_to_webhook(self) -> None:
        """While a webhook is set, post the oldest pending update to it until it answers 200,
        then the next: Telegram's order, one update in flight at a time."""
        assert self._webhook_wake is not None
        async with ClientSession(timeout=ClientTimeout(total=10)) as session:
            while True:
                await self._webhook_wake.wait()
                self._webhook_wake.clear()
                while True:
                    with self._lock:
                        webhook = self._webhook
                        update = copy.deepcopy(self._pending[0]) if self._pending else None
                    if webhook is None or update is None:
                        break
                    url, secret = webhook
                    headers = {"X-Telegram-Bot-Api-Secret-Token": secret} if secret else {}
                    try:
                        async with session.post(url, json=update, headers=headers) as answer:
                            status = answer.status
                    except (ClientError, TimeoutError):
                        status = 0
                    with self._lock:
                        self._webhook_statuses.append(status)
                        if status == HTTPStatus.OK:
                            self._pending = [
                                u for u in self._pending if u["update_id"] != update["update_id"]
                            ]
                    if status != HTTPStatus.OK:
                        # Telegram retries a failed delivery later; soon enough for tests.
                        await asyncio.sleep(0.2)

    def _enqueue(self, update: JSONDict) -> int:
        """Give the update an id and queue it, unless Telegram would never deliver it."""
        with self._lock:
            update_id = self._next_update_id
            self._next_update_id += 1
            update = {"update_id": update_id, **copy.deepcopy(update)}
            kinds = [key for key in update if key != "update_id"]
            if len(kinds) != 1:
                raise ValueError(f"an update carries exactly one object, got {kinds}")
            if self._wanted(kinds[0]) and self._visible_in_privacy_mode(update):
                self._pending.append(update)
        self._notify()
        return update_id

    def _wanted(self, kind: str) -> bool:
        if self._allowed_updates is None:
            return kind not in OPT_IN_UPDATE_TYPES
        return kind in self._allowed_updates

    def _visible_in_privacy_mode(self, update: JSONDict) -> bool:
        message = update.get("message") or update.get("edited_message")
        if not self.privacy_mode or message is None:
            return True
        if message["chat"]["type"] not in ("group", "supergroup"):
            return True
        replied = message.get("reply_to_message")
        if replied is not None and replied.get("from", {}).get("id") == self.bot_user["id"]:
            return True
        text = message.get("text") or message.get("caption") or ""
        handle = "@" + self.bot_user["username"].lower()
        for entity in message.get("entities") or message.get("caption_entities") or []:
            covered = utf16_slice(text, entity["offset"], entity["length"]).lower()
            if entity["type"] == "mention" and covered == handle:
                return True
            if entity["type"] == "bot_command" and entity["offset"] == 0:
                return "@" not in covered or covered.endswith(handle)
        return False

    # ------------------------------------------------------------------ shared rules

    def _chat(self, params: _Params, *, sending: bool = True) -> JSONDict:
        raw = params.get("chat_id")
        if raw is None or raw == "":
            raise _ApiError(400, "Bad Request: chat_id is empty")
        chat: JSONDict | None = None
        if isinstance(raw, int):
            chat = self._chats.get(raw)
        elif isinstance(raw, str) and raw.startswith("@"):
            username = raw[1:].lower()
            # "@username" addresses public groups and channels only, never private chats.
            chat = next(
                (
                    c
                    for c in self._chats.values()
                    if c["type"] != "private" and c.get("username", "").lower() == username
                ),
                None,
            )
        if chat is None:
            raise _ApiError(400, "Bad Request: chat not found")
        if sending and chat["id"] in self._blocked:
            raise _ApiError(403, "Forbidden: bot was blocked by the user")
        return chat

    def _formatted(
        self,
        params: _Params,
        field: str,
        entities_field: str,
        *,
        limit: int,
        too_long: str,
        empty: str | None,
    ) -> tuple[str, list[JSONDict], str, str | None]:
        """(text as shown, entities, text as sent, parse_mode) with Telegram's checks.

        `empty` is the error for an empty result, or None where empty text is allowed.
        """
        source = params.text(field) or ""
        parse_mode = params.text("parse_mode") or None
        explicit = params.get(entities_field)
        if explicit is not None:
            if not isinstance(explicit, list):
                raise _ApiError(400, f"Bad Request: can't parse {entities_field} JSON object")
            text, entities = source, [dict(entity) for entity in explicit]
        elif parse_mode is None:
            text, entities = source, []
        elif parse_mode.lower() == "html":
            try:
                text, entities = parse_html(source)
            except EntityParseError as error:
                raise _ApiError(400, f"Bad Request: can't parse entities: {error}") from None
        elif parse_mode.lower() in ("markdown", "markdownv2"):
            # DESIGN.md forbids raw Markdown in replies; refusing it here makes a test fail
            # loudly instead of the fake guessing at Markdown rendering.
            raise _ApiError(
                400,
                "Bad Request: can't parse entities: the fake Telegram server renders only "
                "parse_mode HTML",
            )
        else:
            raise _ApiError(400, "Bad Request: unsupported parse_mode")
        text, entities = trim(text, entities)
        if empty is not None and not text:
            raise _ApiError(400, empty)
        if utf16_len(text) > limit:
            raise _ApiError(400, too_long)
        return text, entities, source, parse_mode

    def _reply_markup(self, params: _Params) -> JSONDict | None:
        markup = params.get("reply_markup")
        if markup is None:
            return None
        if not isinstance(markup, dict):
            raise _ApiError(400, "Bad Request: can't parse reply keyboard markup JSON object")
        rows = markup.get("inline_keyboard")
        if rows is None:
            return markup
        if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
            raise _ApiError(400, "Bad Request: can't parse inline keyboard markup JSON object")
        for button in itertools.chain.from_iterable(rows):
            if not isinstance(button, dict) or not button.get("text"):
                raise _ApiError(
                    400, "Bad Request: can't parse inline keyboard button: Text is empty"
                )
            if not button.keys() & _INLINE_BUTTON_ACTIONS:
                raise _ApiError(
                    400,
                    "Bad Request: can't parse inline keyboard button: "
                    "Text buttons are unallowed in the inline keyboard",
                )
            data = button.get("callback_data")
            if data is not None and not 1 <= len(str(data).encode()) <= MAX_CALLBACK_DATA_BYTES:
                raise _ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
        return markup

    def _reply_target(self, params: _Params, chat_id: int) -> int | None:
        reply = params.get("reply_parameters")
        if isinstance(reply, dict):
            message_id = reply.get("message_id")
            tolerant = bool(reply.get("allow_sending_without_reply"))
        else:
            message_id = params.get("reply_to_message_id")
            tolerant = bool(params.get("allow_sending_without_reply"))
        if message_id is None:
            return None
        if self._message_json(chat_id, int(message_id), nested=True) is not None:
            return int(message_id)
        if tolerant:
            return None
        raise _ApiError(400, "Bad Request: message to be replied not found")

    def _topic_of(self, params: _Params, chat: JSONDict) -> int | None:
        """The topic a message goes to; Telegram refuses a topic that does not exist (or was
        deleted), and a topic id in a chat that is not a forum."""
        thread_id = params.get("message_thread_id")
        if thread_id is None or thread_id == "":
            return None
        topic = self._topics.get(chat["id"], {}).get(int(thread_id))
        if not chat.get("is_forum") or topic is None or topic.deleted:
            raise _ApiError(400, "Bad Request: message thread not found")
        return int(thread_id)

    def _topic_name(self, params: _Params) -> str:
        name = params.text("name") or ""
        if not name.strip():
            raise _ApiError(400, "Bad Request: TOPIC_TITLE_EMPTY")
        if utf16_len(name) > MAX_TOPIC_NAME_LENGTH:
            raise _ApiError(400, "Bad Request: TOPIC_TITLE_TOO_LONG")
        return name

    def _forum(self, params: _Params) -> JSONDict:
        chat = self._chat(params)
        if not chat.get("is_forum"):
            raise _ApiError(400, "Bad Request: the chat is not a forum")
        return chat

    def _allocate_message_id(self, chat_id: int) -> int:
        message_id = self._last_message_id.get(chat_id, 0) + 1
        self._last_message_id[chat_id] = message_id
        return message_id

    def _new_file_id(self, kind: str) -> str:
        file_id = f"fake-{kind}-{next(self._file_counter)}"
        self._file_ids.add(file_id)
        return file_id

    def _message_json(
        self, chat_id: int, message_id: int, *, nested: bool = False
    ) -> JSONDict | None:
        """A message of the chat (customer's or bot's) as the Bot API serialises it."""
        user_message = self._user_messages.get(chat_id, {}).get(message_id)
        if user_message is not None:
            message = copy.deepcopy(user_message)
            if nested:
                message.pop("reply_to_message", None)
            return message
        record = self._bot_messages.get(chat_id, {}).get(message_id)
        if record is None or record.deleted:
            return None
        return self._bot_message_json(record, nested=nested)

    def _bot_message_json(self, record: BotMessage, *, nested: bool = False) -> JSONDict:
        current = record.history[-1]
        message: JSONDict = {
            "message_id": record.message_id,
            "from": self.bot_user,
            "chat": self._chats[record.chat_id],
            "date": record.date,
        }
        if record.edits:
            message["edit_date"] = int(current.at)
        if record.kind == "text":
            message["text"] = current.text
            if current.entities:
                message["entities"] = current.entities
        else:
            if current.text:
                message["caption"] = current.text
            if current.entities:
                message["caption_entities"] = current.entities
        if current.reply_markup is not None and "inline_keyboard" in current.reply_markup:
            message["reply_markup"] = current.reply_markup
        if record.upload is not None:
            message[record.kind] = self._file_json(record.upload)
        if record.message_thread_id is not None:
            message["message_thread_id"] = record.message_thread_id
            message["is_topic_message"] = True
        if record.reply_to_message_id is not None and not nested:
            replied = self._message_json(record.chat_id, record.reply_to_message_id, nested=True)
            if replied is not None:
                message["reply_to_message"] = replied
        return copy.deepcopy(message)

    def _file_json(self, upload: Upload) -> Any:
        size = {} if upload.data is None else {"file_size": len(upload.data)}
        unique = {"file_id": upload.file_id, "file_unique_id": f"{upload.file_id}-u"}
        if upload.kind == "photo":
            width, height = _PHOTO_SIZE
            return [{**unique, "width": width, "height": height, **size}]
        document: JSONDict = {**unique, **size}
        if upload.filename:
            document["file_name"] = upload.filename
        if upload.content_type:
            document["mime_type"] = upload.content_type
        return document

    def _store_bot_message(
        self,
        chat_id: int,
        message_id: int,
        kind: MessageKind,
        revision: Revision,
        reply_to: int | None,
        upload: Upload | None = None,
        thread_id: int | None = None,
    ) -> JSONDict:
        record = BotMessage(
            chat_id=chat_id,
            message_id=message_id,
            kind=kind,
            history=[revision],
            reply_to_message_id=reply_to,
            date=int(revision.at),
            upload=upload,
            message_thread_id=thread_id,
        )
        self._bot_messages.setdefault(chat_id, {})[message_id] = record
        return self._bot_message_json(record)

    # ------------------------------------------------------------------ Bot API methods

    @_api("getMe")
    def _get_me(self, params: _Params) -> JSONDict:
        return dict(self.bot_user)

    @_api("sendMessage")
    def _send_message(self, params: _Params) -> JSONDict:
        chat = self._chat(params)
        text, entities, source, parse_mode = self._formatted(
            params,
            "text",
            "entities",
            limit=MAX_TEXT_LENGTH,
            too_long="Bad Request: message is too long",
            empty="Bad Request: message text is empty",
        )
        markup = self._reply_markup(params)
        reply_to = self._reply_target(params, chat["id"])
        thread_id = self._topic_of(params, chat)
        revision = Revision(text, entities, markup, source, parse_mode, time.time())
        message_id = self._allocate_message_id(chat["id"])
        return self._store_bot_message(
            chat["id"], message_id, "text", revision, reply_to, thread_id=thread_id
        )

    @_api("sendMessageDraft")
    def _send_message_draft(self, params: _Params) -> bool:
        chat = self._chat(params)
        if chat["type"] != "private":
            raise _ApiError(400, "Bad Request: TEXTDRAFT_PEER_INVALID")
        draft_id = params.get("draft_id")
        if not draft_id:
            # The Bot API requires a non-zero draft_id; Telegram's wording is undocumented.
            raise _ApiError(400, "Bad Request: draft_id must be non-zero")
        text, entities, source, parse_mode = self._formatted(
            params,
            "text",
            "entities",
            limit=MAX_TEXT_LENGTH,
            too_long="Bad Request: message is too long",
            empty=None,
        )
        self._drafts.append(
            Draft(
                chat_id=chat["id"],
                draft_id=draft_id,
                text=text,
                entities=entities,
                source=source,
                parse_mode=parse_mode,
                message_thread_id=params.get("message_thread_id"),
                at=time.time(),
            )
        )
        return True

    @_api("editMessageText")
    def _edit_message_text(self, params: _Params) -> JSONDict:
        if params.get("inline_message_id") is not None:
            raise _ApiError(400, "Bad Request: MESSAGE_ID_INVALID")
        chat = self._chat(params, sending=False)
        message_id = params.get("message_id")
        if message_id is None:
            raise _ApiError(400, "Bad Request: message identifier is not specified")
        record = self._bot_messages.get(chat["id"], {}).get(message_id)
        if record is None or record.deleted:
            if message_id in self._user_messages.get(chat["id"], {}):
                raise _ApiError(400, "Bad Request: message can't be edited")
            raise _ApiError(400, "Bad Request: message to edit not found")
        if record.kind != "text":
            raise _ApiError(400, "Bad Request: there is no text in the message to edit")
        text, entities, source, parse_mode = self._formatted(
            params,
            "text",
            "entities",
            limit=MAX_TEXT_LENGTH,
            too_long="Bad Request: MESSAGE_TOO_LONG",
            empty="Bad Request: message text is empty",
        )
        # An edit without reply_markup removes the inline keyboard, so None is a real value.
        markup = self._reply_markup(params)
        current = record.history[-1]
        if (text, entities, markup) == (current.text, current.entities, current.reply_markup):
            raise _ApiError(
                400,
                "Bad Request: message is not modified: specified new message content and reply "
                "markup are exactly the same as a specified new message content and reply markup "
                "of the original message",
            )
        record.history.append(Revision(text, entities, markup, source, parse_mode, time.time()))
        return self._bot_message_json(record)

    @_api("editMessageReplyMarkup")
    def _edit_message_reply_markup(self, params: _Params) -> JSONDict:
        chat = self._chat(params, sending=False)
        record = self._bot_messages.get(chat["id"], {}).get(params.get("message_id"))
        if record is None or record.deleted:
            raise _ApiError(400, "Bad Request: message to edit not found")
        markup = self._reply_markup(params)
        current = record.history[-1]
        if markup == current.reply_markup:
            raise _ApiError(
                400,
                "Bad Request: message is not modified: specified new message content and reply "
                "markup are exactly the same as a specified new message content and reply markup "
                "of the original message",
            )
        record.history.append(
            Revision(
                current.text,
                current.entities,
                markup,
                current.source,
                current.parse_mode,
                time.time(),
            )
        )
        return self._bot_message_json(record)

    @_api("deleteMessage")
    def _delete_message(self, params: _Params) -> bool:
        chat = self._chat(params, sending=False)
        message_id = params.get("message_id")
        record = self._bot_messages.get(chat["id"], {}).get(message_id)
        if record is not None and not record.deleted:
            record.deleted = True
            return True
        if self._user_messages.get(chat["id"], {}).pop(message_id, None) is not None:
            return True
        raise _ApiError(400, "Bad Request: message to delete not found")

    @_api("sendChatAction")
    def _send_chat_action(self, params: _Params) -> bool:
        chat = self._chat(params)
        action = params.text("action")
        if action not in CHAT_ACTIONS:
            raise _ApiError(400, "Bad Request: wrong parameter action in request")
        thread_id = self._topic_of(params, chat)
        self._chat_actions.append(ChatAction(chat["id"], action, thread_id, time.time()))
        return True

    @_api("sendPhoto")
    def _send_photo(self, params: _Params) -> JSONDict:
        return self._send_file(params, "photo")

    @_api("sendDocument")
    def _send_document(self, params: _Params) -> JSONDict:
        return self._send_file(params, "document")

    def _send_file(self, params: _Params, kind: Literal["photo", "document"]) -> JSONDict:
        chat = self._chat(params)
        sent = params.file(kind)
        if sent is None or sent == "":
            raise _ApiError(400, f"Bad Request: there is no {kind} in the request")
        if isinstance(sent, _FilePart) and not sent.data:
            raise _ApiError(400, "Bad Request: file must be non-empty")
        if isinstance(sent, str) and not (
            sent in self._file_ids or sent.startswith(("http://", "https://"))
        ):
            raise _ApiError(400, "Bad Request: wrong file identifier/HTTP URL specified")
        caption, entities, source, parse_mode = self._formatted(
            params,
            "caption",
            "caption_entities",
            limit=MAX_CAPTION_LENGTH,
            too_long="Bad Request: message caption is too long",
            empty=None,
        )
        markup = self._reply_markup(params)
        reply_to = self._reply_target(params, chat["id"])
        thread_id = self._topic_of(params, chat)
        now = time.time()
        message_id = self._allocate_message_id(chat["id"])
        file_part = sent if isinstance(sent, _FilePart) else None
        file_ref = sent if isinstance(sent, str) else None
        upload = Upload(
            chat_id=chat["id"],
            message_id=message_id,
            kind=kind,
            file_id=file_ref if file_ref in self._file_ids else self._new_file_id(kind),
            data=file_part.data if file_part else None,
            filename=file_part.filename if file_part else None,
            content_type=file_part.content_type if file_part else None,
            file_ref=file_ref,
            caption=caption,
            at=now,
        )
        self._uploads.append(upload)
        revision = Revision(caption, entities, markup, source, parse_mode, now)
        return self._store_bot_message(
            chat["id"], message_id, kind, revision, reply_to, upload, thread_id
        )

    @_api("createForumTopic")
    def _create_forum_topic(self, params: _Params) -> JSONDict:
        chat = self._forum(params)
        if chat["id"] not in self._manages_topics:
            raise _ApiError(400, "Bad Request: not enough rights to create a topic")
        name = self._topic_name(params)
        color = params.get("icon_color")
        if color is None:
            color = TOPIC_COLORS[0]
        elif color not in TOPIC_COLORS:
            raise _ApiError(400, "Bad Request: TOPIC_ICON_COLOR_INVALID")
        # A topic's id is the id of the service message that opens it, sent by its creator.
        thread_id = self._allocate_message_id(chat["id"])
        self._user_messages.setdefault(chat["id"], {})[thread_id] = {
            "message_id": thread_id,
            "from": copy.deepcopy(self.bot_user),
            "chat": copy.deepcopy(chat),
            "date": int(time.time()),
            "message_thread_id": thread_id,
            "forum_topic_created": {"name": name, "icon_color": color},
        }
        self._topics.setdefault(chat["id"], {})[thread_id] = ForumTopic(
            chat["id"], thread_id, [name], color
        )
        return {"message_thread_id": thread_id, "name": name, "icon_color": color}

    @_api("editForumTopic")
    def _edit_forum_topic(self, params: _Params) -> bool:
        chat = self._forum(params)
        thread_id = params.get("message_thread_id")
        topic = self._topics.get(chat["id"], {}).get(thread_id) if thread_id else None
        if topic is None or topic.deleted:
            raise _ApiError(400, "Bad Request: TOPIC_ID_INVALID")
        # The bot created every topic it knows here, and a topic's creator may edit it.
        if params.get("name") is None:
            return True
        name = self._topic_name(params)
        if name == topic.name:
            raise _ApiError(400, "Bad Request: TOPIC_NOT_MODIFIED")
        topic.names.append(name)
        return True

    @_api("deleteForumTopic")
    def _delete_forum_topic(self, params: _Params) -> bool:
        chat = self._forum(params)
        if chat["id"] not in self._manages_topics:
            raise _ApiError(400, "Bad Request: not enough rights to delete the topic")
        thread_id = params.get("message_thread_id")
        topic = self._topics.get(chat["id"], {}).get(thread_id) if thread_id else None
        if topic is None or topic.deleted:
            raise _ApiError(400, "Bad Request: TOPIC_ID_INVALID")
        self._delete_topic(chat["id"], topic)
        return True

    @_api("answerCallbackQuery")
    def _answer_callback_query(self, params: _Params) -> bool:
        query_id = params.text("callback_query_id")
        if query_id not in self._open_callback_queries:
            raise _ApiError(
                400,
                "Bad Request: query is too old and response timeout expired or query ID is invalid",
            )
        text = params.text("text")
        if text is not None and utf16_len(text) > MAX_CALLBACK_ANSWER_LENGTH:
            raise _ApiError(400, "Bad Request: MESSAGE_TOO_LONG")
        self._open_callback_queries.discard(query_id)
        self._callback_answers.append(
            CallbackAnswer(
                callback_query_id=query_id,
                text=text,
                show_alert=bool(params.get("show_alert")),
                url=params.text("url"),
                cache_time=params.get("cache_time"),
                at=time.time(),
            )
        )
        return True

    @_api("setMyCommands")
    def _set_my_commands(self, params: _Params) -> bool:
        commands = params.get("commands")
        if not isinstance(commands, list):
            raise _ApiError(400, "Bad Request: can't parse commands JSON object")
        if len(commands) > MAX_COMMANDS:
            raise _ApiError(400, "Bad Request: BOT_COMMANDS_TOO_MUCH")
        for command in commands:
            if not isinstance(command, dict) or not _COMMAND_NAME.fullmatch(
                str(command.get("command", ""))
            ):
                raise _ApiError(400, "Bad Request: BOT_COMMAND_INVALID")
            if not 1 <= len(str(command.get("description", "")).strip()) <= 256:
                raise _ApiError(400, "Bad Request: BOT_COMMAND_DESCRIPTION_INVALID")
        key = self._commands_key(params)
        if commands:
            self._commands[key] = [
                {"command": c["command"], "description": c["description"]} for c in commands
            ]
        else:
            self._commands.pop(key, None)
        return True

    @_api("getMyCommands")
    def _get_my_commands(self, params: _Params) -> list[JSONDict]:
        return copy.deepcopy(self._commands.get(self._commands_key(params), []))

    @_api("deleteMyCommands")
    def _delete_my_commands(self, params: _Params) -> bool:
        self._commands.pop(self._commands_key(params), None)
        return True

    def _commands_key(self, params: _Params) -> tuple[str, str]:
        """(scope, language_code), the scope written "default", "all_private_chats",
        "chat:<chat_id>", "chat_member:<chat_id>:<user_id>", ..."""
        scope = params.get("scope")
        if scope is None:
            scope_key = "default"
        elif isinstance(scope, dict) and isinstance(scope.get("type"), str):
            ids = [str(scope[name]) for name in ("chat_id", "user_id") if name in scope]
            scope_key = ":".join([scope["type"], *ids])
        else:
            raise _ApiError(400, "Bad Request: can't parse BotCommandScope JSON object")
        return scope_key, params.text("language_code") or ""

    @_api("setWebhook")
    def _set_webhook(self, params: _Params) -> bool:
        url = params.text("url") or ""
        # Telegram wants https on port 443, 80, 88 or 8443; the fake posts to any http(s) URL,
        # as tests serve the bot's webhook on loopback.
        if url and not re.fullmatch(r"https?://[^/\s]+(/\S*)?", url):
            raise _ApiError(400, "Bad Request: bad webhook: invalid URL")
        secret = params.text("secret_token")
        if secret is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", secret):
            raise _ApiError(400, "Bad Request: secret token contains unallowed characters")
        if params.get("drop_pending_updates"):
            self._pending.clear()
        allowed = params.get("allowed_updates")
        if allowed is not None:
            self._allowed_updates = frozenset(allowed) or None
        self._webhook = (url, secret) if url else None
        self._notify()
        return True

    @_api("deleteWebhook")
    def _delete_webhook(self, params: _Params) -> bool:
        if params.get("drop_pending_updates"):
            self._pending.clear()
        self._webhook = None
        return True

    @_api("getWebhookInfo")
    def _get_webhook_info(self, params: _Params) -> JSONDict:
        return {
            "url": self._webhook[0] if self._webhook else "",
            "has_custom_certificate": False,
            "pending_update_count": len(self._pending),
        }

    @_api("close")
    def _close(self, params: _Params) -> bool:
        return True

    @_api("logOut")
    def _log_out(self, params: _Params) -> bool:
        return True

    # ------------------------------------------------------------------ test controls: people

    def add_user(
        self,
        user_id: int,
        *,
        first_name: str | None = None,
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = None,
    ) -> JSONDict:
        """Create or update a customer and their private chat; arguments left None keep their
        previous value (defaults: first_name "User <id>", language_code "en", no last name or
        username)."""
        if user_id <= 0:
            raise ValueError(f"user ids are positive, got {user_id}")
        with self._lock:
            user = self._users.setdefault(
                user_id,
                {
                    "id": user_id,
                    "is_bot": False,
                    "first_name": f"User {user_id}",
                    "language_code": "en",
                },
            )
            changes = {
                "first_name": first_name,
                "last_name": last_name,
                "username": username,
                "language_code": language_code,
            }
            user.update({key: value for key, value in changes.items() if value is not None})
            # A known customer has started the bot, so their private chat exists.
            self._chats.setdefault(user_id, {}).update(self._private_chat(user))
            return copy.deepcopy(user)

    def add_chat(
        self,
        chat_id: int,
        chat_type: ChatType,
        *,
        title: str | None = None,
        username: str | None = None,
    ) -> JSONDict:
        """Create a group, supergroup or channel (negative ids, as on Telegram); private chats
        come into being with their user."""
        if chat_type == "private":
            raise ValueError(
                "a private chat is created by add_user/send_text; its id is the user's"
            )
        if chat_id >= 0:
            raise ValueError(f"{chat_type} ids are negative, got {chat_id}")
        with self._lock:
            existing = self._chats.get(chat_id)
            if existing is not None and existing["type"] != chat_type:
                raise ValueError(f"chat {chat_id} is a {existing['type']}, not a {chat_type}")
            chat = self._chats.setdefault(
                chat_id, {"id": chat_id, "type": chat_type, "title": f"Chat {chat_id}"}
            )
            if title is not None:
                chat["title"] = title
            if username is not None:
                chat["username"] = username
            return copy.deepcopy(chat)

    @staticmethod
    def _private_chat(user: JSONDict) -> JSONDict:
        chat = {"id": user["id"], "type": "private", "first_name": user["first_name"]}
        for key in ("last_name", "username"):
            if key in user:
                chat[key] = user[key]
        return chat

    def make_forum(self, chat_id: int, *, bot_manages_topics: bool = True) -> JSONDict:
        """Turn a supergroup into a forum (topics on); `bot_manages_topics` makes the bot an
        administrator with the "Manage Topics" right."""
        with self._lock:
            chat = self._chats.get(chat_id)
            if chat is None or chat["type"] != "supergroup":
                raise ValueError(f"only a supergroup can be a forum; {chat_id} is not one")
            chat["is_forum"] = True
            if bot_manages_topics:
                self._manages_topics.add(chat_id)
            else:
                self._manages_topics.discard(chat_id)
            return copy.deepcopy(chat)

    def delete_topic(self, chat_id: int, message_thread_id: int) -> None:
        """Someone deletes the topic by hand, with everything in it."""
        with self._lock:
            topic = self._topics.get(chat_id, {}).get(message_thread_id)
            if topic is None:
                raise ValueError(f"chat {chat_id} has no topic {message_thread_id}")
            self._delete_topic(chat_id, topic)

    def _delete_topic(self, chat_id: int, topic: ForumTopic) -> None:
        topic.deleted = True
        for record in self._bot_messages.get(chat_id, {}).values():
            if record.message_thread_id == topic.message_thread_id:
                record.deleted = True

    def topics(self, chat_id: int, *, include_deleted: bool = False) -> list[ForumTopic]:
        """The chat's forum topics, oldest first."""
        with self._lock:
            found = sorted(
                self._topics.get(chat_id, {}).values(), key=lambda t: t.message_thread_id
            )
            return copy.deepcopy([t for t in found if include_deleted or not t.deleted])

    def _ensure_chat(
        self, chat_id: int, user_id: int | None, chat_type: ChatType | None
    ) -> JSONDict:
        existing = self._chats.get(chat_id)
        if chat_type is None:
            if existing is not None:
                chat_type = existing["type"]
            else:
                chat_type = "private" if chat_id > 0 else "supergroup"
        if chat_type == "private":
            if user_id is None or chat_id != user_id:
                raise ValueError(f"a private chat's id is its user's id ({user_id}), got {chat_id}")
            return self._chats[chat_id]
        self.add_chat(chat_id, chat_type)
        return self._chats[chat_id]

    def block_bot(self, user_id: int) -> None:
        """The customer blocks the bot: sends to their chat answer 403 Forbidden."""
        with self._lock:
            self._blocked.add(user_id)

    def unblock_bot(self, user_id: int) -> None:
        with self._lock:
            self._blocked.discard(user_id)

    # ------------------------------------------------------------------ test controls: updates

    def mention_bot(self, text: str) -> tuple[str, list[JSONDict]]:
        """("@moodbot_test_bot <text>", [its mention entity]) for addressing the bot in groups."""
        handle = "@" + self.bot_user["username"]
        full = f"{handle} {text}" if text else handle
        return full, [{"type": "mention", "offset": 0, "length": utf16_len(handle)}]

    def send_message(
        self,
        chat_id: int,
        user_id: int,
        content: Mapping[str, Any],
        *,
        chat_type: ChatType | None = None,
        reply_to_message_id: int | None = None,
        message_thread_id: int | None = None,
    ) -> int:
        """A customer sends a message with arbitrary content fields (text, sticker, ...).

        Returns its message_id. The chat is created on first use: positive ids are private
        chats (id == user_id), negative ones supergroups unless `chat_type` or `add_chat` says
        otherwise. In a forum topic (`message_thread_id`) a message that replies to nothing
        replies, as on Telegram, to the service message that opened the topic.
        """
        with self._lock:
            if user_id not in self._users:
                self.add_user(user_id)
            chat = self._ensure_chat(chat_id, user_id, chat_type)
            message: JSONDict = {
                "message_id": self._allocate_message_id(chat_id),
                "from": copy.deepcopy(self._users[user_id]),
                "chat": copy.deepcopy(chat),
                "date": int(time.time()),
                **copy.deepcopy(dict(content)),
            }
            if message_thread_id is not None:
                topic = self._topics.get(chat_id, {}).get(message_thread_id)
                if topic is None or topic.deleted:
                    raise ValueError(f"chat {chat_id} has no topic {message_thread_id}")
                message["message_thread_id"] = message_thread_id
                message["is_topic_message"] = True
                reply_to_message_id = reply_to_message_id or message_thread_id
            if reply_to_message_id is not None:
                replied = self._message_json(chat_id, reply_to_message_id, nested=True)
                if replied is None:
                    raise ValueError(f"chat {chat_id} has no message {reply_to_message_id}")
                message["reply_to_message"] = replied
            self._user_messages.setdefault(chat_id, {})[message["message_id"]] = message
            self._enqueue({"message": message})
            return int(message["message_id"])

    def send_text(
        self,
        chat_id: int,
        user_id: int,
        text: str,
        *,
        chat_type: ChatType | None = None,
        first_name: str | None = None,
        username: str | None = None,
        language_code: str | None = None,
        reply_to_message_id: int | None = None,
        entities: list[JSONDict] | None = None,
        message_thread_id: int | None = None,
    ) -> int:
        """A customer types `text`. Without `entities`, Telegram's automatic mention and
        bot_command entities are attached (so "/start" reaches a CommandHandler)."""
        with self._lock:
            self.add_user(
                user_id, first_name=first_name, username=username, language_code=language_code
            )
            found = detect_entities(text) if entities is None else entities
            content: JSONDict = {"text": text}
            if found:
                content["entities"] = found
            return self.send_message(
                chat_id,
                user_id,
                content,
                chat_type=chat_type,
                reply_to_message_id=reply_to_message_id,
                message_thread_id=message_thread_id,
            )

    def send_photo(self, chat_id: int, user_id: int, *, caption: str | None = None) -> int:
        with self._lock:
            file_id = self._new_file_id("photo")
            width, height = _PHOTO_SIZE
            content: JSONDict = {
                "photo": [
                    {
                        "file_id": file_id,
                        "file_unique_id": f"{file_id}-u",
                        "width": width,
                        "height": height,
                        "file_size": 48_000,
                    }
                ]
            }
            if caption:
                content["caption"] = caption
            return self.send_message(chat_id, user_id, content)

    def send_sticker(self, chat_id: int, user_id: int, *, emoji: str = "🙂") -> int:
        with self._lock:
            file_id = self._new_file_id("sticker")
            sticker = {
                "file_id": file_id,
                "file_unique_id": f"{file_id}-u",
                "type": "regular",
                "width": 512,
                "height": 512,
                "is_animated": False,
                "is_video": False,
                "emoji": emoji,
            }
            return self.send_message(chat_id, user_id, {"sticker": sticker})

    def send_voice(self, chat_id: int, user_id: int, *, duration: int = 3) -> int:
        with self._lock:
            file_id = self._new_file_id("voice")
            voice = {
                "file_id": file_id,
                "file_unique_id": f"{file_id}-u",
                "duration": duration,
                "mime_type": "audio/ogg",
            }
            return self.send_message(chat_id, user_id, {"voice": voice})

    def send_location(self, chat_id: int, user_id: int, latitude: float, longitude: float) -> int:
        location = {"latitude": latitude, "longitude": longitude}
        return self.send_message(chat_id, user_id, {"location": location})

    def send_edit(self, chat_id: int, message_id: int, text: str) -> int:
        """The customer edits an earlier text message: queues an edited_message update and
        returns its update_id."""
        with self._lock:
            message = self._user_messages.get(chat_id, {}).get(message_id)
            if message is None or "text" not in message:
                raise ValueError(f"chat {chat_id} has no customer text message {message_id}")
            message["text"] = text
            message["edit_date"] = int(time.time())
            found = detect_entities(text)
            message.pop("entities", None)
            if found:
                message["entities"] = found
            return self._enqueue({"edited_message": message})

    def channel_post(self, chat_id: int, text: str) -> int:
        """A post in a channel (created on first use); returns its message_id."""
        with self._lock:
            chat = self.add_chat(chat_id, "channel")
            message: JSONDict = {
                "message_id": self._allocate_message_id(chat_id),
                "sender_chat": chat,
                "chat": chat,
                "date": int(time.time()),
                "text": text,
            }
            self._user_messages.setdefault(chat_id, {})[message["message_id"]] = message
            self._enqueue({"channel_post": message})
            return int(message["message_id"])

    def press_button(
        self, chat_id: int, user_id: int, message_id: int, data: str, *, forged: bool = False
    ) -> str:
        """The customer presses the inline button carrying `data` under a bot message; returns
        the callback query id the bot must answer. `forged`: a modified client sends `data`
        that no button of the message carries (Telegram passes it on all the same)."""
        with self._lock:
            record = self._bot_messages.get(chat_id, {}).get(message_id)
            if record is None or record.deleted:
                raise ValueError(f"chat {chat_id} has no bot message {message_id}")
            rows = (record.reply_markup or {}).get("inline_keyboard", [])
            carried = any(button.get("callback_data") == data for row in rows for button in row)
            if not forged and not carried:
                raise ValueError(f"message {message_id} has no inline button with data {data!r}")
            if user_id not in self._users:
                self.add_user(user_id)
            query_id = f"{user_id}-{next(self._callback_counter)}"
            self._open_callback_queries.add(query_id)
            query = {
                "id": query_id,
                "from": copy.deepcopy(self._users[user_id]),
                "message": self._bot_message_json(record),
                "chat_instance": str(chat_id),
                "data": data,
            }
            self._enqueue({"callback_query": query})
            return query_id

    def inject_update(self, update: Mapping[str, Any]) -> int:
        """Queue an arbitrary update (one key besides update_id, which the server assigns);
        returns the update_id. Message ids inside are taken as given."""
        if "update_id" in update:
            raise ValueError("the server assigns update_id")
        return self._enqueue(dict(update))

    # ------------------------------------------------------------------ test controls: faults

    def fail_next(
        self,
        method: str,
        times: int = 1,
        *,
        status: int | Literal["timeout"] = 429,
        retry_after: int = 1,
        description: str | None = None,
        delay: float = 10.0,
    ) -> None:
        """Make the next `times` calls of `method` fail.

        An int `status` answers with that HTTP error at once and does nothing else (429 carries
        parameters.retry_after; 403 reads "Forbidden: bot was blocked by the user"; 5xx their
        HTTP phrase; `description` overrides). "timeout" holds the answer for `delay` seconds,
        longer than the client waits, and then executes the call anyway: the bot sees TimedOut
        although Telegram did act.
        """
        if times < 1:
            raise ValueError("times must be at least 1")
        fault = _Fault(status, retry_after, description, delay)
        with self._lock:
            self._faults.setdefault(method.lower(), []).extend([fault] * times)

    def outage(self, seconds: float, *, status: int = 502) -> None:
        """Every method answers `status` (Bad Gateway) for the next `seconds`; 0 ends it."""
        with self._lock:
            self._outage_until = time.monotonic() + seconds
            self._outage_status = status

    # ------------------------------------------------------------------ inspection

    def messages(
        self, chat_id: int, *, include_deleted: bool = False, thread: int | None = None
    ) -> list[BotMessage]:
        """The bot's messages in the chat (text, photo, document), oldest first; only those in
        forum topic `thread` when given."""
        with self._lock:
            records = sorted(
                self._bot_messages.get(chat_id, {}).values(), key=lambda r: r.message_id
            )
            return copy.deepcopy(
                [
                    r
                    for r in records
                    if (include_deleted or not r.deleted)
                    and (thread is None or r.message_thread_id == thread)
                ]
            )

    def message(self, chat_id: int, message_id: int) -> BotMessage:
        with self._lock:
            record = self._bot_messages.get(chat_id, {}).get(message_id)
            if record is None:
                raise KeyError(f"chat {chat_id} has no bot message {message_id}")
            return copy.deepcopy(record)

    def drafts(self, chat_id: int) -> list[Draft]:
        with self._lock:
            return copy.deepcopy([d for d in self._drafts if d.chat_id == chat_id])

    def chat_actions(self, chat_id: int) -> list[ChatAction]:
        with self._lock:
            return copy.deepcopy([a for a in self._chat_actions if a.chat_id == chat_id])

    @property
    def calls(self) -> list[Call]:
        """Every request received, in arrival order, including failed ones."""
        with self._lock:
            return copy.deepcopy(self._calls)

    def calls_to(self, method: str) -> list[Call]:
        return [call for call in self.calls if call.method.lower() == method.lower()]

    @property
    def commands(self) -> dict[tuple[str, str], list[JSONDict]]:
        """Bot commands keyed by (scope, language_code); see `_commands_key` for scope names."""
        with self._lock:
            return copy.deepcopy(self._commands)

    @property
    def photos(self) -> list[Upload]:
        with self._lock:
            return copy.deepcopy([u for u in self._uploads if u.kind == "photo"])

    @property
    def documents(self) -> list[Upload]:
        with self._lock:
            return copy.deepcopy([u for u in self._uploads if u.kind == "document"])

    @property
    def callback_answers(self) -> list[CallbackAnswer]:
        with self._lock:
            return copy.deepcopy(self._callback_answers)

    @property
    def webhook_url(self) -> str | None:
        """The URL setWebhook set, or None while the bot polls."""
        with self._lock:
            return self._webhook[0] if self._webhook else None

    @property
    def webhook_statuses(self) -> list[int]:
        """The HTTP status of every post to the webhook so far (0: no answer)."""
        with self._lock:
            return list(self._webhook_statuses)

    def pending_updates(self) -> list[JSONDict]:
        """Updates not yet confirmed by a getUpdates offset."""
        with self._lock:
            return copy.deepcopy(self._pending)

    def dump(self) -> str:
        """A readable account of chats, messages, drafts, pending updates and recent calls."""
        with self._lock:
            lines = [f"FakeTelegram on {self._host}:{self._port}"]
            for chat_id, chat in sorted(self._chats.items()):
                lines.append(f"chat {chat_id} ({chat['type']}):")
                entries: list[tuple[int, str]] = [
                    (mid, f"customer {m.get('from', {}).get('id', '-')}: {_brief(m)}")
                    for mid, m in self._user_messages.get(chat_id, {}).items()
                ]
                for mid, record in self._bot_messages.get(chat_id, {}).items():
                    notes = [f"{len(record.edits)} edits"] if record.edits else []
                    notes += ["deleted"] if record.deleted else []
                    suffix = f" [{', '.join(notes)}]" if notes else ""
                    entries.append((mid, f"bot {record.kind}: {record.text!r}{suffix}"))
                lines += [f"  #{mid} {entry}" for mid, entry in sorted(entries)]
                drafts = [d for d in self._drafts if d.chat_id == chat_id]
                if drafts:
                    lines.append(f"  {len(drafts)} drafts, last: {drafts[-1].text!r}")
            lines.append(f"pending update ids: {[u['update_id'] for u in self._pending]}")
            lines.append("last calls:")
            lines += [
                f"  {c.status} {c.method} {json.dumps(c.params, ensure_ascii=False)[:200]}"
                for c in self._calls[-20:]
            ]
            return "\n".join(lines)

    # ------------------------------------------------------------------ waiting

    async def wait_for(
        self, predicate: Callable[[], T], timeout: float = 5.0, *, description: str = ""
    ) -> T:
        """Poll `predicate` until it returns something truthy, and return that; on timeout
        raise AssertionError with `dump()`."""
        deadline = time.monotonic() + timeout
        while True:
            result = predicate()
            if result:
                return result
            if time.monotonic() >= deadline:
                raise AssertionError(self._timeout_report(predicate, timeout, description))
            await asyncio.sleep(0.01)

    def wait_for_sync(
        self, predicate: Callable[[], T], timeout: float = 5.0, *, description: str = ""
    ) -> T:
        """`wait_for` for threads other than the server's (blocking it would deadlock)."""
        if threading.get_ident() == self._loop_thread_id:
            raise RuntimeError("wait_for_sync would block the server's loop; await wait_for")
        deadline = time.monotonic() + timeout
        while True:
            result = predicate()
            if result:
                return result
            if time.monotonic() >= deadline:
                raise AssertionError(self._timeout_report(predicate, timeout, description))
            time.sleep(0.01)

    async def wait_for_messages(
        self, chat_id: int, count: int, timeout: float = 5.0
    ) -> list[BotMessage]:
        """Wait until the bot has `count` (undeleted) messages in the chat; return them all."""
        return await self.wait_for(
            lambda: self._at_least(chat_id, count),
            timeout,
            description=f"{count} bot messages in chat {chat_id}",
        )

    def wait_for_messages_sync(
        self, chat_id: int, count: int, timeout: float = 5.0
    ) -> list[BotMessage]:
        return self.wait_for_sync(
            lambda: self._at_least(chat_id, count),
            timeout,
            description=f"{count} bot messages in chat {chat_id}",
        )

    def _at_least(self, chat_id: int, count: int) -> list[BotMessage]:
        found = self.messages(chat_id)
        return found if len(found) >= count else []

    def _timeout_report(self, predicate: Callable[[], object], timeout: float, what: str) -> str:
        subject = what or getattr(predicate, "__qualname__", repr(predicate))
        return f"timed out after {timeout}s waiting for {subject}\n{self.dump()}"


def _brief(message: JSONDict) -> str:
    if "text" in message:
        return repr(message["text"])
    kinds = [key for key in ("photo", "sticker", "voice", "location", "document") if key in message]
    return f"<{kinds[0] if kinds else 'message'}>"
