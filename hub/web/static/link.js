// moonwake: copy buttons, and the one-tap link page that follows its
// machine live (GET /l/{secret}/events: that machine's state changes and
// actions only) until the action has reached its goal or failed.
(function () {
  "use strict";

  // Actions in words, as the hub says them (linkVerbs in links.go).
  var verbs = { shutdown: "shut down", reboot: "restart", sleep: "sleep", hibernate: "hibernate" };

  // Copy buttons: <button data-copy="#id"> copies the text of #id.
  document.addEventListener("click", function (ev) {
    var btn = ev.target.closest ? ev.target.closest("button[data-copy]") : null;
    if (!btn) return;
    var el = document.querySelector(btn.getAttribute("data-copy"));
    if (!el) return;
    var text = el.textContent.trim();
    var done = function () {
      btn.setAttribute("data-copied", "");
      setTimeout(function () { btn.removeAttribute("data-copied"); }, 2000);
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, function () { select(el); });
    } else {
      select(el);
    }
  });

  function select(el) {
    var range = document.createRange();
    range.selectNodeContents(el);
    var sel = window.getSelection();
    sel.removeAllRanges();
    sel.addRange(range);
  }

  var card = document.querySelector("article.link-card[data-seq]");
  if (!card || !window.EventSource) return;

  var labels = {
    off: "Off", waking: "Waking…", on: "On", streaming: "Streaming",
    idle: "Idle", "shutting-down": "Shutting down…", unknown: "Unknown"
  };
  var up = { on: 1, streaming: 1, idle: 1 };
  var machine = card.getAttribute("data-machine");
  var goal = card.getAttribute("data-goal");
  var kind = card.getAttribute("data-kind");
  var stateEl = card.querySelector(".state");
  var sinceEl = card.querySelector(".since");
  var progress = card.querySelector(".progress");

  function reached() {
    var st = card.getAttribute("data-state");
    return goal === "on" ? !!up[st] : st === goal;
  }

  function finished() {
    var outcome = card.getAttribute("data-outcome");
    if (outcome === "failed") return true;
    return outcome === "succeeded" && reached();
  }

  function say(text) {
    if (progress && text) progress.textContent = text;
  }

  function onState(sc) {
    if (!sc || !sc.to) return;
    card.setAttribute("data-state", sc.to);
    if (stateEl) stateEl.textContent = labels[sc.to] || sc.to;
    if (sinceEl) {
      sinceEl.textContent = "for 0 s"; // app.js counts on from data-since
      if (sc.at) sinceEl.setAttribute("datetime", sc.at);
    }
    if (sc.at) card.setAttribute("data-since", sc.at);
    if (reached() && card.getAttribute("data-outcome") !== "failed") {
      say(machine + " is " + (labels[sc.to] || sc.to).replace("…", "").toLowerCase() + ".");
    }
  }

  function onAction(a) {
    if (!a || a.machine !== machine) return;
    var id = card.getAttribute("data-action-id");
    if (id && a.id !== id) return;
    if (!id) {
      if (a.kind !== kind) return;
      card.setAttribute("data-action-id", a.id);
    }
    card.setAttribute("data-outcome", a.status);
    if (a.status === "running") {
      say(kind === "wake" ? "Magic packets sent; waiting for " + machine + " to answer…"
                          : "Asked " + machine + " to " + (verbs[kind] || kind) + "; waiting until it has…");
    } else if (a.detail) {
      say(a.detail);
    } else {
      say(a.status === "succeeded" ? "Done." : "It did not work.");
    }
  }

  var after = card.getAttribute("data-seq");
  var path = location.pathname.replace(/\/+$/, "");
  var es = new EventSource(path + "/events" + (after ? "?after=" + encodeURIComponent(after) : ""));
  function handle(fn) {
    return function (ev) {
      var msg;
      try { msg = JSON.parse(ev.data); } catch (e) { return; }
      fn(msg.data);
      if (finished()) es.close();
    };
  }
  es.addEventListener("state", handle(onState));
  es.addEventListener("action", handle(onAction));
  es.addEventListener("gone", function () {
    es.close();
    card.removeAttribute("data-outcome");
    say("This link was revoked.");
  });
  if (finished()) es.close();
})();
