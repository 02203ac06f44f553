"""Run deploy/nginx/mtxmonitor.conf with this machine's nginx, in front of a local gunicorn.

The same server block docker-compose's "proxy" service mounts, with its upstream (``web:8000``)
and its listen address rewritten to loopback ports; everything nginx writes (pid, logs, request
bodies it buffers) goes to a directory of its own. Used by ``bench/bench_api_load.py --proxy``
and by tests/test_proxy.py; by hand (Debian: ``apt-get install -y nginx``):

    python deploy/nginx/run_local.py --listen 8000 --upstream 127.0.0.1:8001 --dir /tmp/mtx-nginx
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

SERVER_BLOCK = Path(__file__).with_name("mtxmonitor.conf")
UPSTREAM_IN_COMPOSE = "server web:8000 "
LISTEN_IN_COMPOSE = "listen 8000;"


def nginx_binary() -> str | None:
    return shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if Path(p).exists()), None
    )


def write_config(workdir: Path, listen_port: int, upstream: str, workers: int = 1) -> Path:
    """Write nginx.conf (and the rewritten server block) into ``workdir``; return its path."""
    workdir.mkdir(parents=True, exist_ok=True)
    block = SERVER_BLOCK.read_text()
    for old in (UPSTREAM_IN_COMPOSE, LISTEN_IN_COMPOSE):
        if block.count(old) != 1:
            raise RuntimeError(f"{SERVER_BLOCK}: expected {old!r} exactly once")
    block = block.replace(UPSTREAM_IN_COMPOSE, f"server {upstream} ").replace(
        LISTEN_IN_COMPOSE, f"listen 127.0.0.1:{listen_port};"
    )
    (workdir / "mtxmonitor.conf").write_text(block)
    temp = {name: workdir / name for name in ("body", "proxy", "fastcgi", "uwsgi", "scgi")}
    for path in temp.values():
        path.mkdir(exist_ok=True)
    # Started as root, nginx's workers would run as "nobody", who cannot reach a private
    # temporary directory (pytest's, mkdtemp's): keep them as the user that started it.
    user = "user root;\n" if os.geteuid() == 0 else ""
    conf = workdir / "nginx.conf"
    conf.write_text(
        f"""# Written by deploy/nginx/run_local.py
{user}worker_processes {workers};
pid {workdir / "nginx.pid"};
error_log {workdir / "error.log"} warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {temp["body"]};
    proxy_temp_path {temp["proxy"]};
    fastcgi_temp_path {temp["fastcgi"]};
    uwsgi_temp_path {temp["uwsgi"]};
    scgi_temp_path {temp["scgi"]};
    include {workdir / "mtxmonitor.conf"};
}}
"""
    )
    return conf


def start(workdir: Path, listen_port: int, upstream: str, workers: int = 1) -> subprocess.Popen:
    """Start nginx in the foreground (a child process); return once it accepts connections."""
    binary = nginx_binary()
    if binary is None:
        raise FileNotFoundError("nginx is not installed (Debian: apt-get install -y nginx)")
    conf = write_config(workdir, listen_port, upstream, workers)
    check = subprocess.run(
        [binary, "-t", "-q", "-p", str(workdir), "-c", str(conf)], capture_output=True, text=True
    )
    if check.returncode:
        raise RuntimeError(f"nginx -t refused {conf}: {check.stderr.strip()}")
    proc = subprocess.Popen(
        [binary, "-p", str(workdir), "-c", str(conf), "-g", "daemon off;"],
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"nginx exited: {proc.stderr.read().strip()}")
        try:
            socket.create_connection(("127.0.0.1", listen_port), timeout=0.2).close()
            return proc
        except OSError:
            time.sleep(0.05)
    proc.terminate()
    raise RuntimeError(f"nginx did not listen on 127.0.0.1:{listen_port}")


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()  # SIGTERM: nginx's fast shutdown
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--listen", type=int, default=8000, help="port on 127.0.0.1")
    ap.add_argument("--upstream", default="127.0.0.1:8001", help="gunicorn's host:port")
    ap.add_argument("--dir", type=Path, default=Path("var/nginx"), help="pid, logs, buffers")
    ap.add_argument("--workers", type=int, default=1)
    args = ap.parse_args()
    proc = start(args.dir.resolve(), args.listen, args.upstream, args.workers)
    print(f"nginx on http://127.0.0.1:{args.listen}/ -> {args.upstream} (Ctrl-C stops it)")
    try:
        proc.wait()
    except KeyboardInterrupt:
        stop(proc)


if __name__ == "__main__":
    main()
