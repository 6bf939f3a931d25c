"""painel's demo: a small multi-tenant Django shop with Redis and Celery, and its load.

Nothing is imported here: importing `demo.load` or `demo.stack` (the load generator and the
local stack runner) must not configure Django in the importing process. The Celery app is
bound when Django starts, in `demo.apps.DemoConfig.ready`, and `celery -A demo` finds
`demo.celery.app` by itself.
"""
