{% autoescape off %}/* Daihou's service worker (portal/views.py, service_worker; version {{ version }}).

   Static files: served from this browser's cache and refreshed behind (stale while
   revalidate), so the portal opens at once on a slow link. Pages: from the network; the
   pages of the officer's day (put in DAY_CACHE by field/app.js, and refreshed here each
   time one is opened online) answer from the cache when the network does not, until they
   expire. Nothing else is kept: the cache holds the officer's own day, no other page.
   Posts are never answered from here: field/queue.js keeps what the officer sends while
   offline and sends it when the network returns (also from here, on Background Sync). */
"use strict";
importScripts("{{ workbox }}", "{{ idb }}", "{{ queue }}");

var MODULES = {{ modules_json }};
workbox.setConfig({
  debug: false,
  modulePathCb: function (name) { return MODULES[name]; }
});

var STATIC_CACHE = "daihou-static-{{ version }}";
var STATIC_URLS = {{ static_urls_json }};
var OFFLINE_URL = "{{ offline_url }}";
var NETWORK_TIMEOUT_MS = 4000;

self.addEventListener("install", function (event) {
  event.waitUntil(
    caches.open(STATIC_CACHE)
      .then(function (cache) { return cache.addAll(STATIC_URLS.concat([OFFLINE_URL])); })
      .then(function () { return self.skipWaiting(); })
  );
});

self.addEventListener("activate", function (event) {
  event.waitUntil(
    caches.keys().then(function (names) {
      return Promise.all(names.filter(function (name) {
        return name.indexOf("daihou-static-") === 0 && name !== STATIC_CACHE;
      }).map(function (name) { return caches.delete(name); }));
    }).then(function () { return self.clients.claim(); })
  );
});

workbox.routing.registerRoute(
  function (options) {
    return options.url.origin === self.location.origin &&
      options.url.pathname.indexOf("{{ static_prefix }}") === 0;
  },
  new workbox.strategies.StaleWhileRevalidate({ cacheName: STATIC_CACHE })
);

function withTimeout(promise, ms) {
  return new Promise(function (resolve, reject) {
    var timer = setTimeout(function () { reject(new Error("timeout")); }, ms);
    promise.then(function (value) { clearTimeout(timer); resolve(value); },
                 function (error) { clearTimeout(timer); reject(error); });
  });
}

async function fromTheDay(request) {
  if (await DaihouQueue.dayExpired()) {
    await DaihouQueue.forgetDay();
    return undefined;
  }
  return caches.match(request.url, { cacheName: DaihouQueue.DAY_CACHE, ignoreSearch: false });
}

async function page(options) {
  var request = options.request;
  try {
    var response = await withTimeout(fetch(request), NETWORK_TIMEOUT_MS);
    if (response.ok && !response.redirected && await DaihouQueue.isDayPage(request.url)) {
      var cache = await caches.open(DaihouQueue.DAY_CACHE);
      await cache.put(request.url, response.clone());
    }
    return response;
  } catch (error) {
    var kept = await fromTheDay(request);
    if (kept) { return kept; }
    var offline = await caches.match(OFFLINE_URL);
    return offline || Response.error();
  }
}

workbox.routing.registerRoute(
  function (options) {
    return options.request.mode === "navigate" && options.url.origin === self.location.origin;
  },
  page
);

self.addEventListener("sync", function (event) {
  if (event.tag === DaihouQueue.SYNC_TAG) {
    event.waitUntil(DaihouQueue.sendAll());
  }
});
{% endautoescape %}
