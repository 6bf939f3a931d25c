"""Speed against the peers, printed as ratios: run each with `python -m benchmarks.<name>` from
the repository root (see the README's Benchmarks section)."""
