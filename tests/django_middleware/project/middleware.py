"""Stands in for an auth backend: the tests name the user in a header."""

from types import SimpleNamespace


class HeaderUserMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        name = request.META.get("HTTP_X_TEST_USER")
        if name:
            request.user = SimpleNamespace(
                pk=len(name), is_authenticated=True, get_username=lambda: name
            )
        return self.get_response(request)
