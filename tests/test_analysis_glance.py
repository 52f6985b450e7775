"""The report at a glance: its header (when, target, settings, verdict), tables and charts that say nothing left
out, every series in its chart's legend in a style of its own, and report.html's interactive, offline charts."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import pytest

from analysis.charts import draw_all, latency_chart, users_chart, websocket_chart
from analysis.cli import main
from analysis.header import JUNIT_FILE
from analysis.pipeline import analyse
from tests.support.analysis_runs import RunBuilder

JUNIT = """<?xml version="1.0" encoding="UTF-8"?>
<testsuites><testsuite name="exchange-stress-test thresholds" tests="2" failures="1" errors="0">
<testcase classname="thresholds" name="p95&lt;300"><system-out>measured: 5</system-out></testcase>
<testcase classname="thresholds" name="p99&lt;3"><failure message="p99&lt;3: measured 9"/></testcase>
</testsuite></testsuites>
"""


def quiet_run(tmp_path, name="run", seconds=20, users=None, **manifest):
    """Clean REST traffic on the simulator: no failure, no finding."""
    builder = RunBuilder(seconds=seconds, users=users, manifest={
        "target": "simulator", "host": "http://127.0.0.1:9/binance", "spawn_rate": 4, **manifest})
    builder.entry("GET", "depth", 10).entry("GET", "time", 5, latency_ms=2.0)
    builder.exchange_seconds(requests=15, weight_requested=20)
    return builder.write(tmp_path / name)


def report_files(tmp_path, run_dir):
    out = tmp_path / "out"
    assert main([str(run_dir), "--out", str(out)]) == 0
    return json.loads((out / "report.json").read_text()), (out / "report.md").read_text(), \
        (out / "report.html").read_text()


def test_the_header_says_when_where_with_what_and_that_there_were_no_thresholds(tmp_path, capsys):
    report, markdown, html = report_files(tmp_path, quiet_run(tmp_path))
    header = report["header"]
    assert header["started_at"] == "2027-01-15T08:00:00+0000" and header["finished_at"] == "2027-01-15T08:10:00+0000"
    assert header["duration_s"] == report["run"]["duration_s"]
    assert header["target"] == {"kind": "simulator", "host": "http://127.0.0.1:9/binance", "simulator": True}
    assert header["settings"] == {"exchanges": ["binance"], "scenario": "test", "users": 4, "spawn_rate": 4,
                                  "duration_s": 20, "workers": 1}
    assert header["thresholds"] is None and header["worst_finding"] is None
    assert header["verdict"] == {"status": "none", "text": "no thresholds; no findings"}
    lines = markdown.splitlines()
    assert lines[2] == "**Verdict: no thresholds; no findings**"  # right under the title
    assert "- **target:** http://127.0.0.1:9/binance (the embedded simulator)" in markdown
    assert "- **settings:** exchanges binance; scenario test; users 4; spawn rate 4 users/s; duration 20 s; " \
           "workers 1" in markdown
    assert '<p class="verdict none">Verdict: no thresholds; no findings</p>' in html


def test_without_thresholds_the_verdict_is_the_worst_finding(tmp_path, capsys):
    builder = RunBuilder(seconds=20).entry("GET", "depth", 10, failures=[0] * 10 + [3] * 10)
    builder.exchange_seconds(requests=10, weight_requested=50, rate_limited=[0] * 10 + [3] * 10)
    builder.failure("GET", "depth", "rate_limited: -1003 HTTP 429", 30, first=10, last=19)
    report, markdown, _ = report_files(tmp_path, builder.write(tmp_path / "run"))
    worst = report["findings"][0]
    assert report["header"]["worst_finding"] == {k: worst[k] for k in ("severity", "kind", "exchange")}
    assert worst["severity"] == "high"
    expected = f"no thresholds; worst finding: high {worst['kind']} (binance)"
    assert report["header"]["verdict"] == {"status": "none", "text": expected}
    assert f"**Verdict: {expected}**" in markdown


def test_thresholds_give_pass_or_fail_from_the_runs_junit_file(tmp_path, capsys):
    run_dir = quiet_run(tmp_path, thresholds=["p95<300", "p99<3"])
    (run_dir / JUNIT_FILE).write_text(JUNIT)
    report, markdown, html = report_files(tmp_path, run_dir)
    gates = report["header"]["thresholds"]
    assert gates == {"set": ["p95<300", "p99<3"], "checked": 2, "failed": 1, "unchecked": 0,
                     "messages": ["p99<3: measured 9"]}
    assert report["header"]["verdict"] == {"status": "fail", "text": "FAIL: 1 of 2 thresholds failed; no findings"}
    assert "**❌ Verdict: FAIL: 1 of 2 thresholds failed; no findings**" in markdown
    assert "- **thresholds:** p95<300; p99<3; not met: p99<3: measured 9" in markdown
    assert '<p class="verdict fail">' in html
    (run_dir / JUNIT_FILE).write_text(JUNIT.replace('<failure message="p99&lt;3: measured 9"/>', ""))
    report, markdown, _ = report_files(tmp_path, run_dir)
    assert report["header"]["verdict"]["text"] == "PASS: all 2 thresholds passed; no findings"


def test_the_target_is_shown_without_credentials(tmp_path, capsys):
    run_dir = quiet_run(tmp_path, target="other", host="https://user:s3cret@gw.example:8443/api?key=k3y#x")
    report, markdown, html = report_files(tmp_path, run_dir)
    assert report["header"]["target"] == {"kind": "other", "host": "https://gw.example:8443/api", "simulator": False}
    for text in (json.dumps(report), markdown, html):
        assert "s3cret" not in text and "k3y" not in text


def test_thresholds_without_a_readable_outcome_are_not_called_a_pass(tmp_path, capsys):
    report, _, _ = report_files(tmp_path, quiet_run(tmp_path, thresholds=["p95<300"]))
    assert report["header"]["verdict"]["status"] == "unknown"
    assert "outcome unknown" in report["header"]["verdict"]["text"]


def test_tables_that_say_nothing_are_left_out_with_one_line(tmp_path, capsys):
    _, markdown, html = report_files(tmp_path, quiet_run(tmp_path))
    assert "None of the 6 common errors was seen (table left out)." in markdown
    assert "| error | seen |" not in markdown and "Connection timeout" not in html
    builder = RunBuilder(seconds=10).entry("GET", "depth", 10, failures=1)
    builder.failure("GET", "depth", "rate_limited: -1003 HTTP 429", 10, first=0, last=9)
    _, markdown, _ = report_files(tmp_path, builder.write(tmp_path / "limited"))
    assert "| error | seen | share | cause | fix |" in markdown and "left out" not in markdown


def test_users_against_throughput_is_drawn_only_when_the_user_count_varied(tmp_path):
    ramp_up_then_constant = [2] * 3 + [4] * 27
    constant = analyse(quiet_run(tmp_path, "constant", seconds=30, users=ramp_up_then_constant))
    assert len(constant.capacity.levels) == 2 and users_chart(constant) is None
    assert "users_throughput.png" not in {c.file for c in draw_all(constant)}
    stepped = analyse(quiet_run(tmp_path, "stepped", seconds=30, users=[2] * 10 + [4] * 10 + [8] * 10))
    figure = users_chart(stepped)
    assert figure is not None
    plt.close(figure)


def legend_texts(axis) -> list[str]:
    legend = axis.get_legend()
    return [] if legend is None else [t.get_text() for t in legend.get_texts()]


def test_every_websocket_stream_is_in_both_legends_with_one_style_per_stream(tmp_path):
    builder = RunBuilder(seconds=12)
    streams = [f"{s}@{kind}" for s in ("btcusdt", "ethusdt", "solusdt") for kind in ("trade", "bookTicker")]
    for i, name in enumerate(streams):
        builder.entry("WS", name, 20 + i, latency_ms=None if "bookTicker" in name else 3.0)
    builder.entry("WS", "connect", [1] + [0] * 11, latency_ms=10.0)
    analysis = analyse(builder.write(tmp_path / "run"))
    figure = websocket_chart(analysis)
    rate_axis, latency_axis = figure.axes
    assert sorted(legend_texts(rate_axis)) == sorted(streams)  # six streams: more than the REST charts' five
    assert sorted(legend_texts(latency_axis)) == sorted(s for s in streams if "bookTicker" not in s)
    styles = {line.get_label(): (line.get_color(), line.get_linestyle(), line.get_marker())
              for line in rate_axis.get_lines()}
    assert len(set(styles.values())) == len(streams)
    for line in latency_axis.get_lines():  # a stream looks the same in both panels
        assert (line.get_color(), line.get_linestyle(), line.get_marker()) == styles[line.get_label()]
    plt.close(figure)


def test_latency_has_a_legend_on_every_panel_and_identical_lines_stay_visible(tmp_path):
    builder = RunBuilder(seconds=12)
    for name in ("depth", "time", "ticker"):
        builder.entry("GET", name, 10, latency_ms=5.0)  # three identical lines
    figure = latency_chart(analyse(builder.write(tmp_path / "run")))
    for axis in figure.axes:
        assert sorted(legend_texts(axis)) == ["GET depth", "GET ticker", "GET time"]
        widths = [line.get_linewidth() for line in axis.get_lines()]
        assert widths == sorted(widths, reverse=True) and len(set(widths)) == 3  # later lines thinner, on top
        assert len({line.get_linestyle() for line in axis.get_lines()}) == 3
    plt.close(figure)


def test_html_charts_are_interactive_and_self_contained(tmp_path, capsys):
    report, markdown, html = report_files(tmp_path, quiet_run(tmp_path))
    charts = report["charts"]
    assert charts and html.count('<figure class="chart"><svg') == len(charts)
    assert all(f"]({c['file']})" in markdown for c in charts)  # the Markdown keeps its PNGs
    assert "data:image/png" not in html
    titles = re.findall(r'<circle cx="[\d.]+" cy="[\d.]+" r="4"><title>([^<]*)</title>', html)
    assert "REST requests/s: 15 at run time (s) 5" in titles  # hover: the series, its value and when
    assert html.count("<script>") == 1 and 'addEventListener("dblclick"' in html and "viewBox" in html
    assert not re.search(r'(src|href)="(?!data:|#)', html) and "<script src" not in html and "<link" not in html
    external = set(re.findall(r"https?://[^\"'<> ]+", html)) - {"http://www.w3.org/2000/svg",
                                                                 "http://www.w3.org/1999/xlink"}
    assert external == {"http://127.0.0.1:9/binance"}  # only the run's target, as text in the header


@pytest.mark.e2e
def test_in_a_browser_a_chart_shows_a_points_values_and_zooms(tmp_path, capsys):
    """report.html in headless Chromium, driven by real mouse events: hovering a point highlights it (its <title> is
    the browser's tooltip), dragging a rectangle zooms into it, a double click zooms back out."""
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (requirements-dev.txt)")
    chromium, driver_path = shutil.which("chromium") or shutil.which("chromium-browser"), shutil.which("chromedriver")
    if chromium is None or driver_path is None:
        pytest.skip("no headless browser: install Debian's chromium and chromium-driver (make test does, as root)")
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    report_files(tmp_path, quiet_run(tmp_path))
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--window-size=1280,1000",
                 f"--user-data-dir={tempfile.mkdtemp(prefix='chromium-')}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(driver_path))
    try:
        driver.get((tmp_path / "out" / "report.html").as_uri())
        svg = driver.find_element(By.CSS_SELECTOR, "figure.chart svg")
        driver.execute_script("arguments[0].scrollIntoView()", svg)
        def view_box() -> list[float]:
            return [float(v) for v in driver.execute_script("return arguments[0].getAttribute('viewBox')", svg).split()]

        home = view_box()
        point = svg.find_element(By.CSS_SELECTOR, ".points circle:nth-child(5)")
        assert point.find_element(By.TAG_NAME, "title").get_attribute("textContent").startswith("REST requests/s: ")
        ActionChains(driver).move_to_element(point).perform()
        assert point.value_of_css_property("fill") != "rgba(0, 0, 0, 0)"  # highlighted under the mouse
        ActionChains(driver).move_to_element_with_offset(svg, -150, -60).click_and_hold() \
            .move_by_offset(200, 120).release().perform()
        zoomed = view_box()
        assert zoomed[2] < home[2] / 2 and zoomed[3] < home[3] / 2
        ActionChains(driver).double_click(svg).perform()
        assert view_box() == home
    finally:
        driver.quit()


def test_the_docs_show_screenshots_of_the_report():
    docs = Path(__file__).resolve().parent.parent / "docs"
    images = re.findall(r"!\[[^\]]*\]\((images/report-[^)]+)\)", (docs / "analysis.md").read_text(encoding="utf-8"))
    assert len(images) >= 3 and all((docs / image).read_bytes().startswith(b"\x89PNG") for image in images)


@pytest.mark.e2e
def test_the_docs_screenshot_command_takes_one_of_a_report(tmp_path, capsys):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("no headless browser: install Debian's chromium")
    report_files(tmp_path, quiet_run(tmp_path))
    shot = tmp_path / "shot.png"
    subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", f"--screenshot={shot}",
                    f"--user-data-dir={tempfile.mkdtemp(prefix='chromium-')}",
                    (tmp_path / "out" / "report.html").as_uri()], capture_output=True, timeout=60, check=True)
    assert shot.read_bytes().startswith(b"\x89PNG")
