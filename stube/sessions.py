"""Browser sessions: a signed, HttpOnly, SameSite=Lax cookie holding a random id.

The raw session id never leaves this module except inside the signed cookie:
conversations record ``owner(sid)``, a keyed hash, so a leaked conversation
URL (or a stolen store file) cannot be turned into someone's session.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any

from itsdangerous import BadSignature, Signer
from starlette.requests import HTTPConnection
from starlette.responses import Response

COOKIE = "stube_sid"


class Sessions:
    def __init__(self, secret: str | bytes, *, cookie: str = COOKIE, max_age: int | None = None) -> None:
        self._key = secret.encode() if isinstance(secret, str) else secret
        self._signer = Signer(self._key, salt="stube.session")
        self.cookie = cookie
        self.max_age = max_age

    def read(self, conn: HTTPConnection) -> str | None:
        """The session id from a valid cookie, or ``None``.

        A browser may send several cookies of this name (another stube app in the
        same host, under another path); the first one signed with our key wins.
        """
        for raw in self._values(conn.headers.get("cookie", "")):
            try:
                return self._signer.unsign(raw).decode()
            except (BadSignature, UnicodeDecodeError):
                continue
        return None

    def _values(self, header: str) -> list[str]:
        prefix = self.cookie + "="
        return [part.strip()[len(prefix):].strip('"') for part in header.split(";")
                if part.strip().startswith(prefix)]

    def ensure(self, conn: HTTPConnection) -> tuple[str, bool]:
        """``(session id, minted)``: reuse the cookie's id, or mint a new one."""
        sid = self.read(conn)
        if sid is not None:
            return sid, False
        return secrets.token_urlsafe(24), True

    def owner(self, sid: str) -> str:
        """What a conversation stores about the session that minted it."""
        return hmac.new(self._key, b"owner:" + sid.encode(), hashlib.sha256).hexdigest()[:32]

    def set_cookie(self, response: Response, sid: str, *, secure: bool, path: str = "/") -> None:
        response.set_cookie(
            self.cookie,
            self._signer.sign(sid.encode()).decode(),
            max_age=self.max_age,
            path=path or "/",
            httponly=True,
            samesite="lax",
            secure=secure,
        )

    def owns(self, conn: HTTPConnection, conv: dict[str, Any]) -> bool:
        """Does this request's session own the conversation? (Owner-less ones are open.)"""
        owner = conv.get("owner")
        if owner is None:
            return True
        sid = self.read(conn)
        return sid is not None and hmac.compare_digest(self.owner(sid), owner)
