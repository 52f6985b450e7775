"""Locust users: REST, order bursts, failover, WebSocket streams, and what they are built on."""
