"""Live metrics of a run for scrapers and exporters."""
