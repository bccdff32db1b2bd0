// moonwake service worker. It caches the hashed static files (cache-first:
// their URLs change with their content) and an offline page, and nothing
// else: pages, the event stream, the API and one-tap links always go to the
// network, so a state or an action is never shown from a cache.
"use strict";

const VERSION = "__VERSION__";
const CACHE = "moonwake-" + VERSION;
const ASSETS = __ASSETS__;
const OFFLINE = "/offline";

self.addEventListener("install", (event) => {
  event.waitUntil(
    caches.open(CACHE)
      .then((cache) => cache.addAll(ASSETS.concat([OFFLINE])))
      .then(() => self.skipWaiting())
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches.keys()
      .then((keys) => Promise.all(keys.filter((k) => k.startsWith("moonwake-") && k !== CACHE).map((k) => caches.delete(k))))
      .then(() => self.clients.claim())
  );
});

self.addEventListener("fetch", (event) => {
  const req = event.request;
  if (req.method !== "GET") return;
  const url = new URL(req.url);
  if (url.origin !== self.location.origin) return;
  const p = url.pathname;
  if (p.startsWith("/api/") || p.startsWith("/l/") || p === "/events") return; // network only

  if (p.startsWith("/static/")) {
    // Hashed, immutable: the cache first, then the network (and keep it).
    event.respondWith(
      caches.open(CACHE).then((cache) =>
        cache.match(req).then((hit) => hit || fetch(req).then((res) => {
          if (res.ok) cache.put(req, res.clone());
          return res;
        }))
      )
    );
    return;
  }

  if (req.mode === "navigate") {
    // Pages carry live state: always the network; the offline page only
    // when the hub cannot be reached at all.
    event.respondWith(fetch(req).catch(() => caches.match(OFFLINE)));
  }
});
