"""The runner (`python -m loadgen`) and the end of a run: processes, stopping, summary, final files."""
