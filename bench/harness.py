"""What the benchmarks share: core pinning, measured Locust runs, wrk, medians and a quiet-machine check."""

from __future__ import annotations

import json
import os
import re
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from loadgen.runner.processes import child_env

REPO_ROOT = Path(__file__).resolve().parent.parent
TARGET_CORE, GENERATOR_CORE = 0, 1  # the target (simulator, nginx) and the load generator each get a core
OPEN_FILES = 200_000  # enough descriptors for tens of thousands of connections


class BenchError(RuntimeError):
    """A benchmark could not be measured; the message is one line."""


def pinned(core: int) -> list[str]:
    """The command prefix that runs a program on `core` (nothing on a one-core machine or without taskset)."""
    if (os.cpu_count() or 1) > 1 and shutil.which("taskset"):
        return ["taskset", "-c", str(core)]
    return []


def pin(pid: int, core: int) -> None:
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(pid, {core})


def raise_open_files() -> None:
    """In a child before exec: allow OPEN_FILES descriptors (as far as this user may)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = max(soft, OPEN_FILES)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, max(hard, wanted)))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


@dataclass(frozen=True)
class Window:
    """What the meter (bench/meter.py) saw between its two snapshots of a Locust run."""

    start: dict[str, float]
    end: dict[str, float]
    settled_s: float = 0.0  # how long the meter waited, after the spawning, for its settle condition

    def delta(self, key: str) -> float:
        return self.end[key] - self.start[key]

    @property
    def wall_s(self) -> float:
        return self.delta("wall_s")

    @property
    def cpu_s(self) -> float:
        return self.delta("cpu_s")

    def rate(self, key: str = "count") -> float:
        """Per wall-clock second."""
        return self.delta(key) / self.wall_s

    def per_cpu_s(self, key: str = "count") -> float:
        """Per CPU-second of the generator process."""
        return self.delta(key) / max(self.cpu_s, 1e-9)

    def target_cpu_share(self) -> float:
        """The target's CPU use over the window, as a share of one core."""
        return self.delta("target_cpu_s") / self.wall_s


def run_locust(
    locustfile: str,
    user_class: str,
    host: str,
    users: int,
    spawn_rate: int,
    warmup_s: float,
    window_s: float,
    extra_args: Sequence[str] = (),
    target_pid: int | None = None,
    ramp_allowance_s: float = 30.0,
    env: Mapping[str, str] | None = None,
) -> Window:
    """One Locust process on the generator core, measured by bench/meter.py once every user is spawned;
    `env` adds to its environment (e.g. the meter's settle condition)."""
    meter_file = Path("/tmp") / f"bench-meter-{uuid.uuid4().hex}.json"
    extra = {"BENCH_METER_FILE": str(meter_file), "BENCH_WARMUP_S": str(warmup_s), "BENCH_WINDOW_S": str(window_s),
             **(env or {})}
    if target_pid is not None:
        extra["BENCH_TARGET_PID"] = str(target_pid)
    limit_s = int(users / spawn_rate + warmup_s + window_s + ramp_allowance_s)
    cmd = [
        *pinned(GENERATOR_CORE), sys.executable, "-m", "locust", "-f", str(REPO_ROOT / locustfile), user_class,
        "--headless", "-u", str(users), "-r", str(spawn_rate), "-t", f"{limit_s}s", "--host", host,
        "--only-summary", "--exit-code-on-error", "0", "--stop-timeout", "5", *extra_args,
    ]
    try:
        run = subprocess.run(cmd, capture_output=True, text=True, timeout=limit_s + 60, cwd=REPO_ROOT,
                             env=child_env(extra), preexec_fn=raise_open_files)
        if not meter_file.exists():
            lines = [ln for ln in (run.stderr or run.stdout).splitlines() if ln.strip()]
            raise BenchError(f"{user_class}: no measurement ({lines[-1] if lines else f'exit {run.returncode}'})")
        report = json.loads(meter_file.read_text())
    finally:
        meter_file.unlink(missing_ok=True)
    return Window(report["start"], report["end"], report.get("settled_s", 0.0))


@dataclass(frozen=True)
class WrkResult:
    requests: int
    wall_s: float
    cpu_s: float  # wrk's own user + system time (its rusage, exact)

    @property
    def rate(self) -> float:
        return self.requests / self.wall_s

    @property
    def per_cpu_s(self) -> float:
        return self.requests / max(self.cpu_s, 1e-9)


def run_wrk(url: str, seconds: float, connections: int) -> WrkResult | None:
    """wrk with one thread on the generator core; None when wrk is not installed."""
    wrk = shutil.which("wrk")
    if wrk is None:
        return None
    cmd = [*pinned(GENERATOR_CORE), wrk, "-t1", f"-c{connections}", f"-d{seconds:g}s", url]
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)  # taskset execs wrk: the same process
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall_s = time.perf_counter() - started
    match = re.search(r"(\d+) requests in ([\d.]+)(m?s)", out)
    if proc.returncode != 0 or match is None:
        raise BenchError(f"wrk failed (exit {proc.returncode}): {out.strip().splitlines()[-1:] or 'no output'}")
    run_s = float(match.group(2)) / (1000 if match.group(3) == "ms" else 1)
    return WrkResult(int(match.group(1)), min(run_s, wall_s), usage.ru_utime + usage.ru_stime)


def load_average() -> float:
    return os.getloadavg()[0]


def wait_for_quiet(threshold: float, limit_s: float, poll_s: float = 15.0) -> float:
    """Wait (at most `limit_s`) until the 1-minute load average is below `threshold`; return the last reading."""
    deadline = time.monotonic() + limit_s
    load = load_average()
    while load >= threshold and time.monotonic() < deadline:
        time.sleep(min(poll_s, max(0.0, deadline - time.monotonic())))
        load = load_average()
    return load
