"""The suite's additions to Locust's web UI."""
