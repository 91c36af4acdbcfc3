"""Browser sessions: a signed, timestamped, HttpOnly, SameSite=Lax cookie holding a random id.

The signature carries the time the cookie was issued; a cookie older than
``max_age`` seconds is no session at all (events answer 403, a page view
mints a new session).

The raw session id never leaves this module except inside the signed cookie:
conversations record ``owner(sid)``, a keyed hash, so a leaked conversation
URL (or a stolen store file) cannot be turned into someone's session.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Mapping
from typing import Any

from itsdangerous import BadSignature, TimestampSigner
from starlette.requests import HTTPConnection, Request
from starlette.responses import Response

COOKIE = "stube_sid"
#: How long a session cookie is honoured unless the app says otherwise (30 days).
MAX_AGE = 30 * 86400


class Sessions:
    def __init__(self, secret: str | bytes, *, cookie: str = COOKIE, max_age: int = MAX_AGE) -> None:
        self._key = secret.encode() if isinstance(secret, str) else secret
        self._signer = TimestampSigner(self._key, salt="stube.session")
        self.cookie = cookie
        self.max_age = max_age
        self._verified: dict[str, tuple[str, float]] = {}
        self._owners: dict[str, str] = {}
        self._by_header: dict[str, tuple[str, float]] = {}  # Cookie header -> (owner, issued at)
        #: Session ids given up at a rotation (sid -> when), refused by :meth:`read` in this process.
        self._revoked: dict[str, float] = {}

    def read(self, conn: HTTPConnection) -> str | None:
        """The session id from a valid cookie, or ``None``.

        A browser may send several cookies of this name (another stube app in the
        same host, under another path); the first one signed with our key wins.
        """
        found = self._read(conn.headers.get("cookie", ""))
        return found[0] if found is not None else None

    def _read(self, header: str) -> tuple[str, float] | None:
        """:meth:`read` from a ``Cookie`` header: the session id and when its cookie was issued."""
        now = time.time()
        for raw in self._values(header):
            known = self._verified.get(raw)
            if known is None:
                try:
                    value, issued = self._signer.unsign(raw, return_timestamp=True)
                    known = (value.decode(), issued.timestamp())
                except (BadSignature, UnicodeDecodeError, ValueError, OverflowError):
                    continue
                # Checking a signature costs two HMACs per request; a browser sends the same
                # cookie every time, so remember the ones that passed (a bounded number).
                if len(self._verified) >= 4096:
                    self._verified.clear()
                self._verified[raw] = known
            sid, issued_at = known
            if now - issued_at > self.max_age or sid in self._revoked:
                continue  # expired or rotated away: as good as no cookie
            return sid, issued_at
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
        return self.mint(), True

    def mint(self) -> str:
        """A new random session id."""
        return secrets.token_urlsafe(24)

    def revoke(self, sid: str) -> None:
        """Refuse ``sid``'s cookie from now on (in this process): its session was rotated away.

        Entries older than ``max_age`` are dropped (such a cookie has expired anyway);
        beyond 65,536 the oldest go first.
        """
        now = time.time()
        self._revoked[sid] = now
        self._by_header.clear()  # owners proved by a Cookie header: one may carry ``sid``
        while self._revoked:
            first, when = next(iter(self._revoked.items()))
            if now - when <= self.max_age and len(self._revoked) <= 65536:
                break
            del self._revoked[first]

    def owner(self, sid: str) -> str:
        """What a conversation stores about the session that minted it."""
        owner = self._owners.get(sid)
        if owner is None:
            owner = hmac.new(self._key, b"owner:" + sid.encode(), hashlib.sha256).hexdigest()[:32]
            if len(self._owners) >= 4096:
                self._owners.clear()
            self._owners[sid] = owner
        return owner

    def set_cookie(self, response: Response, sid: str, *, secure: bool, path: str = "/") -> None:
        response.set_cookie(
            self.cookie,
            self._signer.sign(sid.encode()).decode(),
            # No Max-Age: the cookie still ends with the browser session; the signed
            # timestamp is what bounds it on the server (``max_age``).
            path=path or "/",
            httponly=True,
            samesite="lax",
            secure=secure,
        )

    def attach_cookie(self, response: Response, sid: str, request: Request, *, path: str | None = None) -> None:
        """Send the session cookie for ``request`` (Secure over https; ``path`` defaults to the prefix)."""
        self.set_cookie(response, sid, secure=request.url.scheme == "https",
                        path=path if path is not None else request.scope.get("root_path") or "/")

    def owns(self, conn: HTTPConnection, conv: dict[str, Any]) -> bool:
        """Does this request's session own the conversation? (Owner-less ones are open.)"""
        return self.owns_cookie(conn.headers.get("cookie", ""), conv)

    def owns_cookie(self, header: str, conv: dict[str, Any]) -> bool:
        """:meth:`owns`, given the request's ``Cookie`` header.

        Every event asks, with the same ``Cookie`` header each time: the owner
        it proves (and when its cookie was issued) is remembered by header.
        """
        owner = conv.get("owner")
        if owner is None:
            return True
        known = self._by_header.get(header)
        if known is None or time.time() - known[1] > self.max_age:
            found = self._read(header)
            if found is None:
                return False
            known = (self.owner(found[0]), found[1])
            if len(self._by_header) >= 4096:
                self._by_header.clear()
            self._by_header[header] = known
        return hmac.compare_digest(known[0], owner)


def cross_origin(request: Request, trusted: frozenset[str], headers: Mapping[str, str] | None = None) -> str | None:
    """Why a state-changing request looks forged (``None`` when it does not).

    Browsers send ``Sec-Fetch-Site`` and ``Origin`` on every POST; a request with
    neither (curl, tests, old clients) is allowed: SameSite=Lax and the session
    check still apply. ``headers``: the request's headers already read into a dict.
    """
    found = headers if headers is not None else request.headers
    site = found.get("sec-fetch-site")
    if site in ("cross-site", "same-site"):
        return f"Sec-Fetch-Site: {site}"
    origin = found.get("origin")
    if origin is not None:
        own = f"{request.url.scheme}://{request.url.netloc}".lower()
        if origin.rstrip("/").lower() not in trusted | {own}:
            return f"Origin: {origin[:100]}"
    return None
