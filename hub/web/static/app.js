// moonwake web app: live machine cards, buttons without reloads, the
// service worker. Plain ES2020, no framework, loaded with defer. The server
// renders every card fully; this script only keeps it up to date, so the
// page works (and does not move) without it.
(function () {
  "use strict";

  // --- Service worker: hashed static files and an offline page. ---------
  if ("serviceWorker" in navigator && window.isSecureContext) {
    window.addEventListener("load", function () {
      navigator.serviceWorker.register("/sw.js", { scope: "/" }).catch(function () {});
    });
  }

  var body = document.body;
  var csrf = body.getAttribute("data-csrf") || "";
  var signedIn = body.hasAttribute("data-signed-in");

  // The hub's clock, not the phone's, dates states and actions: durations
  // are measured against it. The page says when it was made (to the
  // second); a difference of more than a few seconds is the phone's.
  var skew = Date.parse(body.getAttribute("data-now") || "") - Date.now();
  if (isNaN(skew) || Math.abs(skew) < 3000) skew = 0;
  function now() { return Date.now() + skew; }

  // --- Words, as the server writes them (web/render.go, actions.go). ----
  var labels = {
    off: "Off", waking: "Waking…", on: "On", streaming: "Streaming", idle: "Idle",
    "shutting-down": "Shutting down…", unknown: "Unknown"
  };
  function stateLabel(s) { return labels[s] || "Unknown"; }

  // shortDuration mirrors the Go one: "41 s", "3 min", "2 h", "5 d".
  function shortDuration(ms) {
    if (!(ms > 0)) ms = 0;
    var s = Math.floor(ms / 1000);
    if (s < 60) return s + " s";
    if (s < 3600) return Math.floor(s / 60) + " min";
    if (s < 48 * 3600) return Math.floor(s / 3600) + " h";
    return Math.floor(s / 86400) + " d";
  }

  // roundDuration mirrors the Go one: to the nearest unit shown.
  function roundDuration(ms) {
    var unit = ms < 60e3 ? 1e3 : ms < 3600e3 ? 60e3 : ms < 48 * 3600e3 ? 3600e3 : 86400e3;
    return Math.round(ms / unit) * unit;
  }

  function runningLabel(kind) {
    return {
      wake: "waking…", shutdown: "shutting down…", reboot: "rebooting…",
      sleep: "going to sleep…", hibernate: "hibernating…"
    }[kind] || kind + "…";
  }

  // progressOf returns [text, outcome] for an action, as progress() in Go.
  function progressOf(a) {
    if (!a) return ["", ""];
    if (a.status === "running") return [runningLabel(a.kind), "running"];
    if (a.status === "succeeded") {
      var steps = a.steps || [];
      for (var i = steps.length - 1; i >= 0; i--) {
        var st = steps[i];
        if (st.kind === "verify" && st.target && a.finished_at) {
          var word = st.target === "shutting-down" ? "shutting down" : st.target;
          return [word + " after " + shortDuration(Date.parse(a.finished_at) - Date.parse(a.created_at)), "succeeded"];
        }
      }
      if ((a.detail || "").indexOf("already") >= 0) {
        return [a.kind === "wake" ? "already on" : "already off", "succeeded"];
      }
      return [a.detail || a.kind + " done", "succeeded"];
    }
    if (a.status === "failed") return [a.kind + " failed: " + (a.detail || "unknown error"), "failed"];
    if (a.status === "cancelled") return [a.kind + " " + (a.detail || "cancelled"), "cancelled"];
    return ["", ""];
  }

  function fmtRTT(ns) {
    var ms = ns / 1e6;
    if (ms < 10) return (Math.round(ms * 10) / 10) + " ms";
    return Math.round(ms) + " ms";
  }

  // isAsleep mirrors moonwake.Asleep: the machine's own card answered ARP
  // this round and nothing else answered.
  function isAsleep(ev) {
    var n = ev && ev.neighbour;
    if (!n || n.identity !== "match" || !n.answered) return false;
    if ((ev.agent && ev.agent.connected) || (ev.sunshine && ev.sunshine.reachable)) return false;
    if (ev.icmp && ev.icmp.outcome === "reply") return false;
    return !(ev.tcp || []).some(function (t) { return t.outcome === "open" || t.outcome === "refused"; });
  }

  // evidenceLines mirrors evidenceLines in web/dashboard.go.
  function evidenceLines(ev) {
    var out = [];
    if (!ev) return out;
    if (ev.error) out.push("probe: " + ev.error);
    (ev.tcp || []).forEach(function (t) {
      var l = "TCP " + t.port + ": " + t.outcome;
      if (t.rtt_ns > 0) l += " in " + fmtRTT(t.rtt_ns);
      if (t.error) l += " (" + t.error + ")";
      out.push(l);
    });
    if (ev.icmp) {
      var l = "ping: " + ev.icmp.outcome;
      if (ev.icmp.mode === "unavailable") l = "ping: unavailable on the hub";
      else if (ev.icmp.rtt_ns > 0) l += " in " + fmtRTT(ev.icmp.rtt_ns);
      out.push(l);
    }
    var n = ev.neighbour;
    if (n) {
      var nl = "neighbour " + n.ip + ": ";
      if (n.identity === "match") nl += "MAC " + n.mac + " matches";
      else if (n.identity === "mismatch") nl += "held by another device, MAC " + n.mac;
      else if (n.identity === "absent") nl += "nobody resolved it";
      else nl += "not checked";
      if (n.state) nl += " (" + n.state + ")";
      if (n.answered) nl += ", answered ARP just now";
      out.push(nl);
    }
    if (ev.agent) {
      var al = "agent: link down";
      if (ev.agent.connected) {
        al = "agent: link up";
        if (ev.agent.idle_seconds != null) al += ", no input for " + shortDuration(ev.agent.idle_seconds * 1000);
      }
      out.push(al);
    }
    var sh = ev.sunshine;
    if (sh) {
      var sl = "Sunshine: no answer";
      if (sh.reachable) {
        sl = "Sunshine: " + (sh.state || "");
        if (sh.state === "busy" && sh.current_game) sl += ", app " + sh.current_game;
        if (sh.identity === "mismatch") sl += ", another host (" + (sh.hostname || "") + ")";
      }
      out.push(sl);
    }
    if (ev.at && ev.at.indexOf("0001-") !== 0) {
      out.push("probed at " + new Date(ev.at).toISOString().slice(11, 19) + " UTC");
    }
    return out;
  }

  // --- Cards. -------------------------------------------------------------
  function cardsOf(machine) {
    return Array.prototype.filter.call(document.querySelectorAll("article.machine[data-machine]"), function (c) {
      return c.getAttribute("data-machine") === machine;
    });
  }

  function setText(card, sel, text) {
    var el = card.querySelector(sel);
    if (el && el.textContent !== text) el.textContent = text;
  }

  function updateSince(card) {
    var since = Date.parse(card.getAttribute("data-since") || "");
    setText(card, ".since", isNaN(since) ? "" : "for " + shortDuration(now() - since));
  }

  function applyState(card, sc) {
    card.setAttribute("data-state", sc.to);
    setText(card, ".state", stateLabel(sc.to));
    var asleep = card.querySelector(".asleep");
    if (asleep) asleep.hidden = !(sc.to === "off" && isAsleep(sc.evidence));
    if (sc.at) card.setAttribute("data-since", sc.at);
    updateSince(card);
    if (sc.reason) setText(card, ".reason", sc.reason);
    var facts = card.querySelector(".facts");
    if (facts && sc.evidence) {
      var lines = evidenceLines(sc.evidence);
      facts.replaceChildren.apply(facts, lines.map(function (l) {
        var li = document.createElement("li");
        li.textContent = l;
        return li;
      }));
    }
  }

  function applyAction(card, a) {
    // An older action's late update must not replace a newer one's line.
    var cur = card.getAttribute("data-action-id") || "";
    if (cur && a.id && a.id < cur) return;
    var p = progressOf(a);
    card.setAttribute("data-action-id", a.id || "");
    card.setAttribute("data-action-kind", a.kind || "");
    if (a.created_at) card.setAttribute("data-action-at", a.created_at);
    if (p[1]) card.setAttribute("data-outcome", p[1]);
    else card.removeAttribute("data-outcome");
    setText(card, ".progress", p[0]);
    var d = card.querySelector(".evidence .detail");
    if (a.status === "failed") {
      if (!d) {
        d = document.createElement("p");
        d.className = "detail";
        var ev = card.querySelector(".evidence");
        if (ev) ev.appendChild(d);
      }
      d.textContent = "Last " + a.kind + ": " + (a.detail || "");
    } else if (d) {
      d.remove();
    }
  }

  function showError(card, msg) {
    card.setAttribute("data-outcome", "failed");
    setText(card, ".progress", msg);
  }

  // The keep-awake form toggles between "keep awake 2 h" and "clear".
  function applyKeepAwake(form, ans) {
    var btn = form.querySelector('button[data-action="keep-awake"]');
    var forIn = form.querySelector('input[name="for"]');
    var clearIn = form.querySelector('input[name="clear"]');
    if (ans.until) {
      if (forIn) forIn.remove();
      if (!clearIn) {
        clearIn = document.createElement("input");
        clearIn.type = "hidden";
        clearIn.name = "clear";
        clearIn.value = "1";
        form.insertBefore(clearIn, btn);
      }
      btn.textContent = "Awake " + shortDuration(roundDuration(Date.parse(ans.until) - now())) + " more";
      btn.classList.add("on");
      btn.setAttribute("aria-pressed", "true");
    } else {
      if (clearIn) clearIn.remove();
      if (!forIn) {
        forIn = document.createElement("input");
        forIn.type = "hidden";
        forIn.name = "for";
        forIn.value = "2h";
        form.insertBefore(forIn, btn);
      }
      btn.textContent = "Keep awake 2 h";
      btn.classList.remove("on");
      btn.removeAttribute("aria-pressed");
    }
  }

  // --- Buttons: fetch instead of a reload. ---------------------------------
  document.addEventListener("submit", function (ev) {
    var form = ev.target;
    if (!(form instanceof HTMLFormElement) || !form.classList.contains("act")) return;
    var card = form.closest("article.machine");
    if (!card || !window.fetch) return;
    ev.preventDefault();
    var btn = form.querySelector("button");
    if (btn && btn.getAttribute("aria-busy") === "true") return;
    // A phone in a pocket must not turn a PC off: a shutdown asks first.
    if (btn && btn.getAttribute("data-action") === "shutdown" &&
        !window.confirm("Shut down " + card.getAttribute("data-machine") + "?")) return;
    if (btn) btn.setAttribute("aria-busy", "true");
    var isKeep = btn && btn.getAttribute("data-action") === "keep-awake";
    fetch(form.action, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Accept": "application/json", "X-CSRF-Token": csrf },
      body: new URLSearchParams(new FormData(form))
    }).then(function (res) {
      if (res.status === 401) {
        location.href = "/login?next=" + encodeURIComponent(location.pathname);
        return null;
      }
      return res.json().then(function (ans) { return { res: res, ans: ans }; }, function () {
        return { res: res, ans: {} };
      });
    }).then(function (r) {
      if (!r) return;
      var ans = r.ans || {};
      if (isKeep && r.res.ok) {
        applyKeepAwake(form, ans);
        return;
      }
      if (ans.action) applyAction(card, ans.action);
      if (!r.res.ok && ans.error && !ans.action) showError(card, ans.error.message || "failed");
      else if (!r.res.ok && !ans.action) showError(card, "failed: HTTP " + r.res.status);
    }).catch(function () {
      showError(card, "the hub did not answer; check the connection");
    }).finally(function () {
      if (btn) btn.removeAttribute("aria-busy");
    });
  });

  // --- Confirmations: a form with data-confirm (Forget a relay) asks, as
  // the shutdown button does, then sends confirm=yes. Without script the
  // hub asks on a page of its own, so the form works either way.
  document.addEventListener("submit", function (ev) {
    var form = ev.target;
    if (!(form instanceof HTMLFormElement) || !form.hasAttribute("data-confirm")) return;
    if (!window.confirm(form.getAttribute("data-confirm"))) {
      ev.preventDefault();
      return;
    }
    if (!form.querySelector('input[name="confirm"]')) {
      var yes = document.createElement("input");
      yes.type = "hidden";
      yes.name = "confirm";
      yes.value = "yes";
      form.appendChild(yes);
    }
  });

  // --- Live updates. --------------------------------------------------------
  var cards = document.querySelectorAll("article.machine[data-machine]");
  var live = document.getElementById("live");
  function setLive(state, text) {
    if (!live) return;
    live.setAttribute("data-live", state);
    live.textContent = text;
  }

  // "for 3 min" counters, every few seconds; a running action counts its
  // seconds: "waking… 12 s".
  if (cards.length) {
    setInterval(function () {
      document.querySelectorAll("article.machine[data-since]").forEach(updateSince);
    }, 5000);
    setInterval(function () {
      document.querySelectorAll('article.machine[data-outcome="running"][data-action-at]').forEach(function (c) {
        var at = Date.parse(c.getAttribute("data-action-at"));
        if (isNaN(at)) return;
        setText(c, ".progress", runningLabel(c.getAttribute("data-action-kind") || "") + " " + shortDuration(now() - at));
      });
    }, 1000);
  }

  var list = document.getElementById("machines");
  var lastSeq = list ? list.getAttribute("data-seq") : null;
  var es = null;
  var retry = null;

  function connect() {
    if (!signedIn || !window.EventSource || (!cards.length && !list)) return;
    if (es) es.close();
    clearTimeout(retry);
    setLive("connecting", "connecting…");
    es = new EventSource("/events" + (lastSeq !== null ? "?after=" + encodeURIComponent(lastSeq) : ""));
    es.onopen = function () { setLive("on", "live"); };
    es.onerror = function () {
      if (es.readyState === EventSource.CLOSED) {
        // Refused (signed out, or the hub restarting): check, then retry.
        setLive("off", "reconnecting…");
        retry = setTimeout(checkThenConnect, 5000);
      } else {
        setLive("connecting", "reconnecting…");
      }
    };
    function handle(fn) {
      return function (msg) {
        if (msg.lastEventId) lastSeq = msg.lastEventId;
        var e;
        try { e = JSON.parse(msg.data); } catch (_) { return; }
        fn(e);
      };
    }
    es.addEventListener("state", handle(function (e) {
      cardsOf(e.machine).forEach(function (c) { applyState(c, e.data || {}); });
    }));
    es.addEventListener("action", handle(function (e) {
      cardsOf(e.machine).forEach(function (c) { applyAction(c, e.data || {}); });
    }));
    es.addEventListener("machine", handle(function (e) {
      var op = (e.data || {}).op;
      if (op === "added" || op === "removed") location.reload();
    }));
    es.addEventListener("signed-out", function () {
      es.close();
      location.href = "/login?next=" + encodeURIComponent(location.pathname);
    });
  }

  function checkThenConnect() {
    fetch("/sessions", { credentials: "same-origin", redirect: "manual", headers: { "Accept": "text/html" } })
      .then(function (res) {
        if (res.type === "opaqueredirect" || res.status === 401) {
          location.href = "/login?next=" + encodeURIComponent(location.pathname);
        } else {
          connect();
        }
      }, function () { retry = setTimeout(checkThenConnect, 5000); });
  }

  connect();
  // Phones freeze background tabs: pick the stream up again on return.
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible" && (!es || es.readyState === EventSource.CLOSED)) connect();
  });
  window.addEventListener("pageshow", function (ev) { if (ev.persisted) connect(); });
})();
