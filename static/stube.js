// stube.js — the little glue htmx does not do for us.
//
// 1. A full stube page carries its own address in data-stube-url (the mount
//    path naming its conversation, or the root's url() projection); putting it
//    in the address bar makes a reload resume the conversation.
//
// 2. Folds arrive in order. Every change to a conversation moves its version
//    from `a` to `b`. A page learns about each change exactly once: through the
//    response to its own POST (headers X-Stube-From / X-Stube-To) or through
//    its SSE stream (message id "a-b"; "s-v" is a whole-page snapshot). The two
//    channels race, so a response or message whose `a` is ahead of what the
//    page has applied waits for its predecessor instead of morphing stale HTML
//    over newer HTML. A message that never comes stops blocking after a while.
(function () {
  "use strict";

  var GIVE_UP_MS = 3000;
  var chains = {};

  function debug() {
    if (window.STUBE_DEBUG) console.log.apply(console, ["stube:"].concat([].slice.call(arguments)));
  }

  function chain(cid) {
    var c = chains[cid];
    if (!c) {
      var el = document.getElementById(cid);
      var v = el ? parseInt(el.getAttribute("data-stube-version") || "0", 10) : 0;
      c = chains[cid] = { applied: v, waiters: [] };
    }
    return c;
  }

  function advance(c, to) {
    if (to > c.applied) c.applied = to;
    var ready = [];
    c.waiters = c.waiters.filter(function (w) {
      if (w.from <= c.applied) { ready.push(w); return false; }
      return true;
    });
    ready.sort(function (x, y) { return x.from - y.from; });
    ready.forEach(function (w) { clearTimeout(w.timer); w.resolve(); });
  }

  function when(c, from) {
    if (from <= c.applied) return Promise.resolve();
    return new Promise(function (resolve) {
      var w = { from: from, resolve: resolve };
      w.timer = setTimeout(function () {
        console.warn("stube: an update before version " + from + " never arrived; applying the next one anyway");
        advance(c, from);
      }, GIVE_UP_MS);
      c.waiters.push(w);
    });
  }

  // Already covered by what the page applied. A fold that changed nothing (from === to:
  // an error banner, a history entry) is never stale: it carries no state to go back on.
  function stale(c, from, to) {
    return from < to && to <= c.applied;
  }

  function cidOfStream(el) {
    return el && el.id ? el.id.replace(/-sse$/, "") : "";
  }

  // Server pushes (the htmx SSE extension supports waiting before a message swaps).
  document.addEventListener("htmx:sse:before:message", function (evt) {
    var el = evt.target, c = chain(cidOfStream(el));
    var id = (evt.detail.message && evt.detail.message.id) || "";
    var snap = /^s-(\d+)$/.exec(id), step = /^(\d+)-(\d+)$/.exec(id);
    debug("sse message", id, "applied", c.applied);
    el._stubeTo = null;
    if (snap) {
      var v = parseInt(snap[1], 10);
      if (v < c.applied) { evt.detail.cancelled = true; return; }
      el._stubeTo = v;
      return;
    }
    if (!step) return;
    var from = parseInt(step[1], 10), to = parseInt(step[2], 10);
    if (stale(c, from, to)) { evt.detail.cancelled = true; return; }
    el._stubeTo = to;
    if (from > c.applied) {
      // While it waits, a snapshot may overtake it: check again before it swaps.
      evt.detail.waitUntil(when(c, from).then(function () {
        if (stale(c, from, to)) { evt.detail.cancelled = true; el._stubeTo = null; }
      }));
    }
  });

  document.addEventListener("htmx:sse:after:message", function (evt) {
    var el = evt.target;
    if (el._stubeTo != null) {
      advance(chain(cidOfStream(el)), el._stubeTo);
      el._stubeTo = null;
    }
  });

  // Responses to this page's own events.
  document.addEventListener("htmx:before:swap", function (evt) {
    var ctx = evt.detail.ctx;
    var h = ctx && ctx.response && ctx.response.headers;
    var cid = h && h.get && h.get("X-Stube-Cid");
    if (!cid || ctx.stubeReleased) return;
    var c = chain(cid);
    var from = parseInt(h.get("X-Stube-From") || "0", 10), to = parseInt(h.get("X-Stube-To") || "0", 10);
    debug("response", from, to, "applied", c.applied);
    if (stale(c, from, to)) { evt.preventDefault(); return; }
    if (from > c.applied) {
      evt.preventDefault();
      when(c, from).then(function () {
        if (stale(c, from, to)) return;  // a snapshot overtook it while it waited
        ctx.stubeReleased = true;
        ctx.stubeAdvance = function () { advance(c, to); };
        htmx.swap(ctx);
      });
      return;
    }
    ctx.stubeAdvance = function () { advance(c, to); };
  });

  document.addEventListener("htmx:finally:swap", function (evt) {
    var ctx = evt.detail.ctx;
    if (ctx && ctx.stubeAdvance) {
      var go = ctx.stubeAdvance;
      ctx.stubeAdvance = null;
      go();
    }
  });

  function syncUrl(root) {
    var nodes = (root || document).querySelectorAll("[data-stube-url]");
    for (var i = 0; i < nodes.length; i++) {
      var url = nodes[i].getAttribute("data-stube-url");
      nodes[i].removeAttribute("data-stube-url");
      if (url && url !== location.pathname + location.search) {
        history.replaceState(history.state, "", url);
      }
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { syncUrl(); });
  } else {
    syncUrl();
  }
})();
