"""The gallery as a whole: the catalogue, the landing page, every mount over HTTP,
and the no-JavaScript path of the stock dialogs."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from starlette.testclient import TestClient

from demos import app as gallery_app
from demos.catalogue import CATALOGUE, GROUPS, by_group
from demos.testing import Node, dom
from stube import Component

# Every route of the reference gallery we port (signal-mirror, sketch and kasten are Datastar-specific).
REFERENCE_ROUTES = {
    "/breadcrumb", "/calc", "/calendar", "/chat", "/clock", "/columns", "/dialogs", "/error-answer",
    "/error-frame", "/file-upload", "/guess", "/multicounter", "/paginated-list", "/preserved-widget",
    "/protected-counter", "/reading-list", "/seaside-todo", "/shared-counter", "/table-report", "/tabs",
    "/todo", "/tree", "/url-counter", "/wizard",
}

HEADINGS = {
    "/breadcrumb": "Breadcrumb decoration", "/calc": "Calculator", "/chat": "Chat", "/clock": "Timers",
    "/columns": "Columns", "/counter": "Counter", "/error-answer": "answer-error demo",
    "/error-frame": "Error frame demo", "/file-upload": "File upload", "/multicounter": "Multicounter",
    "/paginated-list": "Paginated list", "/preferences": "Preferences", "/preserved-widget": "Preserved widget",
    "/protected-counter": "Protected counter", "/reading-list": "Reading list",
    "/seaside-todo": "ToDo Application", "/shared-counter": "Shared counter", "/table-report": "Table report",
    "/tabs": "Tabbed navigation", "/todo": "Todo", "/tree": "Tree", "/url-counter": "URL-state counter",
    "/wizard": "What's your name?", "/durable-wizard": "What's your name?", "/dialogs": "Ready to play?",
    "/guess": "Pick a number from 1 to 100.", "/calendar": "", "/embedded/": "Host Starlette app",
}


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    app = gallery_app.serve(gallery_app.build(secret_key="gallery-tests"))
    with TestClient(app, follow_redirects=False) as c:
        yield c


def widget(html: str) -> Node:
    """The conversation's container on a full page."""
    return dom(html).one("div[data-stube-cid]")


def post_without_js(client: TestClient, button: Node, **form: str) -> Node:
    """Submit a button's form the way a browser without JavaScript does, then follow the 303."""
    r = client.post(button.get("formaction"), data=form)
    assert r.status_code == 303, r.text
    location = r.headers["location"]
    page = client.get(location)
    assert page.status_code == 200
    return widget(page.text)


# -- the catalogue -----------------------------------------------------------------------------


def test_catalogue_covers_every_reference_route_plus_ours() -> None:
    paths = [e.path for e in CATALOGUE]
    assert len(paths) == len(set(paths))
    assert REFERENCE_ROUTES <= set(paths)
    assert {"/preferences", "/durable-wizard", "/counter"} <= set(paths)
    assert not {"/signal-mirror", "/sketch", "/kasten"} & set(paths)
    for entry in CATALOGUE:
        path, title, group, blurb, root = entry
        assert group in GROUPS and title and blurb.endswith(".")
        if path == "/embedded/":
            assert root is None  # served by its own host app, mounted beside the gallery
        else:
            assert (isinstance(root, type) and issubclass(root, Component)) or callable(root)
    assert [g for g, entries in by_group() if entries] == GROUPS


# -- every page over HTTP -------------------------------------------------------------------------


def test_landing_page_lists_every_demo_by_group(client: TestClient) -> None:
    r = client.get("/")
    assert r.status_code == 200
    page = dom(r.text)
    assert page.one("title").text == "stube examples"
    root = widget(r.text)
    assert root.one("h1").text == "stube examples"
    assert [h.text for h in root.select("section h2")] == GROUPS
    links = {a.get("href"): a.text for a in root.select("a.stube-gallery__link")}
    assert links == {e.path.lstrip("/"): e.title for e in CATALOGUE}
    assert len(root.select("p.stube-gallery__blurb")) == len(CATALOGUE)


@pytest.mark.parametrize("entry", CATALOGUE, ids=[e.path for e in CATALOGUE])
def test_every_demo_page_renders(client: TestClient, entry) -> None:
    r = client.get(entry.path)
    if entry.root is None:  # the embedded host: a redirect to its page, which holds the widget
        assert r.status_code == 307
        r = client.get(r.headers["location"])
        assert r.status_code == 200 and HEADINGS[entry.path] in r.text
        assert not dom(r.text).select(".stube-error")
        return
    assert r.status_code == 200
    root = widget(r.text)
    assert not root.select(".stube-error"), root.text
    assert HEADINGS[entry.path] in root.text
    assert dom(r.text).one("title").text == f"{entry.title} · stube examples"
    assert dom(r.text).select("link[rel=stylesheet]")


def test_query_string_factories_and_principal(client: TestClient) -> None:
    assert ">5<" in client.get("/url-counter?n=5").text
    cards = widget(client.get("/reading-list?items=clojure,datastar,seaside").text).select("article.stube-card")
    assert len(cards) == 3
    signed_out = widget(client.get("/protected-counter").text)
    assert "only available to a signed-in user" in signed_out.text
    signed_in = widget(client.get("/protected-counter?user=ada").text)
    assert signed_in.one("section strong").text == "ada"


def test_stylesheet_is_served_and_self_contained(client: TestClient) -> None:
    r = client.get("/")
    href = dom(r.text).one("link[rel=stylesheet]").get("href")
    css = client.get(href)
    assert css.status_code == 200 and "text/css" in css.headers["content-type"]
    body = css.text
    for needed in (".stube-card", ".stube-modal", ".stube-button--primary", ".stube-button--block",
                   ".stube-actions", ".stube-stack", ".stube-label", ".stube-input", ".stube-error-title",
                   ".stube-error-message", ".stube-keyed", ":focus-visible", "prefers-color-scheme",
                   ".stube-gallery"):
        assert needed in body
    assert "@import" not in body and "http://" not in body and "https://" not in body


# -- without JavaScript -----------------------------------------------------------------------------


def test_dialogs_work_without_javascript(client: TestClient) -> None:
    root = widget(client.get("/dialogs").text)
    assert root.one("p.stube-card__body").text == "Ready to play?"
    root = post_without_js(client, root.button("Yes"))
    assert root.one("label.stube-label").text == "What's your name?"
    root = post_without_js(client, root.button("OK"), value="Ada")
    assert root.one("p.stube-card__body").text == "Pick a colour, Ada:"
    root = post_without_js(client, root.button("red"))
    assert root.one("p.stube-card__body").text == "Hello Ada — your colour is red."
    cid = root.get("data-stube-cid")
    root = post_without_js(client, root.button("OK"))
    # The flow finished, so its conversation ended: the page now shows the end notice or a fresh start.
    assert "This conversation has ended." in root.text or (
        root.get("data-stube-cid") != cid and "Ready to play?" in root.text)


def test_calc_works_without_javascript(client: TestClient) -> None:
    root = widget(client.get("/calc").text)
    for key in ("3", "+", "4", "="):
        root = post_without_js(client, root.button(key))
    assert root.one("section div").text == "7"


def test_file_upload_over_http(client: TestClient) -> None:
    root = widget(client.get("/file-upload").text)
    form = root.one("form")
    r = client.post(form.get("action"), data={"note": "over http"},
                    files={"file": ("hello.txt", b"hello from a real multipart body", "text/plain")})
    assert r.status_code == 303
    root = widget(client.get(r.headers["location"]).text)
    item = root.one("ul li")
    assert item.one("strong").text == "hello.txt"
    assert "text/plain · 32 bytes · over http" in item.text
    assert item.one("pre").text == "hello from a real multipart body"


def test_htmx_event_answers_partials(client: TestClient) -> None:
    root = widget(client.get("/counter").text)
    plus = root.button("+")
    r = client.post(plus.get("hx-post"), headers={"HX-Request": "true"})
    assert r.status_code == 200
    assert "<hx-partial" in r.text and ">1<" in r.text


# -- the embedded host ----------------------------------------------------------------------------------


def test_embedded_host_serves_its_routes_and_the_widget() -> None:
    from demos.embedded import build_host

    host, _ = build_host(secret_key="embedded-tests")
    with TestClient(host, follow_redirects=False) as c:
        assert c.get("/healthz").text == "ok"
        assert c.get("/api/foo").json() == {"foo": "bar", "served_by": "host"}
        r = c.get("/widget")
        assert r.status_code == 200
        page = dom(r.text)
        assert page.one("h1").text == "Host Starlette app"
        assert any("htmx" in (s.get("src") or "") for s in page.select("script"))  # the host loads htmx
        card = page.one("article")
        assert card.one("h2").text == "Embedded stube widget"
        assert "Host context says: plain Starlette" in card.text
        plus = card.button("+")
        assert urlsplit(plus.get("hx-post")).path.startswith("/widget/_stube/event/")
        event = c.post(plus.get("hx-post"), headers={"HX-Request": "true"})
        assert event.status_code == 200 and ">1<" in event.text


def test_embedded_host_is_mounted_beside_the_gallery(client: TestClient) -> None:
    assert client.get("/embedded/healthz").text == "ok"
    page = client.get("/embedded/widget")
    assert page.status_code == 200
    card = dom(page.text).one("article")
    plus = card.button("+")
    assert urlsplit(plus.get("hx-post")).path.startswith("/embedded/widget/_stube/event/")
    event = client.post(plus.get("hx-post"), headers={"HX-Request": "true"})
    assert event.status_code == 200 and ">1<" in event.text
    assert 'href="/embedded/healthz"' in page.text
