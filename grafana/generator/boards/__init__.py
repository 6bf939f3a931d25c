"""One module per dashboard; each `build()` returns its grafana-foundation-sdk builder."""
