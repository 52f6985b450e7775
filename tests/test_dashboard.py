"""The Grafana dashboard and the compose profile `monitoring`: the files are well-formed and refer to each other
(dashboard, Grafana's provisioning, Prometheus' config, docker-compose.yml). Nothing here starts Grafana: its image
cannot be pulled here. tests/test_e2e_dashboard.py runs every panel's PromQL against a real Prometheus."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
MONITORING = REPO_ROOT / "monitoring"
DASHBOARD = MONITORING / "grafana" / "dashboards" / "exchange-stress.json"
COMPOSE = REPO_ROOT / "docker-compose.yml"
VARIABLE = re.compile(r"\$\{?(\w+)")
GRAFANA_BUILTINS = {"__rate_interval", "__interval", "__range"}
QUESTIONS = ("Rate-limit headroom", "Latency under load", "WebSocket health", "Errors by kind")


def dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text(encoding="utf-8"))


def panels() -> list[dict[str, Any]]:
    return [p for p in dashboard()["panels"] if p["type"] != "row"]


def expressions() -> list[str]:
    return [t["expr"] for p in panels() for t in p["targets"]]


def services() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))["services"]


def mounts(service: str) -> dict[Path, str]:
    """A service's bind mounts: the repo's path -> the container's path."""
    out = {}
    for volume in services()[service]["volumes"]:
        source, target = volume.split(":")[:2]
        out[(REPO_ROOT / source).resolve()] = target
    return out


def container_path(service: str, path: Path) -> str:
    for source, target in mounts(service).items():
        if path.resolve().is_relative_to(source):
            return str(Path(target) / path.resolve().relative_to(source))
    raise AssertionError(f"{path} is not mounted into {service}")


def test_the_dashboard_answers_each_question_in_its_row() -> None:
    rows = [p["title"] for p in dashboard()["panels"] if p["type"] == "row"]
    for question in QUESTIONS:
        assert any(r.startswith(question) for r in rows), question
    board = dashboard()
    assert board["schemaVersion"] >= 39 and board["uid"] and board["title"]
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids))
    for p in panels():
        assert p["type"] in ("timeseries", "stat") and p["title"] and p["description"] and p["targets"]
        assert p["gridPos"]["x"] >= 0 and p["gridPos"]["x"] + p["gridPos"]["w"] <= 24
        refs = [t["refId"] for t in p["targets"]]
        assert len(refs) == len(set(refs)), p["title"]
        for override in p["fieldConfig"]["overrides"]:
            assert override["matcher"]["options"] in refs, p["title"]


def test_the_datasource_is_a_variable_and_the_exchange_a_template_variable() -> None:
    variables = {v["name"]: v for v in dashboard()["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    exchange = variables["exchange"]
    assert exchange["type"] == "query" and exchange["includeAll"] and exchange["multi"]
    assert "exchange_stress_requests_total" in exchange["query"]["query"]
    # No datasource UID of someone's instance: every panel, target and variable uses the variable.
    uids = {d["uid"] for p in panels() for d in (p["datasource"], *(t["datasource"] for t in p["targets"]))}
    assert uids == {"${datasource}"} == {exchange["datasource"]["uid"]}
    for expr in expressions():
        assert set(VARIABLE.findall(expr)) <= {*variables, *GRAFANA_BUILTINS}, expr
    assert all("$exchange" in e for e in expressions() if "exchange_stress_" in e and "users" not in e
               and "workers" not in e), "every exchange figure follows the Exchange variable"


def test_grafana_is_provisioned_with_the_profiles_prometheus_and_the_dashboard() -> None:
    grafana = services()["grafana"]
    provisioning = MONITORING / "grafana" / "provisioning"
    assert container_path("grafana", provisioning) == "/etc/grafana/provisioning"
    (source,) = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text())["datasources"]
    assert source["type"] == "prometheus" and source["isDefault"]
    port = services()["prometheus"]["ports"][0].rsplit(":", 1)[1]
    assert source["url"] == f"http://prometheus:{port}"  # the compose service, on its container port
    scrape = yaml.safe_load((MONITORING / "prometheus.yml").read_text())
    assert source["jsonData"]["timeInterval"] == scrape["global"]["scrape_interval"]
    (provider,) = yaml.safe_load((provisioning / "dashboards" / "exchange-stress.yml").read_text())["providers"]
    assert provider["type"] == "file"
    assert provider["options"]["path"] == container_path("grafana", DASHBOARD.parent)
    home = grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert home == container_path("grafana", DASHBOARD)
    assert grafana["profiles"] == services()["prometheus"]["profiles"] == ["monitoring"]
    assert all(p.startswith("127.0.0.1:") for s in ("grafana", "prometheus") for p in services()[s]["ports"])


def test_prometheus_scrapes_the_masters_metrics_port() -> None:
    command = services()["master"]["command"]
    port = command[command.index("--metrics-port") + 1]
    assert command[command.index("--metrics-host") + 1] == "0.0.0.0"  # reachable from the profile's Prometheus
    scrape = yaml.safe_load((MONITORING / "prometheus.yml").read_text())
    (job,) = scrape["scrape_configs"]
    assert job["static_configs"] == [{"targets": [f"master:{port}"]}]
    assert container_path("prometheus", MONITORING / "prometheus.yml") == "/etc/prometheus/prometheus.yml"
    assert "master" in services()["prometheus"]["depends_on"]
    if shutil.which("promtool") is None:
        pytest.skip("no promtool (Debian's prometheus package; .ci/run installs it)")
    check = subprocess.run(["promtool", "check", "config", str(MONITORING / "prometheus.yml")],
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr


def compose_commands() -> list[list[str]]:
    found = [["docker-compose"]] if shutil.which("docker-compose") else []
    if shutil.which("docker") and subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0:
        found.append(["docker", "compose"])
    return found


@pytest.mark.parametrize("compose", compose_commands() or [None], ids=lambda c: " ".join(c) if c else "no-compose")
def test_the_monitoring_profile_passes_compose_config(compose: list[str] | None) -> None:
    if compose is None:
        pytest.skip("neither docker-compose (apt-get install docker-compose) nor `docker compose` is installed")
    config = subprocess.run([*compose, "-f", str(COMPOSE), "--profile", "monitoring", "config"],
                            capture_output=True, text=True, cwd=REPO_ROOT)
    assert config.returncode == 0, config.stderr
    resolved = yaml.safe_load(config.stdout)["services"]
    assert {"master", "simulator", "worker", "prometheus", "grafana"} <= set(resolved)
    assert "--metrics-port" in resolved["master"]["command"]
