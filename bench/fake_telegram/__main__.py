"""Serve a fake Telegram standalone and chat with the bot from the terminal.

    python -m bench.fake_telegram [--port N] [--token T] [--user ID]

The first stdout line is JSON: {"url", "base_url", "token"}; point the bot's Telegram base URL
at base_url. Each stdin line then arrives at the bot as a private message from customer --user,
and the bot's answers, edits, drafts and chat actions are printed as they come.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading

from .records import Call
from .server import DEFAULT_TOKEN, FakeTelegram

_SHOWN = {
    "sendmessage": "bot",
    "editmessagetext": "edit",
    "sendmessagedraft": "draft",
    "sendphoto": "photo",
    "senddocument": "document",
}


def _describe(call: Call) -> str | None:
    method = call.method.lower()
    if call.status != 200:
        return f"[{call.method} answered {call.status}]"
    if method == "sendchataction":
        return f"[{call.params.get('action')}]"
    if method in _SHOWN:
        text = call.params.get("text", call.params.get("caption", ""))
        return f"{_SHOWN[method]}> {text}"
    return None


def _relay_stdin(fake: FakeTelegram, user_id: int) -> None:
    for line in sys.stdin:
        text = line.rstrip("\n")
        if text:
            fake.send_text(user_id, user_id, text)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.fake_telegram", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--token", default=DEFAULT_TOKEN)
    parser.add_argument("--user", type=int, default=1001, help="the customer stdin speaks as")
    parser.add_argument("--long-poll-cap", type=float, default=10.0)
    args = parser.parse_args(argv)

    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    fake = FakeTelegram(
        token=args.token, host=args.host, port=args.port, long_poll_cap=args.long_poll_cap
    )
    with fake:
        fake.add_user(args.user)
        banner = {"url": fake.url, "base_url": fake.base_url, "token": fake.token}
        print(json.dumps(banner), flush=True)
        threading.Thread(target=_relay_stdin, args=(fake, args.user), daemon=True).start()
        shown = 0
        while not stop.wait(0.1):
            calls = fake.calls
            for call in calls[shown:]:
                line = _describe(call)
                if line is not None:
                    print(line, flush=True)
            shown = len(calls)


if __name__ == "__main__":
    main()
