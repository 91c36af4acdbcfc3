"""A multi-process test rig: redis-server, N uvicorn processes, and Debian's nginx in front.

Everything listens on free 127.0.0.1 ports, lives in one temporary folder and
stops by itself (context manager or fixture), also when the test fails::

    from tests.cluster import make_cluster  # noqa: F401  (the fixture)

    def test_x(make_cluster):
        c = make_cluster("tests.cluster_app:app", n=3, env={"GREETING": "hi"})
        httpx.get(c.url + "/pid")      # through nginx, round-robin over the 3 processes
        c.kill9(1)                     # SIGKILL process 1; nginx routes around it
        c.restart(1)                   # a fresh process on the same port
        c.redis.restart()              # same port; empty unless persistent_redis=True

Or without pytest: ``with Cluster("app:app", n=2) as c: ...``.

Start clusters from the main thread: Linux ties the parent-death signal to the thread that
started the child. Each uvicorn process gets ``STUBE_REDIS_URL`` (the rig's Redis), ``STUBE_CLUSTER_NODE``
(its index) and the given ``env``. Child processes get SIGKILL if the test process
dies (Linux's parent-death signal), so a killed pytest leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.redis_server import free_port
from tests.servers import ROOT, Server

START_TIMEOUT = 20.0
STOP_TIMEOUT = 5.0


try:  # looked up here, not in the forked child, where loading a library could deadlock
    _prctl: Any = ctypes.CDLL(None, use_errno=True).prctl
except (OSError, AttributeError):  # not Linux: children are still stopped by stop() and the fixtures
    _prctl = None


def _die_with_parent() -> None:
    """``preexec_fn``: the child gets SIGKILL when the thread that started it exits (Linux)."""
    if _prctl is not None:
        _prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _end(proc: subprocess.Popen[bytes] | None, sig: int = signal.SIGTERM) -> None:
    """Stop ``proc`` with ``sig``, then SIGKILL after :data:`STOP_TIMEOUT`; always reaps it."""
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(sig)
    try:
        proc.wait(STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _wait_port(port: int, proc: subprocess.Popen[bytes], what: str, probe: bytes | None = None,
               expect: bytes = b"") -> None:
    """Until ``port`` accepts (and answers ``probe`` with ``expect``), or raise naming ``what``."""
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode} while starting")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
                if probe is None:
                    return
                s.sendall(probe)
                if s.recv(64).startswith(expect):
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not start on port {port} within {START_TIMEOUT:g} s")
        time.sleep(0.05)


class RedisProcess:
    """A private ``redis-server`` that can be killed, paused and restarted on the same port.

    ``persistent=True`` turns on the append-only file with ``appendfsync always``,
    so a restart keeps what was acknowledged; ``restart(empty=True)`` deletes the
    data first (Redis "came back empty").
    """

    def __init__(self, folder: Path, *, persistent: bool = False, port: int | None = None) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed: run the tests through ./run test")
        self.binary = binary
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self.persistent = persistent
        self.port = port or free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> RedisProcess:
        durability = ["--appendonly", "yes", "--appendfsync", "always"] if self.persistent else ["--appendonly", "no"]
        self.proc = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", *durability,
             "--dir", str(self.folder), "--protected-mode", "yes"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=_die_with_parent,
        )
        _wait_port(self.port, self.proc, "redis-server", b"PING\r\n", b"+PONG")
        return self

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill9(self) -> None:
        """SIGKILL: Redis vanishes without a final write."""
        _end(self.proc, signal.SIGKILL)

    def pause(self) -> None:
        """SIGSTOP: connections stay open but nothing answers (a hung server)."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)  # a paused server cannot act on SIGTERM
        _end(self.proc)

    def restart(self, *, empty: bool = False) -> RedisProcess:
        """Stop (SIGKILL if ``empty``, SIGTERM otherwise) and start again on the same port."""
        if empty:
            self.kill9()
            for path in self.folder.iterdir():
                if path.is_dir():
                    shutil.rmtree(path)
                else:
                    path.unlink()
        else:
            self.stop()
        return self.start()


class AppServer(Server):
    """``tests.servers.Server`` split into launch and wait, so N processes start side by side."""

    def launch(self) -> AppServer:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", self.app, "--host", "127.0.0.1", "--port", str(self.port),
             "--log-level", "warning", "--timeout-graceful-shutdown", "2"],
            cwd=ROOT, env=self.env, preexec_fn=_die_with_parent,
        )
        return self

    def wait_ready(self) -> AppServer:
        assert self.proc is not None
        try:
            _wait_port(self.port, self.proc, f"uvicorn {self.app}")
        except RuntimeError:
            self.stop()
            raise
        return self

    def start(self) -> AppServer:
        return self.launch().wait_ready()

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


def nginx_config(folder: Path, port: int, upstreams: list[int], *, as_root: bool) -> str:
    """The rig's nginx.conf: round-robin over ``upstreams``, unbuffered for SSE (see docs/deploy.md)."""
    servers = "".join(f"        server 127.0.0.1:{p};\n" for p in upstreams)
    temp = "".join(f"    {kind}_temp_path {folder}/{kind}_temp;\n"
                   for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    return (
        "daemon off;\n"
        + ("user root;\n" if as_root else "")  # else nginx warns that the directive needs root
        + "worker_processes 1;\n"
        f"pid {folder}/nginx.pid;\n"
        f"error_log {folder}/error.log warn;\n"
        "events { worker_connections 1024; }\n"
        "http {\n"
        f"    access_log {folder}/access.log;\n"
        f"{temp}"
        "    upstream stube {\n"
        f"{servers}"
        "        keepalive 16;\n"
        "    }\n"
        "    server {\n"
        f"        listen 127.0.0.1:{port};\n"
        "        client_max_body_size 20m;\n"
        "        location / {\n"
        "            proxy_pass http://stube;\n"
        "            proxy_http_version 1.1;\n"
        '            proxy_set_header Connection "";\n'
        "            proxy_set_header Host $http_host;\n"
        "            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n"
        "            proxy_set_header X-Forwarded-Proto $scheme;\n"
        "            proxy_buffering off;\n"
        "            proxy_cache off;\n"
        "            proxy_read_timeout 3600s;\n"
        "            proxy_send_timeout 3600s;\n"
        "        }\n"
        "    }\n"
        "}\n"
    )


class Nginx:
    """Debian's nginx as a child process (``daemon off``), all its files in ``folder``."""

    def __init__(self, folder: Path, upstreams: list[int], *, port: int | None = None) -> None:
        binary = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)
        if binary is None:
            raise RuntimeError("nginx is not installed: run the tests through ./run test (apt nginx)")
        self.binary = binary
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.conf = folder / "nginx.conf"
        self.conf.write_text(nginx_config(folder, self.port, upstreams, as_root=os.geteuid() == 0))
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Nginx:
        # -e: the error log before the config is read (else it tries /var/log/nginx/error.log).
        self.proc = subprocess.Popen(
            [self.binary, "-p", str(self.folder), "-c", str(self.conf), "-e", str(self.folder / "error.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=_die_with_parent,
        )
        try:
            _wait_port(self.port, self.proc, "nginx")
        except RuntimeError as exc:
            raise RuntimeError(f"{exc}; error.log:\n{self.error_log()}") from None
        return self

    def error_log(self) -> str:
        path = self.folder / "error.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        _end(self.proc)  # SIGTERM is nginx's fast shutdown: open SSE streams do not hold it up


class Cluster:
    """A redis-server, ``n`` uvicorn processes of ``app`` and nginx in front; see the module docstring."""

    def __init__(self, app: str, n: int = 3, *, env: dict[str, str] | None = None, redis: bool = True,
                 persistent_redis: bool = False, folder: Path | None = None) -> None:
        self.app = app
        self.n = n
        self.extra_env = dict(env or {})
        self._tmp = None if folder is not None else tempfile.TemporaryDirectory(prefix="stube-cluster-")
        self.folder = folder if folder is not None else Path(self._tmp.name)  # type: ignore[union-attr]
        self.redis = RedisProcess(self.folder / "redis", persistent=persistent_redis) if redis else None
        self.servers: list[AppServer] = [AppServer(app, env=self._env(i)) for i in range(n)]
        self.nginx = Nginx(self.folder / "nginx", [s.port for s in self.servers])
        self.url = self.nginx.url

    def _env(self, i: int) -> dict[str, str]:
        env = {"STUBE_CLUSTER_NODE": str(i), **self.extra_env}
        if self.redis is not None:
            env["STUBE_REDIS_URL"] = self.redis.url
        return env

    @property
    def urls(self) -> list[str]:
        """Each process's own address, bypassing nginx."""
        return [s.url for s in self.servers]

    @property
    def pids(self) -> list[int]:
        return [s.pid for s in self.servers]

    def start(self) -> Cluster:
        try:
            if self.redis is not None:
                self.redis.start()
            for s in self.servers:
                s.launch()
            for s in self.servers:
                s.wait_ready()
            self.nginx.start()
        except BaseException:
            self.stop()
            raise
        return self

    def kill9(self, i: int) -> None:
        """SIGKILL process ``i``: no shutdown hook, no final save (a crash)."""
        self.servers[i].kill()

    def stop_server(self, i: int) -> None:
        """SIGTERM process ``i`` (a graceful shutdown, bounded)."""
        self.servers[i].stop()

    def restart(self, i: int) -> AppServer:
        """Stop process ``i`` if it runs and start a fresh one on the same port."""
        old = self.servers[i]
        old.stop()
        new = AppServer(self.app, env=self._env(i), port=old.port)
        self.servers[i] = new
        return new.start()

    def stop(self) -> None:
        """Stop everything (nginx first, so no request reaches a stopping process); idempotent."""
        with contextlib.suppress(Exception):
            self.nginx.stop()
        for s in self.servers:  # SIGTERM to all first: they shut down side by side
            if s.running:
                with contextlib.suppress(Exception):
                    s.proc.terminate()  # type: ignore[union-attr]
        for s in self.servers:
            with contextlib.suppress(Exception):
                s.stop()
        if self.redis is not None:
            with contextlib.suppress(Exception):
                self.redis.stop()
        if self._tmp is not None:
            with contextlib.suppress(Exception):
                self._tmp.cleanup()

    def __enter__(self) -> Cluster:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


@pytest.fixture
def make_cluster(tmp_path: Path) -> Iterator[Callable[..., Cluster]]:
    """``make_cluster(app, n=3, *, env=None, redis=True, persistent_redis=False) -> Cluster``, started;
    every cluster made stops when the test ends, passed or failed."""
    made: list[Cluster] = []

    def make(app: str, n: int = 3, **options: Any) -> Cluster:
        cluster = Cluster(app, n, folder=tmp_path / f"cluster{len(made)}", **options)
        made.append(cluster)
        return cluster.start()

    try:
        yield make
    finally:
        for cluster in made:
            cluster.stop()


@pytest.fixture
def redis_process(tmp_path: Path) -> Iterator[RedisProcess]:
    """A started :class:`RedisProcess` of this test alone (restartable on its port); stops afterwards."""
    server = RedisProcess(tmp_path / "redis").start()
    try:
        yield server
    finally:
        server.stop()
