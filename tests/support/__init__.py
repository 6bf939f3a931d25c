"""Start and stop the real services the tests talk to, on free local ports.

Every helper here starts a real process (redis-server, gunicorn, celery, prometheus, the
exporter) and stops it afterwards; none of them touches services the machine already runs
on standard ports.
"""
