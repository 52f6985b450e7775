"""End to end: the web UI as users reach it (`make ui`), over real HTTP and in a real headless Chromium.

The browser test skips, saying why, where Chromium, its driver or selenium is missing; `make test` and
`.ci/run` install Debian's chromium and chromium-driver where they can.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from exchanges import get_adapter
from tests.support.e2e import simulator
from tests.support.http import free_port, request, wait_for_http, wait_until

REPO_ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.e2e
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
)


@contextmanager
def runner_ui(tmp_path: Path, *locust_args: str) -> Iterator[str]:
    """`python -m loadgen ui` (simulator + web UI) on a free port; its base URL. Stopped with Ctrl-C."""
    port = free_port()
    cmd = [sys.executable, "-m", "loadgen", "ui", "--web-port", str(port), "--results-dir", str(tmp_path),
           "--", *locust_args]
    proc = subprocess.Popen(cmd, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    try:
        wait_for_http(f"http://127.0.0.1:{port}/")
        yield f"http://127.0.0.1:{port}"
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        proc.communicate(timeout=60)


@contextmanager
def locust_ui(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> Iterator[subprocess.Popen[str]]:
    """Plain `locust` with the Binance locustfile and its web UI, against a simulator; the process."""
    with simulator(tmp_path) as sim:
        rest_base = f"{sim.base_url}{get_adapter('binance').hosts.simulator_prefix}"
        cmd = [sys.executable, "-m", "locust", "-f", str(REPO_ROOT / "locustfiles" / "binance.py"),
               "--host", rest_base, *args]
        proc = subprocess.Popen(cmd, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                env={**os.environ, **(env or {})})
        try:
            yield proc
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
            proc.communicate(timeout=30)


def listening_addresses(port: int) -> list[str]:
    import psutil

    return [c.laddr.ip for c in psutil.net_connections("tcp") if c.status == "LISTEN" and c.laddr.port == port]


def test_plain_locust_serves_the_ui_on_loopback_only_and_not_cross_origin(tmp_path):
    port = free_port()
    with locust_ui(tmp_path, "--web-port", str(port)):
        base = f"http://127.0.0.1:{port}"
        wait_for_http(f"{base}/")
        assert listening_addresses(port) == ["127.0.0.1"]
        status, headers, body = request(f"{base}/exchange/stats")
        assert status == 200 and "exchanges" in json.loads(body)
        (process,) = json.loads(body)["processes"]  # sampled from the start, before any test
        assert process["role"] == "local" and process["rss_mb"] > 20 and process["fds"] >= 3
        evil = {"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"}
        for method, path in (("OPTIONS", "/swarm"), ("POST", "/swarm"), ("GET", "/stats/requests")):
            status, headers, _ = request(f"{base}{path}", method, evil, b"user_count=1&spawn_rate=1"
                                         if method == "POST" else None)
            assert status == 403, (method, path)
            assert headers.get("Access-Control-Allow-Origin") is None
        status, headers, _ = request(f"{base}/stats/requests", headers={"Origin": base})
        assert status == 200 and headers.get("Access-Control-Allow-Origin") is None
        assert request(f"{base}/", headers={"Host": f"rebound.example:{port}"})[0] == 403


def test_another_interface_without_a_login_is_refused(tmp_path):
    with locust_ui(tmp_path, "--web-host", "0.0.0.0", "--web-port", str(free_port())) as proc:
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 2, out
    assert "refusing to serve the web UI on 0.0.0.0 without a login" in out


def test_web_login_guards_every_page_and_never_logs_the_password(tmp_path):
    port = free_port()
    secrets = {"WEB_UI_USERNAME": "trader", "WEB_UI_PASSWORD": "pw-Ex4mple-9"}
    with locust_ui(tmp_path, "--web-host", "0.0.0.0", "--web-port", str(port), "--web-login", env=secrets) as proc:
        base = f"http://127.0.0.1:{port}"
        wait_for_http(f"{base}/login")
        assert "0.0.0.0" in listening_addresses(port)
        for path in ("/", "/exchange/stats", "/stats/requests"):
            status, headers, _ = request(f"{base}{path}")
            assert status == 302 and "/login" in headers["Location"], path
        form = {"Origin": base, "Content-Type": "application/x-www-form-urlencoded"}
        status, headers, _ = request(f"{base}/login/submit", "POST", form, b"username=trader&password=nope")
        assert status == 302 and headers["Location"].endswith("/login")
        status, headers, _ = request(f"{base}/login/submit", "POST", form, b"username=trader&password=pw-Ex4mple-9")
        assert status == 302 and headers["Location"] == "/"
        cookie = headers["Set-Cookie"].split(";")[0]
        status, _, body = request(f"{base}/exchange/stats", headers={"Cookie": cookie})
        assert status == 200 and "exchanges" in json.loads(body)
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
    assert "pw-Ex4mple-9" not in out


def test_the_start_form_runs_a_shaped_scenario_chosen_in_it(tmp_path):
    with runner_ui(tmp_path) as base:
        form = (b"shape_class=ScenarioShape&scenario=light&exchange=binance"
                b"&user_classes=BinanceRestPoller&user_classes=BinanceWsSubscriber")
        status, _, body = request(f"{base}/swarm", "POST", {"Origin": base}, form)
        assert status == 200 and json.loads(body)["success"], body

        def get(path: str) -> dict:
            return json.loads(request(f"{base}{path}")[2])

        stats = wait_until(lambda: (s := get("/stats/requests"))["user_count"] == 10 and s, 20)
        assert stats["state"] in ("running", "spawning")
        view = wait_until(lambda: (x := get("/exchange/stats")["exchanges"][0])["requests_per_s"] and x, 20)
        assert 0 < view["requests_per_s"] < 15  # light: 5 requests/s in total, paced


# --- in a browser


def chromium_driver():
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (requirements-dev.txt)")
    if CHROMIUM is None or CHROMEDRIVER is None:
        pytest.skip("no headless browser: install Debian's chromium and chromium-driver (make test does, as root)")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={tempfile.mkdtemp(prefix='chromium-')}"):
        options.add_argument(flag)
    return webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))


def exchange_table(driver) -> dict[str, str]:
    """The Exchange tab's first row, by column title."""
    from selenium.webdriver.common.by import By

    titles = [th.text for th in driver.find_elements(By.CSS_SELECTOR, "table thead th")]
    cells = [td.text for td in driver.find_elements(By.CSS_SELECTOR, "table tbody tr:first-child td")]
    return dict(zip(titles, cells, strict=False))


def test_in_a_browser_a_run_started_from_the_form_moves_the_exchange_tab(tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    def visible(by: str, selector: str) -> list:
        return [e for e in driver.find_elements(by, selector) if e.is_displayed()]

    def row_when(condition) -> dict[str, str]:
        return wait_until(lambda: (row := exchange_table(driver)) and condition(row) and row, 30)

    driver = chromium_driver()
    try:
        with runner_ui(tmp_path) as base:
            driver.get(f"{base}/")
            wait_until(lambda: visible(By.NAME, "userCount"), 20)
            for name, value in (("userCount", "4"), ("spawnRate", "4")):
                field = driver.find_element(By.NAME, name)
                field.send_keys(Keys.CONTROL, "a")
                field.send_keys(value)
            driver.find_element(By.XPATH, "//button[normalize-space()='Custom parameters']").click()
            wait_until(lambda: visible(By.NAME, "Symbols"), 10)[0].send_keys("BTCUSDT")  # a custom option
            for name in ("Exchange", "Streams", "Mode", "Scenario"):  # editable in the form too (by their labels)
                assert visible(By.NAME, name) and visible(By.NAME, name)[0].is_enabled(), name
            assert visible(By.NAME, "shapeClass")  # Locust's own -u/-r (Default) or a scenario's shape
            driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
            wait_until(lambda: visible(By.XPATH, "//button[@role='tab'][normalize-space()='Exchange']"), 20)[0].click()

            first = row_when(lambda row: row.get("Requests", "0") not in ("", "0"))
            assert first["Exchange"] == "binance"
            later = row_when(lambda row: row["Requests"] != first["Requests"])
            assert int(later["Requests"]) > int(first["Requests"])
            moving = row_when(lambda row: row["WS messages/s"] not in ("-", "0.0"))
            assert float(moving["WS messages/s"]) > 0 and int(moving["WS connections"]) >= 1
            assert " / 6000 per 60 s" in moving["Used weight / limit"]
            p50, p95, p99 = (v.strip() for v in moving["Event latency p50 / p95 / p99 (ms)"].split("/"))
            assert p50.isdigit() and p99.isdigit() and int(p50) <= int(p95) <= int(p99)
            assert json.loads(request(f"{base}/exchange/stats")[2])["exchanges"][0]["requests"] >= int(
                later["Requests"])
            streams = {e["name"] for e in json.loads(request(f"{base}/stats/requests")[2])["stats"]}
            assert "btcusdt@trade" in streams and "ethusdt@trade" not in streams  # the form's symbols were used
    finally:
        driver.quit()
