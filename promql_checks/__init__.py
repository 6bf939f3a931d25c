"""Checks on PromQL, for the Prometheus rules and the dashboards alike (used by tests only):
what an expression selects and reads (`expressions`), which metrics exist and their labels
(`catalog`), and durations (`durations`). Nothing here imports the dashboards."""
