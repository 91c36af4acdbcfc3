// stube.js — the little glue htmx does not do for us.
//
// 1. A full stube page carries its own address in data-stube-url (the mount
//    path naming its conversation, or the root's url() projection); putting it
//    in the address bar makes a reload resume the conversation.
//
// 2. Folds arrive in order. Every change to a conversation moves its version
//    from `a` to `b`. A page learns about each change exactly once: through the
//    response to its own POST (header X-Stube: "<cid> <a> <b>") or through
//    its SSE stream (message id "a-b"; "s-v" is a whole-page snapshot). The two
//    channels race, so a response or message whose `a` is ahead of what the
//    page has applied waits for its predecessor instead of morphing stale HTML
//    over newer HTML. A message that never comes stops blocking after a while.
//
// 3. A failed event is never silent. htmx swaps nothing for a refusal that
//    carries no fragments (400/403/404/413/500/503) or for a network error, so
//    stube shows a small dismissible notice next to the component that sent it.
//    In debug mode (data-stube-debug on the conversation) the notice also shows
//    the status and the server's text, traceback included.
//
// 4. Backtracking (Stube(backtrack=True)): each step of the conversation is a
//    browser history entry naming {cid, step}; Back and Forward ask the server
//    to move the conversation to that step (see "backtracking" below).
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
    var fold = parseFold(h);
    if (!fold || ctx.stubeReleased) return;
    var cid = fold.cid, from = fold.from, to = fold.to, c = chain(cid);
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

  // -- failure notices --

  var MESSAGES = {
    0: "Could not reach the server. Check your connection and try again.",
    400: "That input was not accepted.",
    403: "This page belongs to another browser session.",
    404: "That action is not available on this page any more.",
    413: "That was too large to send.",
    429: "Too many requests. Wait a moment and try again.",
    503: "Not saved: the server is busy or cannot save right now. Try again."
  };
  var RELOAD_HELPS = { 403: true, 404: true, 500: true };

  function message(status) {
    if (MESSAGES[status]) return MESSAGES[status];
    if (status >= 500) return "Something went wrong on the server. Try again, or reload the page.";
    return "The server refused that (" + status + ").";
  }

  function componentOf(el) {
    return (el && el.closest && el.closest("[data-stube-component]")) || null;
  }

  function conversationOf(el) {
    return (el && el.closest && el.closest("[data-stube-cid]")) || null;
  }

  function notify(source, status, detail) {
    var anchor = componentOf(source) || conversationOf(source);
    if (!anchor || !anchor.parentNode) return;
    var conv = conversationOf(anchor), debugOn = !!(conv && conv.hasAttribute("data-stube-debug"));
    var old = anchor.previousElementSibling;
    if (old && old.hasAttribute("data-stube-notice")) old.remove();

    var box = document.createElement("div");
    box.className = "stube-notice";
    box.setAttribute("role", "alert");
    box.setAttribute("data-stube-notice", String(status));
    var text = document.createElement("p");
    text.className = "stube-notice-message";
    text.textContent = message(status);
    box.appendChild(text);
    if (RELOAD_HELPS[status] || status >= 500) {
      var reload = document.createElement("a");
      reload.className = "stube-notice-reload";
      reload.href = location.href;
      reload.textContent = "Reload";
      box.appendChild(reload);
    }
    if (debugOn && detail) {
      var pre = document.createElement("pre");
      pre.className = "stube-notice-detail";
      pre.textContent = detail.slice(0, 8000);
      box.appendChild(pre);
    }
    var close = document.createElement("button");
    close.type = "button";
    close.className = "stube-notice-close";
    close.setAttribute("aria-label", "Dismiss");
    close.textContent = "\u00d7";
    close.addEventListener("click", function () {
      box.remove();
      if (source && source.isConnected && source.focus) source.focus();
    });
    box.appendChild(close);
    anchor.parentNode.insertBefore(box, anchor);
    console.warn("stube: event failed with " + (status || "a network error") + (detail ? ": " + detail.slice(0, 200) : ""));
  }

  // A refusal with fragments (410's reload notice, a banner) shows itself; one without gets a notice.
  document.addEventListener("htmx:response:error", function (evt) {
    var ctx = evt.detail.ctx, status = ctx && ctx.response ? ctx.response.status : 0;
    var body = (ctx && ctx.text) || "";
    if (body.indexOf("<hx-partial") !== -1) return;
    notify(ctx && ctx.sourceElement, status, status + " " + body);
  });

  document.addEventListener("htmx:error", function (evt) {
    var ctx = evt.detail.ctx;
    if (!ctx || !ctx.sourceElement) return;  // an hx-on script error, not a request
    notify(ctx.sourceElement, 0, String(evt.detail.error || "network error"));
  });

  // A later successful swap of the same component clears its notice.
  document.addEventListener("htmx:after:swap", function (evt) {
    var ctx = evt.detail.ctx, anchor = componentOf(ctx && ctx.sourceElement);
    if (!anchor || !(ctx.response && ctx.response.status < 400)) return;
    var old = anchor.previousElementSibling;
    if (old && old.hasAttribute("data-stube-notice")) old.remove();
  });

  // -- the inspector (debug pages only: the server marks them with data-stube-inspect) --
  //
  // Alt+Shift+I or the corner toggle outlines every component; clicking one while
  // inspecting asks the server for its panel (type, id, state, slots, keyed
  // children, frames, history) instead of delivering the click.

  function inspectorBase() {
    var conv = document.querySelector("[data-stube-inspect]");
    return conv ? conv.getAttribute("data-stube-inspect") : null;
  }

  function inspecting() {
    return document.documentElement.classList.contains("stube-inspecting");
  }

  function setInspecting(on) {
    document.documentElement.classList.toggle("stube-inspecting", on);
    var toggle = document.querySelector(".stube-inspector-toggle");
    if (toggle) toggle.setAttribute("aria-pressed", on ? "true" : "false");
    if (!on) closePanel();
  }

  function closePanel() {
    var old = document.querySelector("[data-stube-inspector-panel]");
    if (old) old.remove();
  }

  function openPanel(component) {
    var base = inspectorBase(), conv = conversationOf(component);
    if (!base || !conv) return;
    var url = base + "/" + encodeURIComponent(conv.getAttribute("data-stube-cid")) + "/" + encodeURIComponent(component.id);
    fetch(url, { credentials: "same-origin", headers: { "Accept": "text/html" } }).then(function (r) {
      return r.text().then(function (text) { return { ok: r.ok, status: r.status, text: text }; });
    }).then(function (res) {
      closePanel();
      if (!res.ok) { notify(component, res.status, res.status + " " + res.text); return; }
      var holder = document.createElement("div");
      holder.innerHTML = res.text;
      var panel = holder.firstElementChild;
      if (!panel) return;
      document.body.appendChild(panel);
      var close = panel.querySelector(".stube-inspector-close");
      if (close) { close.addEventListener("click", closePanel); close.focus(); }
    }, function () { notify(component, 0, "inspector request failed"); });
  }

  function installInspector() {
    if (!inspectorBase() || document.querySelector(".stube-inspector-toggle")) return;
    var toggle = document.createElement("button");
    toggle.type = "button";
    toggle.className = "stube-inspector-toggle";
    toggle.setAttribute("aria-pressed", "false");
    toggle.setAttribute("title", "Inspect components (Alt+Shift+I)");
    toggle.textContent = "Inspect";
    toggle.addEventListener("click", function () { setInspecting(!inspecting()); });
    document.body.appendChild(toggle);
  }

  document.addEventListener("keydown", function (evt) {
    if (!inspectorBase()) return;
    if (evt.altKey && evt.shiftKey && (evt.key === "I" || evt.key === "i" || evt.code === "KeyI")) {
      evt.preventDefault();
      setInspecting(!inspecting());
    } else if (evt.key === "Escape" && inspecting()) {
      setInspecting(false);
    }
  });

  // Capture phase: while inspecting, a click on a component opens its panel and reaches nothing else.
  document.addEventListener("click", function (evt) {
    if (!inspecting()) return;
    var t = evt.target;
    if (t.closest && (t.closest("[data-stube-inspector-panel]") || t.closest(".stube-inspector-toggle"))) return;
    var component = componentOf(t);
    if (!component) return;
    evt.preventDefault();
    evt.stopPropagation();
    openPanel(component);
  }, true);

  // -- backtracking (Stube(backtrack=True): the container carries data-stube-history) --
  //
  // Every step of the conversation is a browser history entry: a fold names its step
  // (header X-Stube "<cid> <from> <to> <push|replace> <label> [address]", or stube.step()
  // in an SSE message), and the page pushes or replaces its entry, recording
  // {cid, step} in history.state. When Back or Forward lands on such an entry, htmx
  // asks to restore it; stube.js posts /_stube/step/<cid>?step=<label> instead and the
  // server moves the conversation there (its other pages follow over SSE). An entry
  // stube.js does not know (another conversation's, or one made before this page
  // loaded) falls back to htmx's reload, which renders that step too.

  var stepSeen = {};

  function historyOwner(cid) {
    var el = cid && document.getElementById(cid);
    return el && el.hasAttribute("data-stube-history") ? el : null;
  }

  function stepState(base, cid, label) {
    var state = {};
    if (base && typeof base === "object") for (var k in base) state[k] = base[k];
    state.htmx = true;  // htmx restores only entries it marked
    state.stube = { cid: cid, step: label };
    return state;
  }

  function step(cid, mode, label, version, url) {
    var el = historyOwner(cid);
    if (!el) return;
    if (version != null && stepSeen[cid] != null && version < stepSeen[cid]) return;  // an older fold's
    if (version != null) stepSeen[cid] = version;
    el.setAttribute("data-stube-step", String(label));
    var target = url || location.pathname + location.search + location.hash;
    debug("step", mode, label, version, target);
    if (mode === "push") history.pushState(stepState(null, cid, label), "", target);
    else history.replaceState(stepState(history.state, cid, label), "", target);
  }

  window.stube = window.stube || {};
  window.stube.step = step;

  // X-Stube: "<cid> <from> <to>", on every answer to an event (or Back), then
  // "<push|replace> <label> [address]" when the fold moved the step.
  function parseFold(h) {
    var value = h && h.get && h.get("X-Stube");
    if (!value) return null;
    var parts = value.split(" ");
    return { cid: parts[0], from: parseInt(parts[1] || "0", 10), to: parseInt(parts[2] || "0", 10), parts: parts };
  }

  function parseStep(fold) {
    var parts = fold && fold.parts;
    if (!parts || parts.length < 5) return null;
    return { mode: parts[3], label: parseInt(parts[4], 10), version: fold.to, url: parts[5] || "" };
  }

  document.addEventListener("htmx:after:request", function (evt) {
    var ctx = evt.detail.ctx, res = ctx && ctx.response, h = res && res.headers;
    if (!h || res.status >= 400) return;
    var fold = parseFold(h), s = parseStep(fold), cid = fold && fold.cid;
    if (!s || !cid) return;
    if (ctx.stubeTravel != null) {
      // The answer to a Back/Forward: the page shows step s.label now. The entry it was asked
      // for names that step (or, if it was gone, where the conversation is); if the user has
      // moved on to another entry meanwhile, that entry is left alone (travel() goes on to it).
      var el = historyOwner(cid), here = history.state && history.state.stube;
      if (el) el.setAttribute("data-stube-step", String(s.label));
      if (here && here.cid === cid && here.step === ctx.stubeTravel) step(cid, "replace", s.label, s.version, s.url);
      return;
    }
    if (!s.url && (h.get("HX-Push-Url") || h.get("HX-Replace-Url"))) {
      res.stubeStep = { cid: cid, s: s };  // htmx sets the address while swapping: name the step after it
      return;
    }
    step(cid, s.mode, s.label, s.version, s.url);
  });

  document.addEventListener("htmx:after:history:update", function (evt) {
    var pending = evt.detail.response && evt.detail.response.stubeStep;
    if (pending) step(pending.cid, "replace", pending.s.label, pending.s.version, "");
  });

  var travelling = {};

  // One Back/Forward request per conversation at a time; quick presses end on the last entry.
  function travel(cid) {
    var el = historyOwner(cid), s = history.state && history.state.stube;
    if (!el || !s || s.cid !== cid || String(s.step) === el.getAttribute("data-stube-step")) return;
    if (travelling[cid]) { travelling[cid].again = true; return; }
    var headers = {};
    try { headers = JSON.parse(el.getAttribute("hx-headers:inherited") || "{}"); } catch (e) { headers = {}; }
    debug("travel to step", s.step);
    var gone = el.querySelectorAll("[data-stube-step-gone]");
    for (var i = 0; i < gone.length; i++) gone[i].remove();  // an earlier "that step is gone" notice
    var mine = travelling[cid] = { again: false };
    var done = function () {
      if (travelling[cid] === mine) delete travelling[cid];
      if (mine.again) travel(cid);
    };
    Promise.resolve(htmx.ajax("POST", el.getAttribute("data-stube-step-url") + "?step=" + encodeURIComponent(s.step),
                              { source: el, target: el, swap: "none", headers: headers, stubeTravel: s.step }))
      .then(done, done);
  }

  document.addEventListener("htmx:before:history:restore", function (evt) {
    var s = history.state && history.state.stube, el = s && historyOwner(s.cid);
    if (!el || !el.getAttribute("data-stube-step-url")) return;  // not this page's: htmx reloads it
    evt.preventDefault();
    travel(s.cid);
  });

  function syncUrl(root) {
    var nodes = (root || document).querySelectorAll("[data-stube-url]");
    for (var i = 0; i < nodes.length; i++) {
      var url = nodes[i].getAttribute("data-stube-step-address") || nodes[i].getAttribute("data-stube-url");
      nodes[i].removeAttribute("data-stube-url");
      var cid = nodes[i].getAttribute("data-stube-cid"), label = nodes[i].getAttribute("data-stube-step");
      if (historyOwner(cid) && label !== null) {
        // This entry shows that step: Back and Forward can come back to it.
        history.replaceState(stepState(history.state, cid, parseInt(label, 10)), "", url || location.href);
        stepSeen[cid] = parseInt(nodes[i].getAttribute("data-stube-version") || "0", 10);
      } else if (url && url !== location.pathname + location.search) {
        history.replaceState(history.state, "", url);
      }
    }
  }

  function boot() {
    syncUrl();
    installInspector();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", boot);
  } else {
    boot();
  }
})();
