"""The end of a run inside Locust: every worker's final report merged before any file is written, the final CSV
snapshots, lost workers, and the order in which Locust's shutdown hooks run."""
