"""painel's demo: a small multi-tenant Django shop with Redis and Celery, and its load.

Importing the package does nothing on purpose (no settings, no Celery app): the load
generator and the stack runner import it from processes that are not the shop.
`celery -A demo worker` finds the app in demo/celery.py.
"""
