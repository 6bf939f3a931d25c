"""Checks on the generated dashboards' JSON (used by tests only): every panel query with
Grafana's variables substituted (`queries`), and the dashboard-linter rules (`lint`)."""
