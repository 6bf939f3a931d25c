"""What produces grafana/dashboards/*.json: the boards (one module each), the panel
building blocks they share, and `generate`, the command that writes the JSON."""
