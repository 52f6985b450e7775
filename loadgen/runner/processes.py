"""Child processes the runner starts and always stops: the simulator and Locust.

Each runs in a session of its own, so that signals reach the runner alone (which stops them in
order, see loadgen/runner/stopping.py), and gets SIGTERM when the runner dies, even by SIGKILL (Linux).
"""

from __future__ import annotations

import ctypes
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import IO

from loadgen.runner.sim_history import SimulatorHistory

READY_PREFIX = "simulator ready on "
PR_SET_PDEATHSIG = 1  # prctl(2)
POLL_TIMEOUT_S = 5.0  # one poll of the simulator's per-second load; the run's end waits for at most one
# Loaded here, not in the forked child before exec, where loading a library could deadlock.
_LIBC = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None


class ProcessError(RuntimeError):
    """A child process failed to start or stopped unexpectedly; the message is one line."""


class SimulatorProcess:
    """`python -m simulator` on a free loopback port, logging to a file; a context manager.

    With `history_path`, the simulator's own load per second is saved there while it runs (see
    loadgen/runner/sim_history.py); `final_stats()` completes it."""

    def __init__(self, log_path: Path, config: Path | None = None, ready_timeout_s: float = 20.0,
                 history_path: Path | None = None) -> None:
        self.log_path = log_path
        self.config = config
        self.ready_timeout_s = ready_timeout_s
        self.history_path = history_path
        self.history: SimulatorHistory | None = None
        self.proc: subprocess.Popen[str] | None = None
        self.base_url = ""

    def __enter__(self) -> SimulatorProcess:
        cmd = [sys.executable, "-m", "simulator", "--host", "127.0.0.1", "--port", "0"]
        if self.config is not None:
            cmd += ["--config", str(self.config)]
        log = self.log_path.open("w", encoding="utf-8")
        self.proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1, start_new_session=True,
            preexec_fn=_terminate_with_parent,
        )
        lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=_pump, args=(self.proc.stdout, log, lines), daemon=True).start()
        try:
            while True:
                line = lines.get(timeout=self.ready_timeout_s)
                if line is None:
                    raise ProcessError(f"simulator exited before it was ready: {self._last_log_line()}")
                if line.startswith(READY_PREFIX):
                    self.base_url = line[len(READY_PREFIX) :].split()[0]
                    if self.history_path is not None:
                        self.history = SimulatorHistory(lambda since: self.stats(since, POLL_TIMEOUT_S),
                                                        self.history_path)
                        self.history.start()
                    return self
        except queue.Empty:
            self.stop()
            raise ProcessError(f"simulator was not ready within {self.ready_timeout_s:.0f} s") from None
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def stats(self, since: float | None = None, timeout_s: float = 10.0) -> dict:
        """`/__sim/stats`; with `since` (epoch seconds), every per-second row that started after then."""
        query = "" if since is None else f"?since={since}"
        with urllib.request.urlopen(f"{self.base_url}/__sim/stats{query}", timeout=timeout_s) as resp:
            return json.load(resp)

    def final_stats(self) -> dict:
        """The stats at the end of a run; with a history, its last rows are written from the same answer."""
        return self.stats() if self.history is None else self.history.finish()

    def stop(self) -> None:
        if self.history is not None:
            self.history.close()
        if self.proc is not None:
            stop_process(self.proc)

    def _last_log_line(self) -> str:
        try:
            lines = [ln for ln in self.log_path.read_text(encoding="utf-8").splitlines() if ln.strip()]
        except OSError:
            return "no output"
        return lines[-1] if lines else "no output"


def _terminate_with_parent() -> None:
    """In the child, before exec: on Linux, get SIGTERM when the runner dies, even by SIGKILL.

    The children run in sessions of their own, out of reach of a terminal's Ctrl-C; without this, a
    killed runner would leave them running. Locust answers that SIGTERM by writing its results."""
    if _LIBC is not None:
        _LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _pump(stream: IO[str] | None, log: IO[str], lines: queue.Queue[str | None]) -> None:
    """Copy a child's output to its log file and hand each line to the waiting runner."""
    if stream is not None:
        for line in stream:
            log.write(line)
            log.flush()
            lines.put(line.rstrip("\n"))
    log.close()
    lines.put(None)


def run_teed(cmd: Sequence[str], log_path: Path, env: dict[str, str], cwd: Path, grace_s: float = 30.0) -> int:
    """Run Locust (its master, in a distributed run), its output shown and also written to `log_path`.

    When the runner is interrupted (any exception, SIGINT and SIGTERM included), Locust is sent
    SIGINT, as a terminal's Ctrl-C would: it stops its users, collects its workers' last reports,
    writes its results and exits. It gets `grace_s` to do so before it is killed.
    """
    with log_path.open("w", encoding="utf-8") as log:
        proc = subprocess.Popen(
            list(cmd), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            bufsize=1, env=env, cwd=cwd, start_new_session=True, preexec_fn=_terminate_with_parent,
        )
        try:
            _copy_output(proc, log)
            return proc.wait()
        except BaseException:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
            killer = threading.Timer(grace_s, proc.kill)
            killer.start()
            try:
                _copy_output(proc, log)
                proc.wait()
            finally:
                killer.cancel()
            raise


def _copy_output(proc: subprocess.Popen[str], log: IO[str]) -> None:
    assert proc.stdout is not None
    for line in proc.stdout:
        sys.stdout.write(line)
        sys.stdout.flush()
        log.write(line)


def stop_process(proc: subprocess.Popen, first_signal: int = signal.SIGTERM, grace_s: float = 10.0) -> None:
    """Ask a child to stop, then kill it if it does not within `grace_s`."""
    if proc.poll() is not None:
        return
    try:
        proc.send_signal(first_signal)
        proc.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    except ProcessLookupError:
        pass


class LocustWorkers:
    """`count` Locust worker processes for a master; each logs to `worker-<n>.log`; a context manager.

    Workers quit by themselves when their master tells them to, after sending it their last report;
    any still running on exit are stopped.
    """

    def __init__(self, cmd: Sequence[str], count: int, log_dir: Path, env: dict[str, str], cwd: Path) -> None:
        self.cmd = list(cmd)
        self.count = count
        self.log_dir = log_dir
        self.env = env
        self.cwd = cwd
        self.procs: list[subprocess.Popen] = []

    def __enter__(self) -> LocustWorkers:
        try:
            for n in range(1, self.count + 1):
                with (self.log_dir / f"worker-{n}.log").open("w", encoding="utf-8") as log:
                    self.procs.append(subprocess.Popen(
                        self.cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=self.env,
                        cwd=self.cwd, start_new_session=True, preexec_fn=_terminate_with_parent,
                    ))
        except BaseException:
            self.stop(grace_s=0)
            raise
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc_info: object) -> None:
        # Interrupted, the master has ended already: a worker it told to quit is gone within a second,
        # one it never told (the master was stopped while waiting for workers) would wait for good.
        self.stop(grace_s=15.0 if exc_type is None else 5.0)

    def stop(self, grace_s: float = 15.0) -> None:
        deadline = time.monotonic() + grace_s
        for proc in self.procs:
            try:
                proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                stop_process(proc)


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.update(extra or {})
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env
