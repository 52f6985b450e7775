"""The runner behind `python -m loadgen run|ui` (`make run`, `make ui`): the simulator and Locust as child
processes, their stopping in order, and the summary printed at the end. It never imports Locust: it reads the files
Locust writes."""
