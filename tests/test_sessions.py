"""Sessions: the signed, timestamped cookie; the owner hash; what counts as a cross-origin request."""

from __future__ import annotations

import time

import pytest
from itsdangerous import TimestampSigner
from starlette.requests import Request
from starlette.responses import Response

from stube.sessions import COOKIE, Sessions, cross_origin

SECRET = b"sessions-test"


def request(*, cookie: str | None = None, scheme: str = "http", root_path: str = "",
            headers: dict[str, str] | None = None) -> Request:
    raw = [(b"host", b"app.example")]
    if cookie is not None:
        raw.append((b"cookie", cookie.encode()))
    raw += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    return Request({"type": "http", "method": "POST", "path": "/", "root_path": root_path, "scheme": scheme,
                    "query_string": b"", "headers": raw, "server": ("app.example", 80)})


def cookie_of(response: Response) -> str:
    header = response.headers["set-cookie"]
    return header.split(";", 1)[0].split("=", 1)[1]


def signed_at(sid: str, when: float) -> str:
    class Then(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(when)

    return Then(SECRET, salt="stube.session").sign(sid).decode()


def test_a_minted_cookie_reads_back_as_its_session() -> None:
    s = Sessions(SECRET)
    sid, minted = s.ensure(request())
    assert minted
    response = Response()
    s.attach_cookie(response, sid, request())
    value = cookie_of(response)
    assert s.ensure(request(cookie=f"{COOKIE}={value}")) == (sid, False)


def test_the_cookie_is_httponly_lax_and_secure_over_https_under_the_prefix() -> None:
    s = Sessions(SECRET)
    response = Response()
    s.attach_cookie(response, "abc", request(scheme="https", root_path="/widgets"))
    header = response.headers["set-cookie"].lower()
    assert "httponly" in header and "samesite=lax" in header and "secure" in header
    assert "path=/widgets" in header
    plain = Response()
    s.attach_cookie(plain, "abc", request(), path="/")
    assert "secure" not in plain.headers["set-cookie"].lower()


def test_a_cookie_older_than_max_age_is_no_session() -> None:
    s = Sessions(SECRET, max_age=3600)
    assert s.read(request(cookie=f"{COOKIE}={signed_at('abc', time.time() - 3000)}")) == "abc"
    old = signed_at("abc", time.time() - 3700)
    assert s.read(request(cookie=f"{COOKIE}={old}")) is None
    assert s.ensure(request(cookie=f"{COOKIE}={old}"))[1] is True  # a page view mints a new one


def test_an_expired_cookie_stays_expired_after_it_was_once_accepted() -> None:
    s = Sessions(SECRET, max_age=3600)
    value = signed_at("abc", time.time() - 3599)
    assert s.read(request(cookie=f"{COOKIE}={value}")) == "abc"  # now remembered as verified
    s.max_age = 60  # as if an hour had passed (the cache keeps the issue time, not the verdict)
    assert s.read(request(cookie=f"{COOKIE}={value}")) is None


@pytest.mark.parametrize("value", [
    "abc",                                             # unsigned
    "abc.AAAAAA.forged",                               # a made-up signature
    TimestampSigner(b"other key", salt="stube.session").sign("abc").decode(),
])
def test_forged_cookies_are_no_session(value: str) -> None:
    assert Sessions(SECRET).read(request(cookie=f"{COOKIE}={value}")) is None


def test_the_first_valid_cookie_of_several_wins() -> None:
    s = Sessions(SECRET)
    good = signed_at("mine", time.time())
    assert s.read(request(cookie=f"{COOKIE}=junk; other=1; {COOKIE}={good}")) == "mine"


def test_owner_hashes_are_stable_keyed_and_not_the_session_id() -> None:
    a, b = Sessions(SECRET), Sessions(b"another secret")
    assert a.owner("abc") == Sessions(SECRET).owner("abc")
    assert a.owner("abc") != b.owner("abc") and "abc" not in a.owner("abc")
    conv = {"owner": a.owner("abc")}
    assert a.owns(request(cookie=f"{COOKIE}={signed_at('abc', time.time())}"), conv)
    assert not a.owns(request(cookie=f"{COOKIE}={signed_at('xyz', time.time())}"), conv)
    assert not a.owns(request(), conv)
    assert a.owns(request(), {"owner": None})


@pytest.mark.parametrize("headers,refused", [
    ({}, False),
    ({"Sec-Fetch-Site": "same-origin"}, False),
    ({"Sec-Fetch-Site": "none"}, False),  # typed into the address bar, a bookmark
    ({"Sec-Fetch-Site": "same-site"}, True),
    ({"Sec-Fetch-Site": "cross-site"}, True),
    ({"Origin": "http://app.example"}, False),
    ({"Origin": "HTTP://APP.EXAMPLE/"}, False),
    ({"Origin": "https://app.example"}, True),  # another scheme is another origin
    ({"Origin": "http://app.example:8080"}, True),
    ({"Origin": "null"}, True),
    ({"Origin": "https://trusted.example"}, False),
])
def test_cross_origin(headers: dict[str, str], refused: bool) -> None:
    why = cross_origin(request(headers=headers), frozenset({"https://trusted.example"}))
    assert (why is not None) is refused
