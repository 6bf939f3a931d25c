"""Real services started locally on free ports, and always stopped: redis-server, gunicorn,
a Celery worker, RabbitMQ, Prometheus, Alertmanager, painel-exporter and node_exporter as
processes.

The tests, the demo stack (`python -m demo.stack`) and the benchmarks start their processes
with these helpers; none of them touches services the machine already runs on standard
ports. Not part of the installed product: import it with the repository root on sys.path
(pytest, `python -m` from the root).
"""
