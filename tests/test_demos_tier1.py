"""Tier 1 demos: editing in place, tabs, URL state, decoration, stash, errors, principals."""

from __future__ import annotations

from types import SimpleNamespace

from demos import reading_list as rl
from demos import url_counter as uc
from demos.breadcrumb import BreadcrumbPage
from demos.error_answer import ErrorAnswer
from demos.error_frame import ErrorFrame
from demos.preferences import Preferences
from demos.protected_counter import ProtectedCounter
from demos.tabs import Notes, Tabs
from demos.testing import DemoHarness
from demos.todo import Todo
from stube import fragments as fr


def request(**query: str) -> SimpleNamespace:
    """Enough of a Starlette request for a mount factory."""
    return SimpleNamespace(query_params=query)


# -- todo -----------------------------------------------------------------------------------


def test_todo_clicking_a_label_mounts_the_editor_only_in_that_row() -> None:
    h = DemoHarness(Todo)
    page = h.page
    assert page.one("h2").text == "Todo"
    rows = page.select("ul li")
    assert [r.one("span").text for r in rows] == ["click a label to edit it", "tick the box when done"]
    h.press(rows[0].one("button span").parent)
    rows = h.page.select("ul li")
    assert rows[0].one("input[name=text]").get("value") == "click a label to edit it"
    assert rows[1].one("span").text == "tick the box when done"
    assert rows[1].select("input[name=text]") == []


def test_todo_edit_save_and_cancel() -> None:
    h = DemoHarness(Todo)
    h.press(h.page.select("ul li")[1].one("button span").parent)
    h.click("Save", fields={"text": "tick it now"})
    assert [r.one("span").text for r in h.page.select("ul li")] == ["click a label to edit it", "tick it now"]
    h.press(h.page.select("ul li")[0].one("button span").parent)
    h.click("Cancel", fields={"text": "thrown away"})
    assert h.page.select("ul li")[0].one("span").text == "click a label to edit it"
    assert h.page.select("input[name=text]") == []


def test_todo_add_toggle_remove_and_footer() -> None:
    h = DemoHarness(Todo)
    assert "2 open · 0 done" in h.text
    h.click("Add", fields={"draft": "write tests"})
    rows = h.page.select("ul li")
    assert rows[-1].one("span").text == "write tests"
    assert h.page.one("input[name=draft]").get("value") == ""
    h.press(rows[0].one("input[type=checkbox]"))
    assert "2 open · 1 done" in h.text
    assert "checked" in h.page.select("ul li")[0].one("input[type=checkbox]").attrs
    h.press(h.page.select("ul li")[1].one("button[aria-label^=Delete]"))
    assert [r.one("span").text for r in h.page.select("ul li")] == ["click a label to edit it", "write tests"]
    h.click("Add", fields={"draft": "   "})  # blank: nothing added
    assert len(h.page.select("ul li")) == 2


# -- tabs -----------------------------------------------------------------------------------


def test_tabs_inactive_tab_state_survives_switching() -> None:
    h = DemoHarness(Tabs)
    assert h.page.one("h2").text == "Tabbed navigation"
    assert h.page.select("textarea") == []
    h.click("+")
    h.click("+")
    h.click("Notes", within=h.page.one("nav"))
    h.press(h.page.one("textarea"), fields={"text": "hello stube"})
    assert "Length: 11 chars" in h.text
    h.click("Counter", within=h.page.one("nav"))
    assert h.page.select("textarea") == []
    assert h.page.one(".stube-counter span").text == "2"
    h.click("Notes", within=h.page.one("nav"))
    assert h.page.one("textarea").text == "hello stube"
    h.click("About", within=h.page.one("nav"))
    assert "keep their state on the server" in h.text
    assert h.page.one("nav button[aria-current=page]").text == "About"


def test_tabs_typing_rerenders_only_the_notes() -> None:
    h = DemoHarness(Tabs)
    h.click("Notes", within=h.page.one("nav"))
    frags = h.press(h.page.one("textarea"), fields={"text": "abc"})
    assert [(f.kind, f.target) for f in frags] == [(fr.MORPH, h.find(Notes).iid)]


# -- URL-state counter ------------------------------------------------------------------------


def test_url_counter_seeds_from_query_and_pushes_the_url() -> None:
    h = DemoHarness(uc.from_request(request(n="5")))
    assert h.page.one("h2").text == "URL-state counter"
    assert ">5<" in h.html()
    frags = h.click("+")
    assert h.page.one("section span").text == "6"
    history = [f for f in frags if f.kind == fr.HISTORY]
    assert [(f.mode, f.html) for f in history] == [("push", "?n=6")]


def test_url_counter_ignores_bad_query_values() -> None:
    for raw in (None, "", "abc", "1e9"):
        assert uc.from_request(request(**({"n": raw} if raw is not None else {}))).n == 0
    assert uc.from_request(request(n="-3")).n == -3


# -- reading list -------------------------------------------------------------------------------


def test_reading_list_items_query_restores_columns_and_close_updates_url() -> None:
    h = DemoHarness(rl.from_request(request(items="clojure,datastar,seaside")))
    page = h.page
    assert page.one("h1").text == "Reading list"
    cards = page.select("article.stube-card")
    assert [c.one("h2").text for c in cards] == ["Clojure", "Datastar", "Seaside"]
    frags = h.click("Close", within=cards[1])
    assert [c.one("h2").text for c in h.page.select("article.stube-card")] == ["Clojure", "Seaside"]
    assert [(f.mode, f.html) for f in frags if f.kind == fr.HISTORY] == [("replace", "?items=clojure,seaside")]
    assert cards[1].get("id") in [f.target for f in frags if f.kind == fr.REMOVE]
    # The toolbar follows: URL text and an "Open" button for each closed article.
    assert "URL: /reading-list?items=clojure,seaside" in h.text
    assert h.page.has_button("Open datastar") and h.page.has_button("Open kasten")


def test_reading_list_open_appends_and_parse_is_forgiving() -> None:
    assert rl.parse_items("Seaside, nope,,clojure,seaside") == ["seaside", "clojure"]
    h = DemoHarness(rl.from_request(request()))
    assert h.page.select("article.stube-card") == []
    h.click("Open kasten")
    h.click("Open clojure")
    assert [c.one("h2").text for c in h.page.select("article.stube-card")] == ["Kasten", "Clojure"]
    assert not h.page.has_button("Open kasten")
    assert h.conversation["last_url"] == "?items=kasten,clojure"


# -- breadcrumb ------------------------------------------------------------------------------------


def test_breadcrumb_trail_extends_and_rewinds() -> None:
    h = DemoHarness(BreadcrumbPage)
    page = h.page
    assert page.one("section h2").text == "Breadcrumb decoration"
    trail = page.select("nav[aria-label=Breadcrumb] button")
    assert [b.text for b in trail] == ["Examples", "Tier 2"]
    assert "disabled" in trail[-1].attrs and trail[-1].get("aria-current") == "page"
    tree = next(b for b in page.select("button") if b.select("strong") and b.one("strong").text == "Tree")
    h.press(tree)
    trail = h.page.select("nav[aria-label=Breadcrumb] button")
    assert [b.text for b in trail] == ["Examples", "Tier 2", "Tree"]
    assert "Leaf page" in h.text
    h.press(trail[0])
    assert [b.text for b in h.page.select("nav[aria-label=Breadcrumb] button")] == ["Examples"]
    assert "Tier 3" in [s.text for s in h.page.select("button strong")]


def test_breadcrumb_ignores_invalid_navigation() -> None:
    h = DemoHarness(BreadcrumbPage)
    h.dispatch("open", page="seaside-todo")   # not a child of Tier 2
    h.dispatch("jump", index=7)
    assert [b.text for b in h.page.select("nav[aria-label=Breadcrumb] button")] == ["Examples", "Tier 2"]


# -- preferences (session stash) ---------------------------------------------------------------------


def test_preferences_are_kept_in_the_session_stash() -> None:
    stash: dict = {}
    h = DemoHarness(Preferences, stash=stash)
    names = [li.one("strong").text for li in h.page.select("ol li")]
    assert names[:2] == ["Earth", "Jupiter"]
    h.click("Size")
    h.click("Hide details")
    assert [li.one("strong").text for li in h.page.select("ol li")][:2] == ["Mercury", "Mars"]
    assert "km across" not in h.text
    assert stash["demo.preferences"]["data"] == {"sort": "size", "collapsed": True}

    # A second tab of the same browser session starts where the first left off.
    other = DemoHarness(Preferences, stash=stash)
    assert [li.one("strong").text for li in other.page.select("ol li")][:2] == ["Mercury", "Mars"]
    assert other.page.has_button("Show details")
    assert other.page.one("button[aria-pressed=true]").text == "Size"


def test_preferences_without_a_stash_use_defaults() -> None:
    h = DemoHarness(Preferences)
    h.click("Distance")
    assert DemoHarness(Preferences).page.one("button[aria-pressed=true]").text == "Name"


# -- error frame ---------------------------------------------------------------------------------------


def test_error_frame_boom_renders_the_banner_and_keeps_state() -> None:
    h = DemoHarness(ErrorFrame, raise_errors=False)
    assert h.page.one("h2").text == "Error frame demo"
    h.click("+1")
    assert h.page.one("section strong").text == "1"
    before = h.conversation
    frags = h.click("Boom")
    assert h.conversation is before
    (banner,) = frags
    assert banner.kind == fr.ERROR
    assert 'class="stube-error"' in banner.html and "Boom!" in banner.html
    assert "+1" not in banner.html
    # The conversation is intact: the next event works on the last good state.
    h.click("+1")
    assert h.page.one("section strong").text == "2"


# -- answer-error ----------------------------------------------------------------------------------------


def test_error_answer_child_error_restores_form_with_draft() -> None:
    h = DemoHarness(ErrorAnswer)
    assert h.page.one("h2").text == "answer-error demo"
    h.click("Open edit form")
    assert h.page.one("input[name=draft]").get("value") == ""
    h.click("Save", fields={"draft": "hello"})
    page = h.page
    assert "Save failed" in page.one(".stube-error").text
    assert "Slug already taken (mock 409)" in page.one(".stube-error").text
    assert page.one("input[name=draft]").get("value") == "hello"
    h.click("Save", fields={"draft": "hello"})    # the second save succeeds
    assert "Saved: hello" in h.text
    assert h.page.select(".stube-error") == [] and h.page.select("input[name=draft]") == []


def test_error_answer_cancel_and_validation() -> None:
    h = DemoHarness(ErrorAnswer)
    h.click("Open edit form")
    h.click("Save", fields={"draft": "  "})
    assert "Please enter a title." in h.text
    h.click("Cancel")
    assert h.page.select("input[name=draft]") == [] and h.page.has_button("Open edit form")


# -- protected counter ---------------------------------------------------------------------------------------


def test_protected_counter_signed_out() -> None:
    h = DemoHarness(ProtectedCounter)
    assert h.page.one("h2").text == "Protected counter"
    assert "only available to a signed-in user" in h.html()
    assert not h.page.has_button("+")
    h.dispatch("inc")  # a forged event does nothing without a principal
    assert h.top.n == 0


def test_protected_counter_signed_in() -> None:
    h = DemoHarness(ProtectedCounter, principal="ada")
    page = h.page
    assert page.one("section strong").text == "ada"
    h.click("+")
    assert h.page.select("section div")[1].text == "1"
