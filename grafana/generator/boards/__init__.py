"""One module per dashboard: one small function per panel, and `build()` composing them into
the grafana-foundation-sdk dashboard builder."""
