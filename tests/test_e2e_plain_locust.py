"""End to end: the README's "Plain Locust" commands, as a user types them, against `make sim`'s simulator.

The commands are read from README.md (and docs/ci.md) and run unchanged except for the simulator's
port (a free one instead of 8000), the web UI's port, the headless commands' run time (5 s instead of
10 s; 10 s instead of 60 s for the CI example) and the CI example's CSV directory. No exchange keys are
set: the users must find the simulator and sign with its demo account.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from exchanges import NAMES, get_adapter
from tests.support.docs import section, shell_commands
from tests.support.e2e import http_server

REPO_ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.e2e
DOC_PORT = "8000"
DETECTED = "is the built-in simulator: signed requests use its demo account"
KEY_VARS = {var for name in NAMES for var in get_adapter(name).user_key_vars}


README = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
PLAIN = section(README, "## Plain Locust")
LOCUST_COMMANDS = [argv for argv in shell_commands(PLAIN) if argv[0] == ".venv/bin/locust"]
CI_COMMANDS = [argv for argv in shell_commands((REPO_ROOT / "docs" / "ci.md").read_text(encoding="utf-8"))
               if argv[0] == ".venv/bin/locust"]


def test_the_section_shows_make_sim_and_each_exchange_headless_and_with_the_web_ui():
    assert ["make", "sim"] in shell_commands(PLAIN)
    for locustfile in [*(f"locustfiles/{n}.py" for n in NAMES), "locustfiles/all.py"]:
        modes = [("--headless" in argv) for argv in LOCUST_COMMANDS if argv[argv.index("-f") + 1] == locustfile]
        assert sorted(modes) == [False, True], locustfile


@contextmanager
def make_sim() -> Iterator[str]:
    """The Makefile's `sim` recipe as make runs it, on a free port instead of 8000; its base URL."""
    recipe = re.search(r"^sim:.*\n\t(.+)$", (REPO_ROOT / "Makefile").read_text(encoding="utf-8"), re.M)
    assert recipe is not None
    command = recipe.group(1).split(" $(if ")[0].replace("$(PY)", sys.executable)  # no SIM_CONFIG
    argv = shlex.split(command)
    assert argv[argv.index("--port") + 1] == DOC_PORT  # what README's commands assume
    argv[argv.index("--port") + 1] = "0"
    proc = subprocess.Popen(argv, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        ready = proc.stdout.readline() if proc.stdout else ""
        assert ready.startswith("simulator ready on "), ready
        yield ready.split()[3]
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=15)


def as_typed(argv: list[str], sim_url: str) -> list[str]:
    """The documented command with the simulator's port, run with the test's own virtualenv."""
    assert argv[0] == ".venv/bin/locust"
    host = argv[argv.index("--host") + 1]
    assert host.startswith(f"http://127.0.0.1:{DOC_PORT}"), host
    out = [str(Path(sys.executable).parent / "locust"), *argv[1:]]
    out[out.index("--host") + 1] = host.replace(f"http://127.0.0.1:{DOC_PORT}", sim_url)
    return out


def without_keys() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in KEY_VARS}


def exchanges_of(argv: list[str]) -> list[str]:
    name = Path(argv[argv.index("-f") + 1]).stem
    return list(NAMES) if name == "all" else [name]


def sim_stats(sim_url: str) -> dict:
    with urllib.request.urlopen(f"{sim_url}/__sim/stats", timeout=5) as resp:
        return json.load(resp)["exchanges"]


def signed_served(stats: dict, exchange: str) -> int:
    signed = [e.name for e in get_adapter(exchange).endpoints.values() if e.signed]
    return sum(stats[exchange]["by_endpoint"].get(name, 0) for name in signed)


def assert_signed_requests_succeeded(sim_url: str, exchanges: list[str], output: str) -> None:
    stats = sim_stats(sim_url)
    for exchange in exchanges:
        counted = stats[exchange]
        assert signed_served(stats, exchange) > 0, (exchange, counted["by_endpoint"])
        assert set(counted["by_status"]) == {"200"} and not counted.get("by_error"), (exchange, counted)
        assert f"{exchange}: " in output and DETECTED in output
    assert "signed requests need" not in output and "Traceback" not in output


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


HEADLESS = [argv for argv in LOCUST_COMMANDS if "--headless" in argv]
WEB_UI = [argv for argv in LOCUST_COMMANDS if "--headless" not in argv]


@pytest.mark.parametrize("argv", HEADLESS, ids=[Path(a[a.index("-f") + 1]).stem for a in HEADLESS])
def test_headless_commands_sign_with_the_simulators_demo_account(argv):
    with make_sim() as sim_url:
        cmd = as_typed(argv, sim_url)
        cmd[cmd.index("-t") + 1] = "5s"  # 10 s in README: every user is up within 1 s, a burst trader signs every 2 s
        proc = subprocess.run(cmd, cwd=REPO_ROOT, env=without_keys(), capture_output=True, text=True, timeout=120)
        output = proc.stdout + proc.stderr
        assert proc.returncode == 0, output[-3000:]  # Locust exits 1 on any failed request
        assert_signed_requests_succeeded(sim_url, exchanges_of(argv), output)


def headless_users(web_ui_argv: list[str]) -> int:
    """The user count of the headless command for the same locustfile: what the test types into the form."""
    locustfile = web_ui_argv[web_ui_argv.index("-f") + 1]
    (headless,) = [a for a in HEADLESS if a[a.index("-f") + 1] == locustfile]
    return int(headless[headless.index("-u") + 1])


@pytest.mark.parametrize("argv", WEB_UI, ids=[Path(a[a.index("-f") + 1]).stem for a in WEB_UI])
def test_web_ui_commands_sign_with_the_simulators_demo_account(argv):
    exchanges = exchanges_of(argv)
    port = free_port()
    with make_sim() as sim_url:
        proc = subprocess.Popen([*as_typed(argv, sim_url), "--web-port", str(port)], cwd=REPO_ROOT,
                                env=without_keys(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            base = f"http://127.0.0.1:{port}"
            users = headless_users(argv)
            form = urllib.request.Request(f"{base}/swarm", data=f"user_count={users}&spawn_rate={users}".encode(),
                                          headers={"Origin": base})
            deadline = time.monotonic() + 60
            started = False
            while not started and time.monotonic() < deadline:  # the form, once the UI answers
                try:
                    with urllib.request.urlopen(form, timeout=5) as resp:
                        started = json.load(resp)["success"]
                except OSError:
                    time.sleep(0.5)
            assert started, "the web UI did not start a test"
            while time.monotonic() < deadline and not all(signed_served(sim_stats(sim_url), e) >= 3 for e in exchanges):
                time.sleep(0.5)
        finally:
            proc.send_signal(signal.SIGINT)  # Ctrl-C
            output, _ = proc.communicate(timeout=60)
        assert proc.returncode == 0, output[-3000:]
        assert_signed_requests_succeeded(sim_url, exchanges, output)


@pytest.mark.parametrize("argv", CI_COMMANDS)
def test_the_ci_example_runs_against_make_sim(argv, tmp_path):
    with make_sim() as sim_url:
        cmd = as_typed(argv, sim_url)
        cmd[cmd.index("-t") + 1] = "10s"  # 60 s in the docs
        assert cmd[cmd.index("--csv") + 1] == "results/ci/locust"
        cmd[cmd.index("--csv") + 1] = str(tmp_path / "locust")  # not into the repository's results/
        proc = subprocess.run(cmd, cwd=REPO_ROOT, env=without_keys(), capture_output=True, text=True, timeout=120)
        output = proc.stdout + proc.stderr
        assert proc.returncode == 0, output[-3000:]
        assert_signed_requests_succeeded(sim_url, exchanges_of(argv), output)
    assert "order/test" in (tmp_path / "locust_stats.csv").read_text()


@pytest.mark.parametrize("exchange", NAMES)
def test_any_other_host_still_needs_the_exchanges_keys(exchange, tmp_path):
    """A local HTTP server that is not the simulator: asked once whether it is, then no load at all."""
    adapter = get_adapter(exchange)
    with http_server(404, b"not found") as (url, asked):
        cmd = [str(Path(sys.executable).parent / "locust"), "-f", str(REPO_ROOT / "locustfiles" / f"{exchange}.py"),
               "--headless", "-u", "5", "-t", "10s", "--host", f"{url}{adapter.hosts.simulator_prefix}"]
        env = without_keys() | {"HOME": str(tmp_path)}
        proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)  # no .env here
    output = proc.stdout + proc.stderr
    assert proc.returncode == 1, output[-3000:]
    missing = " and ".join(adapter.user_key_vars)
    (line,) = [ln for ln in output.splitlines() if "signed requests need" in ln]
    assert line.endswith(f"{exchange}: signed requests need {missing} (set them in the environment or in .env)")
    assert "Traceback" not in output
    assert asked == ["/__sim/identity"]  # asked whether it is the simulator, and sent no load
