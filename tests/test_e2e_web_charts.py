"""End to end in a real headless Chromium: the Exchange tab's live charts during a short run of `make ui`'s
command against a simulator whose small weight limit makes 429s happen."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.support.http import free_port, request, wait_for_http, wait_until
from tests.test_e2e_web import chromium_driver

REPO_ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.e2e
LIMIT, WINDOW_S = 20, 2
SIM_CONFIG = f"""
[binance.rate_limits]
request_weight = {{ limit = {LIMIT}, interval_s = {WINDOW_S} }}
[binance.bans]
limited_requests_before_ban = 1000000
"""
START = b"user_count=4&spawn_rate=4&user_classes=BinanceRestPoller&user_classes=BinanceWsSubscriber"


@contextmanager
def limited_ui(tmp_path: Path) -> Iterator[str]:
    """`python -m loadgen ui` with the small limit in the simulator and in the suite's options; its base URL."""
    config = tmp_path / "sim.toml"
    config.write_text(SIM_CONFIG, encoding="utf-8")
    port = free_port()
    cmd = [sys.executable, "-m", "loadgen", "ui", "--web-port", str(port), "--results-dir", str(tmp_path),
           "--sim-config", str(config), "--", "--weight-limit", str(LIMIT), "--weight-window-s", str(WINDOW_S)]
    proc = subprocess.Popen(cmd, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    try:
        wait_for_http(f"http://127.0.0.1:{port}/")
        yield f"http://127.0.0.1:{port}"
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        proc.communicate(timeout=60)


def test_in_a_browser_the_exchange_tab_charts_the_run_with_its_limit_and_429s(tmp_path):
    from selenium.webdriver.common.by import By

    def charts() -> dict:
        """What the charts show: per chart its series' point counts, limit lines and marks."""
        return driver.execute_script("""
            const out = {};
            for (const fig of document.querySelectorAll('#exchange-charts figure.exchange-chart')) {
              out[fig.querySelector('figcaption').textContent] = {
                series: Object.fromEntries([...fig.querySelectorAll('path.series')].map(
                  (p) => [p.getAttribute('class').split(' ')[1], +p.dataset.points])),
                limit: [...fig.querySelectorAll('line.limit')].length,
                marks429: fig.querySelectorAll('path.mark-429').length,
                legend: fig.querySelector('.exchange-chart-legend').textContent,
              };
            }
            return out;""")

    driver = chromium_driver()
    driver.set_window_size(1400, 1300)
    try:
        with limited_ui(tmp_path) as base:
            status, _, body = request(f"{base}/swarm", "POST", {"Origin": base}, START)
            assert status == 200 and json.loads(body)["success"], body
            driver.get(f"{base}/")
            tab = "//button[@role='tab'][normalize-space()='Exchange']"
            wait_until(lambda: [e for e in driver.find_elements(By.XPATH, tab) if e.is_displayed()], 20)[0].click()
            shown = wait_until(lambda: (c := charts()) and c.get("Used weight per 2 s", {}).get("marks429")
                               and c["Requests/s"]["series"].get("series-rps", 0) >= 5 and c, 40)
            weight = shown["Used weight per 2 s"]
            assert weight["limit"] == 1 and f"limit {LIMIT} per {WINDOW_S} s" in weight["legend"]
            assert weight["series"].get("series-sent", 0) >= 5 and "429 rate limited" in weight["legend"]
            assert shown["Requests/s"]["marks429"] >= 1
            assert shown["WebSocket messages/s"]["series"]["series-msgs"] >= 5
            assert shown["Event latency p95 per interval (ms)"]["series"]["series-p95"] >= 1
            heading = driver.find_element(By.CSS_SELECTOR, "#exchange-charts > p").text
            assert "p95 of the events received in each interval" in heading
            # the figures behind them: the 429s the charts mark are the run's
            history = json.loads(request(f"{base}/exchange/history")[2])["exchanges"][0]
            assert sum(history["rate_limited"]) > 0 and max(history["sent_weight_per_window"]) > LIMIT
            shot = tmp_path / "exchange-tab.png"
            driver.find_element(By.ID, "exchange-charts").screenshot(str(shot))
            assert shot.read_bytes().startswith(b"\x89PNG")
    finally:
        driver.quit()
