"""A target faster than any generator here: nginx (one worker, pinned) answering Binance's ticker/price.

The answer is a fixed ticker JSON with Binance's used-weight header, so the suite's user classifies
it and tracks the used weight as it does against the exchange. The configuration, pid and logs live
in a temporary directory; nginx is stopped on exit.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import psutil

from bench.harness import TARGET_CORE, BenchError, free_port, pinned, raise_open_files
from loadgen.runner.processes import stop_process

TICKER_PATH = "/binance/api/v3/ticker/price"
TICKER_BODY = '{"symbol":"BTCUSDT","price":"67000.01000000"}'
CONFIG = """
worker_processes 1;
worker_rlimit_nofile 65536;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
daemon off;
events {{ worker_connections 16384; }}
http {{
  access_log off;
  client_body_temp_path {dir}/body;
  proxy_temp_path {dir}/proxy;
  fastcgi_temp_path {dir}/fastcgi;
  uwsgi_temp_path {dir}/uwsgi;
  scgi_temp_path {dir}/scgi;
  keepalive_requests 1000000;
  keepalive_timeout 120s;
  server {{
    listen 127.0.0.1:{port};
    location = {path} {{
      default_type application/json;
      add_header X-MBX-USED-WEIGHT-1M 2;
      return 200 '{body}';
    }}
  }}
}}
"""


class NginxTicker:
    """nginx on a free loopback port, pinned to the target core; a context manager."""

    def __init__(self) -> None:
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.worker: psutil.Process | None = None
        self._dir: tempfile.TemporaryDirectory[str] | None = None

    @staticmethod
    def available() -> bool:
        return shutil.which("nginx") is not None

    @property
    def host(self) -> str:
        """The base URL the Binance users take as --host."""
        return f"http://127.0.0.1:{self.port}/binance"

    @property
    def ticker_url(self) -> str:
        return f"http://127.0.0.1:{self.port}{TICKER_PATH}?symbol=BTCUSDT"

    def __enter__(self) -> NginxTicker:
        nginx = shutil.which("nginx")
        if nginx is None:
            raise BenchError("nginx is not installed (apt-get install nginx-light)")
        self._dir = tempfile.TemporaryDirectory(prefix="bench-nginx-")
        self.port = free_port()
        config = Path(self._dir.name) / "nginx.conf"
        config.write_text(CONFIG.format(dir=self._dir.name, port=self.port, path=TICKER_PATH, body=TICKER_BODY))
        self.proc = subprocess.Popen([*pinned(TARGET_CORE), nginx, "-c", str(config)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, preexec_fn=raise_open_files)
        try:
            self._wait_ready()
            workers = psutil.Process(self.proc.pid).children()
            if not workers:
                raise BenchError("nginx started no worker process")
            self.worker = workers[0]
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.proc is not None:
            stop_process(self.proc, grace_s=5)
            self.proc = None
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None

    def _wait_ready(self, limit_s: float = 10.0) -> None:
        deadline = time.monotonic() + limit_s
        while True:
            try:
                with urllib.request.urlopen(self.ticker_url, timeout=1) as answer:
                    if answer.read().decode() == TICKER_BODY:
                        return
            except OSError:
                pass
            if self.proc is not None and self.proc.poll() is not None:
                raise BenchError(f"nginx exited at start (exit {self.proc.returncode})")
            if time.monotonic() > deadline:
                raise BenchError("nginx did not answer within 10 s")
            time.sleep(0.1)
