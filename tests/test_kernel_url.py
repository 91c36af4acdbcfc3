"""The browser URL as a projection of the root's state (``url()``) and the ``history`` effect."""

from __future__ import annotations

from typing import Any

from stube import Component, EffectError, answer, back, call, event, history
from stube.testing import Harness


class Shop(Component):
    template_string = '<div {{ root() }}>{{ self.page }}</div>'

    def __init__(self) -> None:
        self.page = 1
        self.mode = "replace"

    def url(self) -> Any:
        if self.page == 0:
            return None
        if self.page < 0:
            return 42               # not a URL
        path = f"/shop?page={self.page}"
        return ("push", path) if self.mode == "push" else path

    @event
    def goto(self, page: int, mode: str = "replace") -> None:
        self.page = page
        self.mode = mode

    @event
    def same(self) -> None:
        self.mode = "replace"
        self.page = self.page

    @event
    def goto_with_explicit_history(self, page: int) -> Any:
        self.page = page
        return history("/custom", push=True)

    @event
    def undo(self) -> Any:
        return back()

    @event
    def details(self) -> Any:
        return call(Details(), resume="on_back")

    def on_back(self, page: int) -> None:
        self.page = page


class Details(Component):
    template_string = '<div {{ root() }}>details</div>'

    def url(self) -> str:
        return "/details-should-be-ignored"

    @event
    def close(self, page: int) -> Any:
        return answer(page)


class Plain(Component):
    template_string = '<div {{ root() }}></div>'

    @event
    def set_url(self) -> Any:
        return history("/somewhere")


def history_frags(frags: list[Any]) -> list[tuple[str, str]]:
    return [(f.mode, f.html) for f in frags if f.kind == "history"]


def test_mint_records_the_url_without_emitting_it() -> None:
    h = Harness(Shop())
    assert h.conversation["last_url"] == "/shop?page=1"
    assert history_frags(h.fragments) == []


def test_a_changed_projection_replaces_the_url() -> None:
    h = Harness(Shop())
    frags = h.dispatch("goto", page=2)
    assert history_frags(frags) == [("replace", "/shop?page=2")]
    assert h.conversation["last_url"] == "/shop?page=2"


def test_push_mode_pushes() -> None:
    h = Harness(Shop())
    assert history_frags(h.dispatch("goto", page=3, mode="push")) == [("push", "/shop?page=3")]


def test_an_unchanged_projection_emits_nothing() -> None:
    h = Harness(Shop())
    h.dispatch("goto", page=2)
    assert history_frags(h.dispatch("same")) == []


def test_none_emits_nothing() -> None:
    h = Harness(Shop())
    assert history_frags(h.dispatch("goto", page=0)) == []
    assert h.conversation["last_url"] == "/shop?page=1"


def test_an_explicit_history_effect_wins_but_the_projection_is_still_tracked() -> None:
    h = Harness(Shop())
    frags = h.dispatch("goto_with_explicit_history", page=5)
    assert history_frags(frags) == [("push", "/custom")]
    assert h.conversation["last_url"] == "/shop?page=5"


def test_only_the_roots_url_counts() -> None:
    h = Harness(Shop())
    assert history_frags(h.dispatch("details")) == []
    frags = h.dispatch("close", page=7)
    assert history_frags(frags) == [("replace", "/shop?page=7")]


def test_an_invalid_url_return_is_an_error_and_nothing_changes() -> None:
    h = Harness(Shop(), raise_errors=False)
    before = h.conversation
    frags = h.dispatch("goto", page=-1)
    assert isinstance(h.error, EffectError) and "url()" in str(h.error)
    assert h.conversation is before
    assert [f.kind for f in frags] == ["error"]


def test_back_syncs_the_url_to_the_restored_state() -> None:
    h = Harness(Shop())
    h.dispatch("goto", page=2)
    h.dispatch("goto", page=3)
    frags = h.back()
    assert history_frags(frags) == [("replace", "/shop?page=2")]
    assert h.conversation["last_url"] == "/shop?page=2"
    frags = h.dispatch("undo")                 # the effect form syncs too
    assert history_frags(frags) == [("replace", "/shop?page=1")]


def test_the_history_effect_works_without_a_url_method() -> None:
    h = Harness(Plain())
    before = h.conversation
    frags = h.dispatch("set_url")
    assert history_frags(frags) == [("replace", "/somewhere")]
    assert h.conversation is before        # a URL is not state: nothing to undo
