"""Fault injection for the reliability tests (issue 14): a private Redis the test can stop,
freeze (SIGSTOP) and restart, and the production processes — gunicorn, a Celery worker with
beat — started on it and on the test database, as subprocesses the test controls."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests
from django.db import connection

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate, timeout: float, what: str, every: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"{what}: not within {timeout} s")


class PrivateRedis:
    """redis-server on a free loopback port, no persistence; stop/start keep the port."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.proc: subprocess.Popen | None = None
        self.frozen = False

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until(self._answers, 10, "redis-server started")

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        if self.proc is not None:
            if self.frozen:
                self.thaw()
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None

    def freeze(self) -> None:
        self.proc.send_signal(signal.SIGSTOP)
        self.frozen = True

    def thaw(self) -> None:
        self.proc.send_signal(signal.SIGCONT)
        self.frozen = False


def service_env(redis: PrivateRedis, var_dir: Path, **extra: str) -> dict[str, str]:
    db = connection.settings_dict
    env = dict(os.environ)
    env.update(
        DATABASE_URL=f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        REDIS_URL=redis.url,
        DJANGO_SETTINGS_MODULE="mtxmonitor.settings",
        DJANGO_SECRET_KEY=env.get("DJANGO_SECRET_KEY") or "test",
        MTXMONITOR_VAR_DIR=str(var_dir),
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


class Stack:
    """gunicorn and a Celery worker (with embedded beat) on the private Redis."""

    def __init__(self, redis: PrivateRedis, tmp: Path, **env: str) -> None:
        self.redis = redis
        self.tmp = tmp
        self.web_port = free_port()
        self.env = service_env(redis, tmp / "var", **env)
        self.procs: dict[str, subprocess.Popen] = {}

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    def _spawn(self, name: str, cmd: list[str]) -> None:
        log = open(self.tmp / f"{name}.log", "wb")  # noqa: SIM115 (closed with the process)
        self.procs[name] = subprocess.Popen(
            cmd, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT
        )

    def start_web(self) -> None:
        self._spawn(
            "web",
            [
                str(BIN / "gunicorn"),
                "mtxmonitor.wsgi:application",
                "--bind",
                f"127.0.0.1:{self.web_port}",
                "--workers",
                "2",
                "--timeout",
                "60",
            ],
        )

        def up() -> bool:
            try:
                return requests.get(self.url + "/api/v1/", timeout=1).status_code < 500
            except requests.RequestException:
                return False

        wait_until(up, 60, "gunicorn answering")

    def start_worker(self, beat: bool = True) -> None:
        cmd = [
            str(BIN / "celery"),
            "-A",
            "mtxmonitor",
            "worker",
            "--pool",
            "solo",
            "--loglevel",
            "INFO",
            "--without-gossip",
            "--without-mingle",
        ]
        if beat:
            cmd += ["--beat", "--schedule", str(self.tmp / "beat-schedule")]
        self._spawn("worker", cmd)

    def stop_worker(self) -> None:
        self._stop("worker")

    def _stop(self, name: str) -> None:
        proc = self.procs.pop(name, None)
        if proc is None:
            return
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def log(self, name: str) -> str:
        return (self.tmp / f"{name}.log").read_text(errors="replace")

    def stop(self) -> None:
        for name in list(self.procs):
            self._stop(name)
