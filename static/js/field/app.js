// The field app on every page (templates/base.html): the service worker, the navbar's
// "offline — N changes waiting to send" indicator and its "Send now", taking the officer's
// day along while online, sending the queue when the network returns, and keeping the
// phone's memory private: another user's day is wiped, and logging out asks before it
// drops changes that were never sent.
(function () {
  "use strict";
  var Q = window.DaihouQueue;
  var body = document.body;
  var user = body.getAttribute("data-user");
  var status = document.getElementById("field-status");
  var texts = document.getElementById("field-texts");
  var loggedOut = false;
  var TAKE_ALONG_EVERY_MS = 60 * 60 * 1000;  // a day changes slowly; a phone's data plan is small
  if (!Q || !window.indexedDB) { return; }

  function text(name, count) {
    var value = texts ? texts.getAttribute("data-" + name + (count === 1 ? "-one" : "")) || texts.getAttribute("data-" + name) : "";
    return (value || "").replace("%(count)s", String(count));
  }

  function show() {
    if (!status) { return Promise.resolve(); }
    return Q.counts().then(function (c) {
      var online = navigator.onLine;
      var parts = [];
      if (!online) { parts.push(text("offline")); }
      if (c.waiting) { parts.push(text("waiting", c.waiting)); }
      if (c.refused) { parts.push(text("refused", c.refused)); }
      if (online && c.waiting && loggedOut) { parts.push(text("login")); }
      status.querySelector("[data-field-label]").textContent = parts.join(" — ");
      status.classList.toggle("d-none", online && !c.total);
      status.classList.toggle("text-bg-warning", !online || c.refused > 0);
      status.classList.toggle("text-bg-info", online && !c.refused && c.waiting > 0);
      status.setAttribute("data-waiting", String(c.waiting));
      status.setAttribute("data-refused", String(c.refused));
      var send = status.querySelector("[data-field-send]");
      if (send) { send.classList.toggle("d-none", !online || !c.waiting); }
    });
  }

  function send() {
    if (!navigator.onLine) { return show(); }
    return Q.sendAll().then(function (result) {
      loggedOut = result.stopped === "login";  // the session ended: nothing sends until a login
      document.dispatchEvent(new CustomEvent("daihou:sent", { detail: result }));
      return show().then(function () { return result; });
    }, function () { return show(); });
  }

  function askForBackgroundSync() {
    if (!("serviceWorker" in navigator)) { return; }
    navigator.serviceWorker.ready.then(function (registration) {
      if (registration.sync) { registration.sync.register(Q.SYNC_TAG).catch(function () {}); }
    });
  }

  // While online, keep the officer's day: fetch each page of it and put it in the day's
  // cache, and drop the pages no longer on it.
  function takeTheDayAlong(force) {
    var dayUrl = body.getAttribute("data-field-day");
    if (!dayUrl || !navigator.onLine || !window.caches) { return Promise.resolve(); }
    return Q.day().then(function (kept) {
      if (!force && kept && kept.user === Number(user) && Date.now() - kept.syncedAt < TAKE_ALONG_EVERY_MS) { return; }
      return fetch(dayUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (response) { if (!response.ok) { throw new Error("day"); } return response.json(); })
        .then(function (day) {
          return caches.open(Q.DAY_CACHE).then(function (cache) {
            return Promise.all(day.pages.map(function (page) {
              return fetch(page, { credentials: "same-origin" }).then(function (response) {
                if (response.ok && !response.redirected) { return cache.put(page, response); }
              }).catch(function () {});
            })).then(function () {
              return cache.keys().then(function (requests) {
                return Promise.all(requests.map(function (request) {
                  var url = new URL(request.url);
                  if (day.pages.indexOf(url.pathname + url.search) < 0) { return cache.delete(request); }
                }));
              });
            });
          }).then(function () {
            return Q.setDay({ user: day.user, pages: day.pages, keepDays: day.keep_days, syncedAt: Date.now(), inspections: day.inspections });
          });
        })
        .then(function () { document.dispatchEvent(new CustomEvent("daihou:day-kept")); })
        .catch(function () {});
    });
  }

  // Another user's memory is not this user's: wipe it before anything else.
  function claimThePhone() {
    if (!user) { return Promise.resolve(); }
    return Q.owner().then(function (owner) {
      if (owner && String(owner) !== String(user)) { return Q.wipe(); }
    }).then(function () { return Q.setOwner(user); });
  }

  function guardLogout() {
    document.querySelectorAll("form[data-logout]").forEach(function (form) {
      form.addEventListener("submit", function (event) {
        if (form.getAttribute("data-confirmed")) { return; }
        event.preventDefault();
        send().then(function () { return Q.counts(); }).then(function (c) {
          if (c.total && !window.confirm(text("logout-loses", c.total))) { return; }
          return Q.wipe().then(function () {
            form.setAttribute("data-confirmed", "1");
            form.submit();
          });
        });
      });
    });
  }

  if ("serviceWorker" in navigator && body.getAttribute("data-sw")) {
    navigator.serviceWorker.register(body.getAttribute("data-sw"), { scope: "/" }).catch(function () {});
  }
  if (status) {
    var button = status.querySelector("[data-field-send]");
    if (button) { button.addEventListener("click", function () { send(); }); }
  }
  window.addEventListener("online", function () { send().then(function () { takeTheDayAlong(false); }); });
  window.addEventListener("offline", show);
  document.addEventListener("daihou:queued", function () {
    show();
    if (navigator.onLine) { send(); } else { askForBackgroundSync(); }
  });
  guardLogout();
  window.DaihouField = { show: show, send: send, takeTheDayAlong: takeTheDayAlong, text: text };
  window.DaihouField.ready = claimThePhone().then(show).then(function () {
    return send();
  }).then(function () {
    return takeTheDayAlong(false);
  });
})();
