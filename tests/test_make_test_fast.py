"""`make test-fast` (README, Development) runs every test that starts no Locust process, and none that does."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def test_make_test_fast_collects_the_tests_that_start_no_locust():
    """Collect-only, so that the suite does not run itself: the target's pytest runs are real, their tests listed."""
    env = os.environ | {"PYTEST_ADDOPTS": "--collect-only -q -p no:cacheprovider"}
    proc = subprocess.run(["make", "test-fast"], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    collected = [line for line in proc.stdout.splitlines() if "::" in line]
    files = {line.split("::")[0] for line in collected}
    assert "tests/test_sim_market.py" in files and "tests/gevent/test_loadgen_ws.py" in files
    assert not any(f.startswith("tests/test_e2e_") for f in files)
    assert not any("test_a_run_with_a_firehose_stream_still_stops_on_time" in line for line in collected)
    assert len(collected) > 500
