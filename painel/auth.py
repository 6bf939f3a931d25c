"""Basic auth and/or a bearer token, for the app's /metrics and the exporter alike.

Either configured credential lets a request in; with none configured every request does.
A refused request gets a 401 whose WWW-Authenticate lists every configured scheme (RFC 9110
section 11.6.1), so that a client holding either credential knows it may send it.
"""

from __future__ import annotations

import base64
import hmac


class HttpAuth:
    """Checks an `Authorization` header against the configured credentials."""

    def __init__(self, basic: tuple[str, str] | None, bearer_token: str | None, realm: str) -> None:
        self.basic = basic
        self.bearer_token = bearer_token or None
        self.realm = realm

    @property
    def required(self) -> bool:
        return self.basic is not None or self.bearer_token is not None

    def allows(self, authorization: str | None) -> bool:
        """True when the header carries a configured credential, or none is configured."""
        if not self.required:
            return True
        # the scheme is case-insensitive (RFC 9110), the credentials are not
        scheme, _, credentials = (authorization or "").strip().partition(" ")
        scheme, credentials = scheme.lower(), credentials.strip()
        # compare_digest: no timing hint about how much of a secret matched
        if self.bearer_token is not None and scheme == "bearer":
            return hmac.compare_digest(credentials.encode(), self.bearer_token.encode())
        if self.basic is not None and scheme == "basic":
            try:
                user, _, password = base64.b64decode(credentials).decode().partition(":")
            except ValueError:  # not base64 (binascii.Error), not ASCII, not UTF-8 underneath
                return False
            # both compared every time, so the timing does not tell which part was wrong
            user_ok = hmac.compare_digest(user.encode(), self.basic[0].encode())
            password_ok = hmac.compare_digest(password.encode(), self.basic[1].encode())
            return user_ok and password_ok
        return False

    def challenge(self) -> str:
        """The WWW-Authenticate value of a 401: every configured scheme, in one header."""
        schemes = [
            scheme
            for scheme, configured in (("Bearer", self.bearer_token), ("Basic", self.basic))
            if configured is not None
        ]
        return ", ".join(f'{scheme} realm="{self.realm}"' for scheme in schemes)
