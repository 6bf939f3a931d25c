"""Who is calling: the demo has no login, so an X-User header names the user.

A real project gets request.user from django.contrib.auth; painel reads it the same way
(PAINEL["USER_FIELD"]) for the slow-request records.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class HeaderUser:
    """The parts of Django's user interface that the app and painel use."""

    username: str

    pk = None
    is_authenticated = property(lambda self: bool(self.username))
    is_anonymous = property(lambda self: not self.username)

    def get_username(self) -> str:
        return self.username


class HeaderUserMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.user = HeaderUser(request.headers.get("X-User", "").strip())
        return self.get_response(request)
