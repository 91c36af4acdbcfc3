"""static/stube.js on its own, in Chromium: folds are applied in version order.

htmx's side is simulated with the events and detail objects htmx 4's core and
its hx-sse extension fire (cancelable CustomEvents; ``detail.ctx``,
``detail.message``, ``detail.waitUntil``, ``detail.cancelled``), so each
ordering case can be staged exactly.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from stube.render import STATIC_DIR

HARNESS = """
window.swapped = [];
function fire(elt, name, detail) {
  return elt.dispatchEvent(new CustomEvent(name, {bubbles: true, cancelable: true, detail: detail}));
}
// htmx.swap(ctx) as htmx 4 runs it: before:swap (cancelable), the swap, finally:swap.
window.htmx = {swap: async function (ctx) {
  try {
    if (!fire(document.body, "htmx:before:swap", {ctx: ctx, tasks: []})) return;
    window.swapped.push(ctx.label);
  } finally {
    fire(document.body, "htmx:finally:swap", {ctx: ctx});
  }
}};
window.response = function (label, from, to) {
  var h = new Headers({"X-Stube": "cv-test " + from + " " + to});
  return htmx.swap({label: label, response: {headers: h}});
};
// One SSE message as hx-sse handles it: before:message, await waitUntil, swap unless cancelled.
window.sse = async function (label, id) {
  var el = document.getElementById("cv-test-sse"), work = [];
  var detail = {message: {data: "", id: id}, cancelled: false, waitUntil: function (p) { work.push(p); }};
  var go = fire(el, "htmx:sse:before:message", detail);
  await Promise.all(work);
  if (!go || detail.cancelled) return;
  window.swapped.push(label);
  fire(el, "htmx:sse:after:message", {message: detail.message});
};
"""


@pytest.fixture
def js(context) -> Iterator[object]:  # type: ignore[no-untyped-def]
    page = context.new_page()
    page.set_content('<div id="cv-test" data-stube-version="2"></div><div id="cv-test-sse"></div>')
    page.add_script_tag(content=HARNESS)
    page.add_script_tag(content=(STATIC_DIR / "stube.js").read_text())
    yield page


def start(page, call: str) -> None:  # type: ignore[no-untyped-def]
    """Begin a delivery without waiting for it (evaluate would await the promise)."""
    page.evaluate(f"() => {{ window.pending = {call}; }}")


def swapped(page) -> list[str]:  # type: ignore[no-untyped-def]
    page.wait_for_timeout(50)
    return page.evaluate("window.swapped")


def test_in_order_folds_apply_at_once(js) -> None:  # type: ignore[no-untyped-def]
    js.evaluate("response('click 2-3', 2, 3)")
    js.evaluate("sse('push 3-4', '3-4')")
    assert swapped(js) == ["click 2-3", "push 3-4"]


def test_a_push_that_overtakes_the_response_waits_for_it(js) -> None:  # type: ignore[no-untyped-def]
    start(js, "sse('push 3-4', '3-4')")
    assert swapped(js) == []
    js.evaluate("response('click 2-3', 2, 3)")
    assert swapped(js) == ["click 2-3", "push 3-4"]


def test_a_held_response_is_not_applied_over_a_newer_snapshot(js) -> None:  # type: ignore[no-untyped-def]
    start(js, "response('click 3-4', 3, 4)")  # waits for 2-3, which the stream lost
    assert swapped(js) == []
    js.evaluate("sse('snapshot s-6', 's-6')")
    assert swapped(js) == ["snapshot s-6"]


def test_stale_folds_are_dropped_but_state_neutral_ones_apply(js) -> None:  # type: ignore[no-untyped-def]
    js.evaluate("sse('snapshot s-5', 's-5')")
    js.evaluate("response('old click 2-3', 2, 3)")
    js.evaluate("sse('old push 3-4', '3-4')")
    js.evaluate("response('my error banner 4-4', 4, 4)")
    assert swapped(js) == ["snapshot s-5", "my error banner 4-4"]


def test_a_lost_fold_stops_blocking_after_a_while(js) -> None:  # type: ignore[no-untyped-def]
    start(js, "sse('push 3-4', '3-4')")  # 2-3 never comes
    js.wait_for_timeout(3300)
    assert js.evaluate("window.swapped") == ["push 3-4"]
