"""A bounded, seeded fuzz of the whole wire (issue 10, item 3): no input may produce a 500.

Thousands of requests (``STUBE_FUZZ_REQUESTS``, default 5,200; ``STUBE_FUZZ_SEED`` picks the
sequence) go through Starlette's TestClient in-process: events to every parameter type, form,
query and multipart bodies (text parts named ``files``, junk field names, huge and odd values,
invalid UTF-8), the back route, the no-JavaScript path, SSE with odd ``?v=`` and
``Last-Event-ID`` values (a short read each), and page views with odd ``?cv=``. The test then
asserts that

- no answer was a 5xx,
- no handler received a value its annotation does not allow, or one that is not JSON,
- every conversation's value is strict JSON (no NaN, no lone surrogate) and its page renders (200).

Run with ``-s`` to see the answers counted by status code.
"""

from __future__ import annotations

import json
import math
import os
import random
import re
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal, Optional

import pytest
from starlette.testclient import TestClient

import stube
from stube import Component, back, end, event
from stube.jsonstate import is_json

SEED = int(os.environ.get("STUBE_FUZZ_SEED", "20261201"))
REQUESTS = int(os.environ.get("STUBE_FUZZ_REQUESTS", "5200"))
PAGES = 12
HX = {"HX-Request": "true"}

#: What handlers received that their annotation does not allow (filled while fuzzing).
VIOLATIONS: list[str] = []


def _check(name: str, value: Any, ok: Callable[[Any], bool]) -> None:
    if not is_json(value) or not ok(value):
        VIOLATIONS.append(f"{name} received {_short(repr(value))}")


def _is_int(v: Any) -> bool:
    return type(v) is int


def _is_str(v: Any) -> bool:
    return type(v) is str


def _from_parser(descriptor: Any) -> bool:
    """An upload descriptor the multipart parser made: its temporary file, nothing a client chose."""
    path = str(descriptor.get("path", "")) if isinstance(descriptor, dict) else ""
    return os.path.dirname(path) == tempfile.gettempdir() and os.path.basename(path).startswith("stube-upload-")


def _short(text: str, n: int = 160) -> str:
    return text if len(text) <= n else f"{text[:n]}... ({len(text)} chars)"


class Fuzzed(Component):
    """One handler per parameter type; each keeps what it got, so it reaches state."""

    name = "fuzz/target"
    fields = ("draft",)
    template_string = """<div {{ root() }}><form>
<input name="draft" value="{{ self.draft }}"><button {{ on("step") }}>step</button>
<button {{ on("count", v=1) }}>count</button>{{ back_button("Back") }}</form>
<p class="last">{{ self.last | tojson }}</p><p class="text">{{ self.text }}</p><p>{{ self.steps }}</p>
<ul>{% for k, v in self.extra.items() %}<li>{{ k }}={{ v }}</li>{% endfor %}</ul></div>"""

    def __init__(self) -> None:
        self.draft = ""
        self.last: Any = None
        self.text = ""
        self.steps = 0
        self.extra: dict[str, Any] = {}

    def _keep(self, value: Any) -> None:
        self.last = value[:2000] if isinstance(value, str) else value

    @event
    def step(self) -> None:
        self.steps += 1

    @event
    def text_(self, v: str) -> None:
        _check("str", v, _is_str)
        self.text = v[:500]

    @event
    def count(self, v: int) -> None:
        _check("int", v, _is_int)
        self._keep(v)

    @event
    def ratio(self, v: float) -> None:
        _check("float", v, lambda x: type(x) is float and math.isfinite(x))
        self._keep(v)

    @event
    def flag(self, v: bool) -> None:
        _check("bool", v, lambda x: type(x) is bool)
        self._keep(v)

    @event
    def choice(self, v: Literal["a", "b", 3]) -> None:
        _check("Literal", v, lambda x: x in ("a", "b", 3))
        self._keep(v)

    @event
    def maybe(self, v: Optional[int] = None) -> None:  # noqa: UP045 - typing.Optional on purpose
        _check("Optional[int]", v, lambda x: x is None or _is_int(x))
        self._keep(v)

    @event
    def either(self, v: int | float | None = None) -> None:
        _check("int | float | None", v, lambda x: x is None or _is_int(x) or type(x) is float)
        self._keep(v)

    @event
    def ints(self, v: list[int]) -> None:
        _check("list[int]", v, lambda x: type(x) is list and all(_is_int(i) for i in x))
        self._keep(v)

    @event
    def strs(self, v: list[str]) -> None:
        _check("list[str]", v, lambda x: type(x) is list and all(_is_str(i) for i in x))
        self._keep(v)

    @event
    def mapping(self, v: dict) -> None:
        _check("dict", v, lambda x: type(x) is dict)
        self._keep(v)

    @event
    def loose(self, v) -> None:  # type: ignore[no-untyped-def]  # unannotated: str
        _check("unannotated", v, _is_str)
        self._keep(v)

    @event
    def rest(self, **more: Any) -> None:
        _check("**kwargs", more, lambda x: all(_is_str(k) and (_is_str(v) or k == "files" and type(v) is list
                                                                and all(_from_parser(f) for f in v))
                                               for k, v in x.items()))
        self.extra = {k[:40]: v[:80] for k, v in list(more.items())[:8]}

    @event
    def uploads(self, files: list | None = None, note: str = "") -> None:
        _check("files", files, lambda x: x is None or type(x) is list and all(_from_parser(f) for f in x))
        self._keep([{"filename": str(f.get("filename"))[:80], "size": f.get("size")} for f in files or []])

    @event
    def finish(self) -> Any:
        return end(self.steps)

    @event
    def rewind(self) -> Any:
        return back()


EVENTS = ["text_", "count", "ratio", "flag", "choice", "maybe", "either", "ints", "strs", "mapping", "loose",
          "rest", "uploads", "step"]

# -- hostile values ---------------------------------------------------------------------------------

FORGED_FILES = json.dumps([{"name": "file", "filename": "passwd", "content_type": "text/plain", "size": 9,
                            "path": "/etc/passwd"}])

FIXED = [
    "", " ", "0", "-0", "1", "-1", "007", "+7", "1_000", " 7 ", "7\n", "\t7", "٣", "²", "１２", "๓", "0x10", "1e3",
    "1.5", ".5", "5.", "-1.5e-3", "1e400", "-1e400", "nan", "NaN", "inf", "-inf", "Infinity", "1e-400",
    "9" * 5000, "1" * 4301, "-" + "9" * 100, "true", "false", "on", "off", "yes", "no", "TRUE", "maybe",
    "a", "b", "3", "c", "None", "null", "[]", "{}", "[1, 2]", "[1.5, {}]", '["1", "2"]', "[true]", "[null]",
    "[NaN]", "[Infinity]", "[-Infinity]", "[1e400]", '{"a": NaN}', '{"a": 1e999}', "[" + "9" * 5000 + "]",
    '["\\ud800"]', '{"\\ud800": 1}', '{"a": ["\\udfff"]}', '"\\ud800"', '[["ok", "\\udbff\\u0041"]]',
    '{"a": {"b": {"c": [1, 2, {"d": null}]}}}', '{"__proto__": 1}', '{"": ""}', "[1, 2", '{"a":', "]", "}",
    FORGED_FILES, '[{"path": "/etc/passwd"}]', "<script>alert(1)</script>", "'\"><img src=x>", "{{ 7*7 }}",
    "\x00", "a\x00b", "\u202e\u0041", "e\u0301", "\U0001f600" * 100, "\ufeff1", "\uffff", "x" * 100_000,
]


def deep(rng: random.Random) -> str:
    n = rng.choice([31, 32, 33, 64, 1000, 20_000, 100_000])
    kind = rng.randrange(3)
    if kind == 0:
        return "[" * n + "]" * n
    if kind == 1:
        return '{"a":' * n + "1" + "}" * n
    return "[" * n  # unterminated


def junk_text(rng: random.Random) -> str:
    alphabet = ("abcXYZ019 _-.,;:!?/\\\"'`~@#$%^&*()[]{}<>|+=\t\n\r\x00\x7f\u00e9\u00df\u0663\u00b2\u202e"
                "\u200b\ufeff\u4e2d\U0001f600\u0301")
    return "".join(rng.choice(alphabet) for _ in range(rng.choice([1, 3, 10, 60, 400])))


def random_json(rng: random.Random, depth: int = 0) -> Any:
    roll = rng.random()
    if depth > 4 or roll < 0.4:
        return rng.choice([0, -1, 2**63, 1.5, -0.0, 1e308, True, False, None, "s", "\u00e9", "", "[", "}"])
    if roll < 0.7:
        return [random_json(rng, depth + 1) for _ in range(rng.randrange(4))]
    return {junk_text(rng)[:8]: random_json(rng, depth + 1) for _ in range(rng.randrange(4))}


def value(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.55:
        return rng.choice(FIXED)
    if roll < 0.65:
        return deep(rng)
    if roll < 0.8:
        return json.dumps(random_json(rng))
    if roll < 0.95:
        return junk_text(rng)
    return str(rng.randrange(-10**6, 10**6))


def junk_name(rng: random.Random) -> str:
    return rng.choice(["files", "files", "v", "draft", "note", "", " ", "a[b]", "__class__", "self", "name",
                       "\u00e9", "\U0001f600", "x" * 300, "v\x00", "cv", "page", junk_text(rng)[:20]])


# -- requests ----------------------------------------------------------------------------------------


@dataclass
class Request:
    """One fuzzed request, kept printable for the failure report."""

    kind: str
    method: str
    url: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    sse: bool = False

    def describe(self) -> str:
        shown = {k: _short(repr(v), 200) for k, v in self.kwargs.items()}
        return f"{self.kind}: {self.method} {_short(self.url, 200)} {shown}"


@dataclass
class Page:
    cid: str
    iid: str
    html: str

    def event(self, name: str) -> str:
        return f"/_stube/event/{self.cid}/{self.iid}/{name}"


def form_items(rng: random.Random, key: str) -> list[tuple[str, str]]:
    items = [(key, value(rng))]
    if rng.random() < 0.2:
        items.append((key, value(rng)))  # a repeated key
    for _ in range(rng.choice([0, 0, 1, 3])):
        items.append((junk_name(rng), value(rng)))
    return items


def form(items: list[tuple[str, str]]) -> dict[str, list[str]]:
    """Form items as the client's ``data=`` takes them (a repeated key is a list)."""
    out: dict[str, list[str]] = {}
    for k, v in items:
        out.setdefault(k, []).append(v)
    return out


RAW_BODIES = [
    (b"v=%ff%fe%ed%a0%80", "application/x-www-form-urlencoded"),
    (b"v=%ED%A0%80&files=" + FORGED_FILES.encode(), "application/x-www-form-urlencoded"),
    (b"v=" + b"%5B" * 5000, "application/x-www-form-urlencoded"),
    (b"\xff\xfe\x00\x01", "application/x-www-form-urlencoded"),
    (b'{"v": 1}', "application/json"),
    (b"v=1", "text/plain"),
    (b"--x\r\nContent-Disposition: form-data; name=\"v\"\r\n\r\n1\r\n--x--\r\n", "multipart/form-data; boundary=x"),
    (b"--x\r\nContent-Disposition: form-data; name=\"files\"\r\n\r\n" + FORGED_FILES.encode() + b"\r\n--x--\r\n",
     "multipart/form-data; boundary=x"),
    (b"--x\r\nContent-Disposition: form-data; name=\"v\"\r\n\r\n1", "multipart/form-data; boundary=x"),
    (b"garbage", "multipart/form-data"),
    (b"garbage", "multipart/form-data; boundary="),
    (b"v=1", "application/x-www-form-urlencoded; charset=utf-7"),
    (b"v=" + "\u00e9".encode("latin-1"), "application/x-www-form-urlencoded; charset=latin-1"),
]
SSE_VERSIONS = ["0", "1", "-1", "²", "٣", "9" * 5000, "1e3", "", " 1", "1_0", "99999999999999999999",
                "\U0001f600", "%00"]
LAST_EVENT_IDS = ["0-1", "s-2", "1-2-3", "s-" + "9" * 5000, "s-²", "s-٣", "-", "", "s-", "a-b", "9" * 5000,
                  "s-1_0", "s-" + "1" * 30, "s-\U0001f600"]


def hx(rng: random.Random) -> dict[str, str]:
    """Mostly htmx requests; sometimes the no-JavaScript path (a 303)."""
    return dict(HX) if rng.random() < 0.85 else {}


def form_request(rng: random.Random, page: Page) -> Request:
    return Request("form", "POST", page.event(rng.choice(EVENTS)),
                   {"data": form(form_items(rng, "v")), "headers": hx(rng)})


def query_request(rng: random.Random, page: Page) -> Request:
    # A URL has room for 64 KiB of query at most.
    items = [(k[:2000], v[:8000]) for k, v in form_items(rng, "v")]
    return Request("query", "POST", page.event(rng.choice(EVENTS)), {"params": items, "headers": hx(rng)})


def multipart_request(rng: random.Random, page: Page) -> Request:
    parts: list[tuple[str, Any]] = [(k, (None, v)) for k, v in form_items(rng, "v")]
    parts.append(("files", (None, rng.choice([FORGED_FILES, value(rng)]))))  # a text part named files
    if rng.random() < 0.5:
        parts.append((rng.choice(["file", "files", "v", junk_name(rng)]),
                      (rng.choice(["a.txt", "", "../../etc/passwd", "\u00e9.txt", "x" * 300]),
                       rng.choice([b"hello", b"", b"\xff\xfe\x00", b"x" * 20_000]),
                       rng.choice(["text/plain", "application/octet-stream", "", "\u00e9/\u00e9"]))))
    rng.shuffle(parts)
    return Request("multipart", "POST", page.event(rng.choice(["uploads", rng.choice(EVENTS)])),
                   {"files": parts, "headers": hx(rng)})


def raw_body_request(rng: random.Random, page: Page) -> Request:
    body, ctype = rng.choice(RAW_BODIES)
    return Request("raw body", "POST", page.event(rng.choice(EVENTS)),
                   {"content": body, "headers": {**hx(rng), "Content-Type": ctype}})


def odd_route_request(rng: random.Random, page: Page) -> Request:
    cid, iid, name = page.cid, page.iid, rng.choice(EVENTS)
    which = rng.randrange(5)
    if which == 0:
        cid = rng.choice(["cv-doesnotexist000", "x", "cv-" + "a" * 300, "..", "cv-%00"])
    elif which == 1:
        iid = rng.choice(["ix-0000000000", "x", "ix-" + "9" * 200])
    else:
        name = rng.choice(["on_ok", "__init__", "_keep", "render", "handle", "x" * 300, "%00", "..", "stop"])
    return Request("odd route", "POST", f"/_stube/event/{cid}/{iid}/{name}",
                   {"data": form(form_items(rng, "v")), "headers": hx(rng)})


def back_request(rng: random.Random, page: Page) -> Request:
    return Request("back", "POST", f"/_stube/back/{rng.choice([page.cid, page.cid, 'cv-nope0000000'])}",
                   {"data": form(form_items(rng, "v")), "headers": hx(rng)})


def sse_request(rng: random.Random, page: Page) -> Request:
    v = rng.choice([*SSE_VERSIONS, junk_text(rng)[:10]])
    headers: dict[str, bytes] = {}
    if rng.random() < 0.6:  # bytes: sent as they are, UTF-8 and all
        last = rng.choice([*LAST_EVENT_IDS, re.sub(r"[\r\n\x00]", "", junk_text(rng)[:10])])
        headers["Last-Event-ID"] = last.encode("utf-8")
    cid = page.cid if rng.random() < 0.9 else "cv-gone00000000"
    return Request("sse", "GET", f"/_stube/sse/{cid}", {"params": {"page": junk_text(rng)[:10], "v": v},
                                                        "headers": headers}, sse=True)


def page_request(rng: random.Random, page: Page) -> Request:
    cv = rng.choice([page.cid, "x", "cv-" + "z" * 500, "", junk_text(rng)[:20]])
    return Request("page", "GET", "/", {"params": {"cv": cv}})


def lifecycle_request(rng: random.Random, page: Page) -> Request:
    """End a conversation, rewind it, or move it on (so back and 410 paths have something to do)."""
    return Request("lifecycle", "POST", page.event(rng.choice(["finish", "rewind", "step", "step"])),
                   {"headers": hx(rng)})


#: Each kind of request and its weight in the mix.
KINDS: list[tuple[Callable[[random.Random, Page], Request], float]] = [
    (form_request, 30), (query_request, 12), (multipart_request, 13), (raw_body_request, 7),
    (odd_route_request, 6), (back_request, 8), (sse_request, 12), (page_request, 7), (lifecycle_request, 5),
]


def make_request(rng: random.Random, pages: list[Page]) -> Request:
    make = rng.choices([k for k, _ in KINDS], weights=[w for _, w in KINDS])[0]
    return make(rng, rng.choice(pages))


def send(client: TestClient, req: Request) -> tuple[int, str]:
    if req.sse:
        with client.stream(req.method, req.url, **req.kwargs) as response:
            first = b""
            for chunk in response.iter_bytes():
                first = chunk
                break
            return response.status_code, first.decode("utf-8", "replace")
    response = client.request(req.method, req.url, follow_redirects=False, **req.kwargs)
    return response.status_code, response.text


def new_page(client: TestClient) -> Page:
    html = client.get("/").text
    cid = re.search(r'data-stube-cid="([^"]+)"', html).group(1)  # type: ignore[union-attr]
    iid = re.search(rf"/_stube/event/{cid}/([^/\"]+)/", html).group(1)  # type: ignore[union-attr]
    return Page(cid, iid, html)


def strict_json(value: Any) -> bool:
    """JSON a browser and any store can take: finite numbers, valid Unicode."""
    try:
        json.dumps(value, allow_nan=False, ensure_ascii=False).encode("utf-8")
    except (ValueError, TypeError, UnicodeEncodeError):
        return False
    return True


@pytest.fixture
def client() -> Iterator[TestClient]:
    app = stube.Stube(secret_key="fuzz-tests", sse_keepalive=5.0)
    app.mount("/", Fuzzed)
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def test_fuzzed_requests_never_answer_500_and_conversations_stay_renderable(client: TestClient) -> None:
    rng = random.Random(SEED)
    VIOLATIONS.clear()
    pages = [new_page(client) for _ in range(PAGES)]
    statuses: Counter[int] = Counter()
    by_kind: Counter[str] = Counter()
    failures: list[str] = []
    seconds: Counter[str] = Counter()
    failed_kinds: Counter[str] = Counter()
    for n in range(REQUESTS):
        req = make_request(rng, pages)
        by_kind[req.kind] += 1
        started = time.perf_counter()
        try:
            status, text = send(client, req)
        except Exception as exc:  # the client could not send it: reported, so the generator gets fixed
            status, text = -1, f"{type(exc).__name__}: {exc}"
        seconds[req.kind] += time.perf_counter() - started
        statuses[status] += 1
        if status >= 500 or status < 0:
            failures.append(f"#{n} {status} {req.describe()} -> {_short(text, 120)!r}")
            failed_kinds[req.kind] += 1
        if n % 50 == 49:  # ended conversations are replaced, so every kind of request keeps a target
            live = client.app.runtime.conversations  # type: ignore[attr-defined]
            pages = [p if p.cid in live and not live[p.cid].get("ended") else new_page(client) for p in pages]
    print(f"\nfuzz seed={SEED} requests={REQUESTS}: status {dict(sorted(statuses.items()))}")
    print(f"fuzz requests by kind: {dict(sorted(by_kind.items()))}")
    print(f"fuzz seconds by kind: { {k: round(v, 2) for k, v in sorted(seconds.items())} }")

    unrenderable = []
    live = client.app.runtime.conversations  # type: ignore[attr-defined]
    for cid, conv in list(live.items()):
        if not strict_json(conv):
            unrenderable.append(f"{cid}: its value is not strict JSON")
        if conv.get("ended"):
            continue
        r = client.get("/", params={"cv": cid})
        if r.status_code != 200:
            unrenderable.append(f"{cid}: GET of its page answered {r.status_code}")
    print(f"fuzz conversations checked: {len(live)}, handler violations: {len(VIOLATIONS)}, "
          f"5xx: {len(failures)}")

    report = []
    if failures:
        report.append(f"{len(failures)} requests answered 5xx (status counts {dict(sorted(statuses.items()))}; "
                      f"5xx by kind of request {dict(failed_kinds)}):")
        report.extend(f"  {f}" for f in failures[:60])
        if len(failures) > 60:
            report.append(f"  ... and {len(failures) - 60} more")
    if VIOLATIONS:
        report.append(f"{len(VIOLATIONS)} handler arguments broke their annotation or were not JSON:")
        report.extend(f"  {v}" for v in VIOLATIONS[:30])
    if unrenderable:
        report.append("conversations left broken:")
        report.extend(f"  {u}" for u in unrenderable[:30])
    assert not report, "\n".join(report)
