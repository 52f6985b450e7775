"""End to end on a real Docker engine: the image and the documented compose commands, run for real.

They skip, saying why, where no engine answers (`docker info`), Debian's docker-compose (Compose v1)
is missing, or the stand-in base image cannot be built (no debootstrap). `.ci/run` installs
docker.io, docker-compose and debootstrap and starts dockerd as root. No registry is reachable here,
so the image is built on a stand-in for python:3.11-slim (docker/standin-base.sh, cached between
sessions), once per test session. Compose v2 (`docker compose`) runs the same tests where it exists.
Every test network is `internal: true` (tests/docker/internal-network.yml) or the host's loopback.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from exchanges import NAMES, get_adapter
from loadgen.runner.summary import HTTP_METHODS
from tests.support.http import free_port, request, wait_for_http, wait_until

REPO_ROOT = Path(__file__).resolve().parent.parent
INTERNAL = REPO_ROOT / "tests" / "docker" / "internal-network.yml"
HEADLESS = REPO_ROOT / "docker-compose.headless.yml"
IMAGE = "exchange-stress-test:e2e"
OWNER = 4242  # a non-root owner for the results directory: the files must come out as his
pytestmark = pytest.mark.e2e


def _engine_problem() -> str | None:
    if shutil.which("docker") is None:
        return "no docker client (apt-get install docker.io; .ci/run does)"
    info = subprocess.run(["docker", "info"], capture_output=True, text=True)
    if info.returncode != 0:
        return "no Docker engine answers (start dockerd as root; .ci/run does)"
    return None


def compose_commands() -> list[list[str]]:
    """Compose v1 (Debian's docker-compose) and v2 (the `docker compose` plugin), those installed."""
    found = []
    if shutil.which("docker-compose"):
        found.append(["docker-compose"])
    if shutil.which("docker") and subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0:
        found.append(["docker", "compose"])
    return found


@pytest.fixture(scope="session")
def image() -> str:
    """The product image, built once per session from the Dockerfile on the cached stand-in base."""
    problem = _engine_problem()
    if problem:
        pytest.skip(problem)
    base = subprocess.run([str(REPO_ROOT / "docker" / "standin-base.sh")], capture_output=True, text=True)
    if base.returncode != 0:
        reason = (base.stderr.strip().splitlines() or ["docker/standin-base.sh failed"])[-1]
        pytest.skip(f"no stand-in base image (docker/standin-base.sh, as root): {reason}")
    build = subprocess.run(
        ["docker", "build", "-q", "--network", "host", "--build-arg", f"BASE_IMAGE={base.stdout.strip()}",
         "-t", IMAGE, str(REPO_ROOT)], capture_output=True, text=True, timeout=600)
    assert build.returncode == 0, build.stderr
    return IMAGE


@pytest.fixture(params=compose_commands() or [None], ids=lambda c: " ".join(c) if c else "no-compose")
def compose(request: pytest.FixtureRequest, image: str) -> list[str]:
    if request.param is None:
        pytest.skip("neither docker-compose (apt-get install docker-compose) nor `docker compose` is installed")
    return request.param


class Project:
    """One compose project of the repo's files, with the test image and its own name; removed at the end."""

    def __init__(self, compose: list[str], files: list[Path], env: dict[str, str]) -> None:
        self.name = f"e2e{uuid.uuid4().hex[:8]}"
        self.base = [*compose, "-p", self.name, "--project-directory", str(REPO_ROOT)]
        for path in files:
            self.base += ["-f", str(path)]
        self.env = {**os.environ, "IMAGE": IMAGE, **env}

    def run(self, *args: str, timeout: float = 180) -> subprocess.CompletedProcess:
        return subprocess.run([*self.base, *args], env=self.env, capture_output=True, text=True, timeout=timeout)

    def popen(self, *args: str) -> subprocess.Popen:
        return subprocess.Popen([*self.base, *args], env=self.env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)

    def containers(self, service: str) -> list[str]:
        return self.run("ps", "-q", service).stdout.split()

    def down(self) -> None:
        self.run("down", "-v", "--remove-orphans", "-t", "5")


def results_dir(tmp_path: Path) -> Path:
    path = tmp_path / "results"
    path.mkdir()
    os.chown(path, OWNER, OWNER)
    return path


def headless(compose: list[str], tmp_path: Path, workers: int, *up_options: str,
             **env: str) -> tuple[subprocess.CompletedProcess, Path]:
    """The documented headless command (plus the internal network, and `up_options`); its result, with the
    master's log appended to its output (Compose v2 may not attach in time to a master that exits at once),
    and the run's directory."""
    results = results_dir(tmp_path)
    settings = {"RESULTS_DIR": str(results), "WORKERS": str(workers), "DURATION": "4", "USERS": "4", **env}
    project = Project(compose, [HEADLESS, INTERNAL], settings)
    try:
        proc = project.run("up", "--scale", f"worker={workers}", "--exit-code-from", "master", *up_options)
        proc.stdout += project.run("logs", "master").stdout
    finally:
        project.down()
    runs = list(results.iterdir())
    return proc, runs[0] if runs else results


def start_headless(project: Project, results: Path) -> tuple[subprocess.Popen, list[str]]:
    """The headless command in the background, once every user runs; it and the worker containers."""
    up = project.popen("up", "--scale", "worker=2", "--exit-code-from", "master")
    workers = wait_until(lambda: len(c := project.containers("worker")) == 2 and c, 60)
    wait_until(lambda: "All users spawned" in project.run("logs", "master").stdout, 60)
    return up, workers


def assert_whole_run(run_dir: Path, workers: int, exit_code: int) -> dict:
    manifest = json.loads((run_dir / "run.json").read_text())
    assert manifest["interrupted"] is False and manifest["locust_exit_code"] == exit_code
    assert manifest["workers"] == workers
    assert (run_dir / "analysis" / "report.json").is_file()
    for path in [run_dir, *run_dir.rglob("*")]:
        assert (path.stat().st_uid, path.stat().st_gid) == (OWNER, OWNER), path
    return manifest


def assert_reconciles(run_dir: Path) -> None:
    """Every request Locust counted reached the simulator, and every exchange of the run had some."""
    totals = json.loads((run_dir / "totals.json").read_text())
    served = json.loads((run_dir / "simulator_stats.json").read_text())["exchanges"]
    exchanges = json.loads((run_dir / "run.json").read_text())["exchanges"]
    assert all(served[name]["requests_total"] > 0 for name in exchanges), served
    sent = sum(e["num_requests"] for e in totals if e["method"] in HTTP_METHODS)
    assert sent == sum(served[name]["requests_total"] for name in exchanges)


# --- the image


def test_image_is_non_root_has_no_secret_and_starts_fast(image):
    config = json.loads(subprocess.run(["docker", "inspect", image], capture_output=True, text=True, check=True).stdout)
    assert config[0]["Config"]["User"] == "loadtest"
    env_names = [e.split("=", 1)[0] for e in config[0]["Config"]["Env"]]
    assert not [n for n in env_names if any(w in n for w in ("KEY", "SECRET", "PASSWORD", "PASSPHRASE", "TOKEN"))]
    history = subprocess.run(["docker", "history", "--no-trunc", "--format", "{{.CreatedBy}}", image],
                             capture_output=True, text=True, check=True).stdout
    for word in ("API_KEY=", "API_SECRET=", "PASSWORD=", "PASSPHRASE=", ".env", "ca-certificates", "pip.conf"):
        assert word not in history, word
    files = subprocess.run(["docker", "run", "--rm", "--network", "none", image, "sh", "-c",
                            "id -u; ls -a /app; find /app /opt/venv -name '.env' -o -name 'pip.conf'"],
                           capture_output=True, text=True, check=True).stdout.split()
    assert files[0] == "10001" and ".env" not in files[1:] and "tests" not in files[1:]
    start = time.monotonic()  # from `docker run` to the simulator answering inside the container
    probe = ("python -m simulator --host 127.0.0.1 --port 8000 >/dev/null 2>&1 & "
             "until python -c 'import urllib.request as u; u.urlopen(\"http://127.0.0.1:8000/__sim/stats\")' "
             "2>/dev/null; do sleep 0.1; done")
    subprocess.run(["docker", "run", "--rm", "--network", "none", image, "sh", "-c", probe], check=True, timeout=60)
    assert time.monotonic() - start < 5


# --- headless


def test_headless_run_ends_with_the_masters_code_and_whole_results(compose, tmp_path):
    """One run serves three checks: every exchange side by side on two workers, with a threshold that fails. The
    command ends with the master's code (3, not a generic 0 or 1), the results are whole and owned by the results
    directory's owner, both workers reported, the thresholds are recorded, and every exchange's requests reconcile
    with the simulator's count. A run that passes exits 0 in the killed-worker test (both Composes) and in the
    one-exchange runs below."""
    thresholds = "fail_ratio<1;p95<0.001"
    proc, run_dir = headless(compose, tmp_path, workers=2, EXCHANGE="all", USERS="9", THRESHOLDS=thresholds)
    assert proc.returncode == 3, proc.stdout[-3000:] + proc.stderr[-3000:]
    manifest = assert_whole_run(run_dir, 2, 3)
    assert manifest["thresholds"] == thresholds.split(";")
    assert sorted(manifest["exchanges"]) == sorted(NAMES)
    workers = json.loads((run_dir / "locust_workers.json").read_text())
    assert workers["workers_seen"] == 2 and workers["final_reports_missing"] == 0
    assert all(w["requests"] > 0 for w in workers["workers"])
    assert_reconciles(run_dir)


def test_headless_bad_input_exits_2(compose, tmp_path):
    """The worker, whose master is gone before it connected, stops at compose's SIGTERM (it runs under an init:
    as PID 1 without a handler it ignored it until compose killed it 10 s later)."""
    started = time.monotonic()
    proc, _ = headless(compose, tmp_path, 1, SCENARIO="nope")
    assert proc.returncode == 2
    assert time.monotonic() - started < 8, "the worker did not stop at SIGTERM"
    assert "unknown scenario 'nope'" in proc.stdout


def signalled_headless(compose: list[str], tmp_path: Path, duration_s: int,
                       signal_it: Callable[[Project, list[str]], None]) -> tuple[int | None, str, Path]:
    """The headless command on two workers, `signal_it(project, worker containers)` two seconds after every user
    runs; the command's exit code and output, and the run's directory."""
    results = results_dir(tmp_path)
    project = Project(compose, [HEADLESS, INTERNAL],
                      {"RESULTS_DIR": str(results), "WORKERS": "2", "DURATION": str(duration_s), "USERS": "4"})
    try:
        up, workers = start_headless(project, results)
        time.sleep(2)
        signal_it(project, workers)
        out, _ = up.communicate(timeout=120)
    finally:
        project.down()
    return up.returncode, out, next(results.iterdir())


def test_a_killed_worker_is_lost_and_the_run_still_ends(compose, tmp_path):
    def kill_a_worker(project: Project, workers: list[str]) -> None:
        subprocess.run(["docker", "kill", workers[0]], check=True, capture_output=True)

    code, out, run_dir = signalled_headless(compose, tmp_path, 14, kill_a_worker)
    assert code == 0, out[-3000:]
    assert_whole_run(run_dir, 2, 0)
    assert json.loads((run_dir / "locust_workers.json").read_text())["workers_lost"] == 1
    findings = json.loads((run_dir / "analysis" / "report.json").read_text())["findings"]
    assert "worker_lost" in [f["kind"] for f in findings]


def test_interrupting_the_master_ends_the_run_with_its_results_so_far(compose, tmp_path):
    """The documented way to end a headless run early: `kill -s INT master` (with the first Compose found:
    the signal goes to the container, the same with both)."""
    if compose != compose_commands()[0]:
        pytest.skip("run with the first Compose only, to keep the docker tests short")

    def interrupt_the_master(project: Project, workers: list[str]) -> None:
        assert project.run("kill", "-s", "INT", "master").returncode == 0

    code, out, run_dir = signalled_headless(compose, tmp_path, 60, interrupt_the_master)
    assert code == 130, out[-3000:]
    manifest = json.loads((run_dir / "run.json").read_text())
    assert manifest["interrupted"] is True and manifest["locust_exit_code"] is None


@pytest.mark.parametrize("exchange", ["coinbase", "kraken"])
def test_headless_one_exchange_alone(compose, tmp_path, exchange):
    """Each exchange on its own (all of them side by side: the first test), with the first Compose only."""
    if compose != compose_commands()[0]:
        pytest.skip("one exchange at a time with the first Compose only, to keep the docker tests short")
    proc, run_dir = headless(compose, tmp_path, workers=1, EXCHANGE=exchange, USERS="9")
    assert proc.returncode == 0, proc.stdout[-3000:]
    manifest = assert_whole_run(run_dir, 1, 0)
    assert manifest["exchanges"] == [exchange]
    assert_reconciles(run_dir)


# --- keys


def user_key_vars() -> set[str]:
    names = set()
    for name in NAMES:
        adapter = get_adapter(name)
        names.update(adapter.user_key_vars)
        names.update(adapter.simulator_user_env())
        names.update(f"SIM_{v}" for v in adapter.user_key_vars)
    return names


@pytest.mark.parametrize("files", [["docker-compose.yml"], ["docker-compose.headless.yml"],
                                   ["docker-compose.workers.yml"]])
def test_every_key_variable_the_users_read_is_passed_through(files, tmp_path):
    if shutil.which("docker-compose") is None:
        pytest.skip("Debian's docker-compose is not installed (apt-get install docker-compose)")
    env = {**os.environ, **{v: f"value-of-{v}" for v in user_key_vars()}, "MASTER_HOST": "10.0.0.5"}
    args = ["docker-compose", "--project-directory", str(REPO_ROOT), *(a for f in files for a in ("-f", f))]
    config = subprocess.run([*args, "config"], capture_output=True, text=True, env=env, cwd=REPO_ROOT)
    assert config.returncode == 0, config.stderr
    for var in user_key_vars():
        assert f"{var}: value-of-{var}" in config.stdout, var


def test_users_get_real_keys_for_a_testnet(compose):
    """What a worker container's users sign with against a testnet, by way of the compose file and .env-style
    settings (only digests of the keys are printed). Against the simulator they recognise it and sign with its
    demo account: the headless and UI runs' signed orders show that."""
    probe = ("import hashlib, os; from exchanges import get_adapter; "
             "from loadgen.users.credentials import credentials_for; "
             "from loadgen.users.simulator_probe import is_simulator; a = get_adapter('binance'); "
             "keys = credentials_for(a, is_simulator(a, os.environ['TARGET_HOST'])); "
             "print(hashlib.sha256(keys.api_key.encode()).hexdigest())")
    workers_file = REPO_ROOT / "docker-compose.workers.yml"
    project = Project(compose, [workers_file, INTERNAL],
                      {"MASTER_HOST": "master", "BINANCE_API_KEY": "testnet-key", "BINANCE_API_SECRET": "s"})

    def user_key(*flags: str) -> str:
        proc = project.run("run", "--rm", *flags, "worker", "run", "python", "-c", probe)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout.split()[-1]

    try:
        testnet = user_key("-e", "TARGET_HOST=https://testnet.binance.vision")
        assert testnet == hashlib.sha256(b"testnet-key").hexdigest()
    finally:
        project.down()


# --- web UI


def test_ui_mode_runs_a_test_on_every_worker(compose, tmp_path):
    port = free_port()
    secrets = {"WEB_UI_USERNAME": "trader", "WEB_UI_PASSWORD": "pw-Ex4mple-9", "WEB_PORT": str(port)}
    project = Project(compose, [REPO_ROOT / "docker-compose.yml"], secrets)  # internal networks publish no port
    base = f"http://127.0.0.1:{port}"
    try:
        up = project.run("up", "-d", "--scale", "worker=2")
        assert up.returncode == 0, up.stderr
        wait_for_http(f"{base}/login", 60)
        status, headers, _ = request(f"{base}/")
        assert status == 302 and "/login" in headers["Location"]
        form = {"Origin": base, "Content-Type": "application/x-www-form-urlencoded"}
        status, headers, _ = request(f"{base}/login/submit", "POST", form, b"username=trader&password=pw-Ex4mple-9")
        cookie = {"Cookie": headers["Set-Cookie"].split(";")[0]}

        def get(path: str) -> dict:
            return json.loads(request(f"{base}{path}", headers=cookie)[2])

        wait_until(lambda: get("/stats/requests")["workers"] and len(get("/stats/requests")["workers"]) == 2, 60)
        status, _, body = request(f"{base}/swarm", "POST", {**form, **cookie}, b"user_count=4&spawn_rate=4")
        assert status == 200 and json.loads(body)["success"], body
        def exchange_row() -> dict:
            return (get("/exchange/stats")["exchanges"] or [{}])[0]

        assert wait_until(lambda: exchange_row().get("requests_per_s"), 60) > 0  # /exchange/stats moves
        stats = wait_until(lambda: (s := get("/stats/requests"))["user_count"] == 4 and s, 30)
        assert [w["user_count"] for w in stats["workers"]] == [2, 2]
        request(f"{base}/stop", headers=cookie)
    finally:
        project.down()
    assert "pw-Ex4mple-9" not in project.run("logs").stdout


# --- workers elsewhere


def test_workers_file_against_a_runner_outside_the_project(compose, tmp_path):
    port = free_port()
    runner = subprocess.Popen(
        [str(REPO_ROOT / ".venv" / "bin" / "python"), "-m", "loadgen", "run", "--expect-workers", "2",
         "--master-port", str(port), "--duration", "6", "--users", "4", "--results-dir", str(tmp_path)],
        cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    files = [REPO_ROOT / "docker-compose.workers.yml", REPO_ROOT / "tests" / "docker" / "host-loopback.yml"]
    project = Project(compose, files, {"MASTER_HOST": "127.0.0.1", "MASTER_PORT": str(port)})
    try:
        up = project.run("up", "-d", "--scale", "worker=2")
        assert up.returncode == 0, up.stderr
        out, _ = runner.communicate(timeout=120)
        assert runner.returncode == 0, out[-3000:]
    finally:
        if runner.poll() is None:
            runner.kill()
        project.down()
    run_dir = next(p for p in tmp_path.iterdir() if p.is_dir())
    workers = json.loads((run_dir / "locust_workers.json").read_text())
    assert workers["workers_seen"] == 2 and all(w["requests"] > 0 for w in workers["workers"])
