"""A uvicorn subprocess for the shutdown and fault tests: its log kept, its exit timed, no graceful timeout.

Unlike :class:`tests.servers.Server` it passes no ``--timeout-graceful-shutdown``
(uvicorn then waits for open responses for ever), so a SIGTERM can only end the
process if the application ends its streams itself; ``stop()`` is bounded and
SIGKILLs after ``limit`` seconds, reporting that it had to.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tests.servers import ROOT, free_port

HX = {"HX-Request": "true"}


class Uvicorn:
    def __init__(self, app: str, log: Path, *, env: dict[str, str] | None = None, port: int | None = None,
                 factory: bool = True, args: tuple[str, ...] = ()) -> None:
        self.app, self.log, self.factory, self.args = app, log, factory, args
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, "PYTHONPATH": str(ROOT), "STUBE_SECRET": "faults-tests", **(env or {})}
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Uvicorn:
        cmd = [sys.executable, "-m", "uvicorn", self.app, "--host", "127.0.0.1", "--port", str(self.port),
               "--log-level", "info", *(["--factory"] if self.factory else []), *self.args]
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(cmd, cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"uvicorn {self.app} exited with {self.proc.returncode}:\n{self.text()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"uvicorn {self.app} did not start:\n{self.text()}")

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def stop(self, sig: int = signal.SIGTERM, limit: float = 20.0) -> tuple[float, bool]:
        """Send ``sig``; (seconds until the process was gone, whether it exited by itself)."""
        assert self.proc is not None
        start = time.monotonic()
        self.proc.send_signal(sig)
        try:
            self.proc.wait(limit)
            return time.monotonic() - start, True
        except subprocess.TimeoutExpired:
            self.kill()
            return time.monotonic() - start, False

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def __enter__(self) -> Uvicorn:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.kill()


def page_parts(html: str) -> dict[str, str]:
    """The conversation id, the first event URL and the SSE URL of a rendered stube page."""
    def find(pattern: str) -> str:
        found = re.search(pattern, html)
        assert found, f"{pattern} not in the page"
        return found.group(1).replace("&amp;", "&")
    return {"cid": find(r'data-stube-cid="([^"]+)"'), "post": find(r'hx-post="([^"]+)"'),
            "sse": find(r'hx-sse:connect="([^"]+)"')}


class RawStream:
    """One SSE request on a plain socket: what a browser's stream sees, byte for byte."""

    def __init__(self, port: int, path: str, cookie: str, last_event_id: str | None = None) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        headers = [f"GET {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Accept: text/event-stream",
                   f"Cookie: {cookie}"]
        if last_event_id:
            headers.append(f"Last-Event-ID: {last_event_id}")
        self.sock.sendall(("\r\n".join(headers) + "\r\n\r\n").encode())
        self.data = b""

    def read_until(self, needle: bytes, timeout: float = 10.0) -> bytes:
        """Read until ``needle`` has arrived (or the stream ended / ``timeout``: then it raises)."""
        deadline = time.monotonic() + timeout
        while needle not in self.data:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"{needle!r} did not arrive; got {self.data[-400:]!r}")
            self.sock.settimeout(left)
            chunk = self.sock.recv(65536)
            if not chunk:
                raise AssertionError(f"the stream ended before {needle!r}; got {self.data[-400:]!r}")
            self.data += chunk
        return self.data

    def read_to_end(self, timeout: float = 10.0) -> bytes:
        """Everything until the server closes the connection."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"the stream did not end; got {self.data[-400:]!r}")
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except ConnectionResetError:
                return self.data + b"<reset>"
            if not chunk:
                return self.data
            self.data += chunk

    def close(self) -> None:
        self.sock.close()


def cookie_header(client: Any) -> str:
    return "; ".join(f"{name}={value}" for name, value in client.cookies.items())
