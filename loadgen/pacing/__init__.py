"""Pacing: arrivals, cluster budget, weight limiter, backoff, breaker, and the scenario plans."""
