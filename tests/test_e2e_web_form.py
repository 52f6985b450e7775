"""End to end: the web UI's start form in a real headless Chromium (`make ui`): its dropdowns and labels,
`make run`'s defaults, a scenario picked by name that the run then follows, and a bad value typed into it.

Skips, saying why, where Chromium, its driver or selenium is missing (see tests/test_e2e_web.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.http import request, wait_until
from tests.test_e2e_web import chromium_driver, runner_ui

pytestmark = pytest.mark.e2e

DROPDOWNS = {
    "Scenario": ["default", "light", "medium", "heavy", "stress", "ramp", "capacity", "spike"],
    "Exchange": ["binance"],
    "Mode": ["probe", "polite"],
    "Backoff": ["auto", "on", "off", "retry-after"],
    "On a ban": ["stop-user", "stop-run"],
    "Order endpoint": ["test", "live"],
}

ORDER = ("Scenario", "Exchange", "Symbols", "Streams", "Mode", "Target rate (req/s)", "Weight budget", "Weight limit",
         "Backoff", "On a ban", "Circuit breaker", "Order endpoint", "Orders per burst", "Pause between bursts (s)",
         "WS URL")  # loadgen/web/form.py's LABELS (this process does not import Locust)


def get(url: str) -> dict:
    return json.loads(request(url)[2])


def open_the_form(driver, base: str):
    """The start form with its custom parameters open; a function listing the displayed elements found."""
    from selenium.webdriver.common.by import By

    def visible(by: str, selector: str) -> list:
        return [e for e in driver.find_elements(by, selector) if e.is_displayed()]

    driver.get(f"{base}/")
    wait_until(lambda: visible(By.NAME, "userCount"), 20)
    driver.find_element(By.XPATH, "//button[normalize-space()='Custom parameters']").click()
    wait_until(lambda: visible(By.NAME, "Mode"), 10)
    return visible


def test_in_a_browser_the_form_has_dropdowns_labels_and_defaults_and_runs_the_scenario_picked(tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.select import Select

    driver = chromium_driver()
    try:
        with runner_ui(tmp_path) as base:
            visible = open_the_form(driver, base)
            values = {name: driver.find_element(By.NAME, name).get_attribute("value")
                      for name in ("userCount", "spawnRate", "runTime")}
            assert values == {"userCount": "12", "spawnRate": "4", "runTime": "60s"}  # make run's defaults
            for name, choices in DROPDOWNS.items():
                select = Select(visible(By.NAME, name)[0])
                assert [o.get_attribute("value") for o in select.options] == choices, name
            named = [e.get_attribute("name") for e in driver.find_elements(By.CSS_SELECTOR, "[name]")]
            assert [name for name in named if name in ORDER] == list(ORDER)  # core first, not alphabetical
            assert Select(driver.find_element(By.NAME, "Mode")).first_selected_option.text == "probe"
            breaker = driver.find_element(By.NAME, "Circuit breaker")
            assert breaker.get_attribute("type") == "checkbox" and not breaker.is_selected()
            labels = [e.text for e in driver.find_elements(By.TAG_NAME, "label") if e.text]
            for label in ("Scenario (", "Mode (probe", "Orders per burst (", "WS URL (", "Circuit breaker ("):
                assert any(text.startswith(label) for text in labels), (label, labels)
            for machine_made in ("Ws Host", "Order Burst", "Backoff Base S", "Ramp Max Rps", "Spike Cycles"):
                assert not any(text.startswith(machine_made) for text in labels), machine_made

            Select(driver.find_element(By.NAME, "Scenario")).select_by_value("light")
            driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
            light = wait_until(lambda: (s := get(f"{base}/stats/requests"))["user_count"] == 10 and s, 30)
            assert light["state"] in ("running", "spawning")  # light's 10 users, not the form's 12
            view = wait_until(lambda: (x := get(f"{base}/exchange/stats")["exchanges"][0])["requests_per_s"] and x,
                              20)
            assert 0 < view["requests_per_s"] < 15  # light: 5 requests/s in total, paced
            names = {e["name"] for e in get(f"{base}/stats/requests")["stats"]}
            assert not [n for n in names if "@" in n]  # REST pollers only: no WebSocket streams in light
            assert request(f"{base}/stop", "POST", {"Origin": base}, b"")[0] == 200
    finally:
        driver.quit()
    outcome = json.loads(next(Path(tmp_path).glob("*/locust_scenario.json")).read_text())
    assert outcome["scenario"] == "light" and outcome["users"] == 10 and outcome["target_rps"] == 5


def test_in_a_browser_a_bad_value_typed_into_the_form_gives_one_line(tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    driver = chromium_driver()
    try:
        with runner_ui(tmp_path) as base:
            visible = open_the_form(driver, base)
            field = visible(By.NAME, "Orders per burst")[0]
            field.send_keys(Keys.CONTROL, "a")
            field.send_keys("lots")
            driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
            line = "--order-burst: expected a whole number, got 'lots'"
            logs = wait_until(lambda: (m := get(f"{base}/logs")["master"]) and any(line in x for x in m) and m, 30)
            assert [x for x in logs if "--order-burst" in x] == [next(x for x in logs if line in x)]
            assert not [x for x in logs if "Traceback" in x]
            assert wait_until(lambda: get(f"{base}/stats/requests")["state"] == "stopped", 20)
    finally:
        driver.quit()
