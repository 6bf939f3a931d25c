"""A stand-in for django-tenants, and a quick way to name a user: the tests name the schema
and the user in headers (Django's own sessions and auth run before it, for the tests that
sign in). Sync and async capable, so under ASGI the whole chain stays async."""

from types import SimpleNamespace

from asgiref.sync import iscoroutinefunction, markcoroutinefunction


def _annotate(request):
    name = request.META.get("HTTP_X_TEST_USER")
    if name:
        request.user = SimpleNamespace(
            pk=len(name), is_authenticated=True, get_username=lambda: name
        )
    schema = request.META.get("HTTP_X_TEST_SCHEMA")
    if schema:
        request.tenant = SimpleNamespace(schema_name=schema)


class HeaderUserMiddleware:
    sync_capable = True
    async_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request):
        _annotate(request)
        return self.get_response(request)  # under ASGI a coroutine, which Django awaits
