"""The sd_notify protocol: readiness, status, stopping and watchdog pings for Type=notify.

Outside systemd (no NOTIFY_SOCKET) every call is a no-op, so the bot runs the same anywhere.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Callable, Mapping

log = logging.getLogger(__name__)


class SystemdNotifier:
    def __init__(self, env: Mapping[str, str] = os.environ) -> None:
        address = env.get("NOTIFY_SOCKET", "")
        # A leading "@" names a socket in the abstract namespace.
        self._address = "\0" + address[1:] if address.startswith("@") else address
        self._watchdog_usec = _watchdog_usec(env)

    @property
    def enabled(self) -> bool:
        return bool(self._address)

    def notify(self, *assignments: str) -> bool:
        if not self._address:
            return False
        payload = "\n".join(assignments).encode()
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
                sock.sendto(payload, self._address)
        except OSError as exc:
            log.warning("could not notify systemd (%s)", exc)
            return False
        return True

    def ready(self, status: str) -> bool:
        return self.notify("READY=1", f"STATUS={status}")

    def status(self, status: str) -> bool:
        return self.notify(f"STATUS={status}")

    def stopping(self) -> bool:
        return self.notify("STOPPING=1", "STATUS=stopping")

    @property
    def watchdog_interval(self) -> float | None:
        """Seconds between pings (half of WatchdogSec=), or None when no watchdog is set."""
        return self._watchdog_usec / 2_000_000 if self._watchdog_usec else None

    async def keep_watchdog_fed(self, healthy: Callable[[], bool]) -> None:
        """Ping while `healthy()` holds; once it fails systemd restarts the service. The ping
        also proves the event loop itself is responsive."""
        interval = self.watchdog_interval
        if interval is None:
            return
        while True:
            if healthy():
                self.notify("WATCHDOG=1")
            else:
                log.error("health check failed; withholding the watchdog ping")
            await asyncio.sleep(interval)


def _watchdog_usec(env: Mapping[str, str]) -> int:
    pid = env.get("WATCHDOG_PID")
    if pid and pid != str(os.getpid()):
        return 0  # the watchdog is meant for another process
    try:
        return max(0, int(env.get("WATCHDOG_USEC", "0")))
    except ValueError:
        return 0
