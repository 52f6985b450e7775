"""CI gates: threshold expressions, their evaluation and their reports."""
