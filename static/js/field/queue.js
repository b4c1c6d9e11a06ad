// The field app's memory on the phone, shared by the pages and the service worker (which
// loads it with importScripts): what the officer sent while offline (the queue), what they
// typed and not yet sent (drafts), and which pages of their day the phone keeps.
// IndexedDB through idb-keyval (static/vendor/idb-keyval). Nothing here is ever dropped
// without the officer's say: a refused item stays, with the server's reasons, until they
// edit and resend it, send it anyway, or discard it (the outbox page).
(function (root) {
  "use strict";
  var idb = root.idbKeyval;
  var store = idb.createStore("daihou-field", "kv");
  var DAY_CACHE = "daihou-day";
  var SYNC_TAG = "daihou-send";
  var DAY_URL = "/risk/field/day/";
  var QUEUE = "queue";

  function now() { return Date.now(); }

  function newId() {
    if (root.crypto && root.crypto.randomUUID) { return root.crypto.randomUUID(); }
    // Older browsers: a version-4 UUID from getRandomValues.
    var b = new Uint8Array(16);
    root.crypto.getRandomValues(b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    var h = Array.prototype.map.call(b, function (x) { return (x + 0x100).toString(16).slice(1); }).join("");
    return h.slice(0, 8) + "-" + h.slice(8, 12) + "-" + h.slice(12, 16) + "-" + h.slice(16, 20) + "-" + h.slice(20);
  }

  function items() {
    return idb.get(QUEUE, store).then(function (list) { return list || []; });
  }

  // Every change to the queue is one read-modify-write inside idb-keyval's `update`, which
  // runs in a single IndexedDB transaction: a page and the service worker cannot lose
  // each other's change.
  function change(mutate) {
    return idb.update(QUEUE, function (list) { return mutate((list || []).slice()); }, store);
  }

  // An item: {id, url, inspection, action, fields: [[name, value]], files: [[name, bytes
  // (an ArrayBuffer: a Blob's handle does not outlive the page everywhere, incognito
  // windows among them), filename, type]], version, created, state: "waiting" | "refused",
  // reasons, conflict, overwrite}.
  function add(item) {
    item.id = item.id || newId();
    item.created = item.created || now();
    item.state = "waiting";
    return change(function (list) {
      // A newer autosave of the same report replaces one not yet sent: both are the whole
      // form, and only the latest matters.
      if (item.action === "save" && item.autosave) {
        list = list.filter(function (other) {
          return !(other.autosave && other.state === "waiting" && other.inspection === item.inspection);
        });
      }
      list.push(item);
      return list;
    }).then(function () { return item; });
  }

  function patch(id, fields) {
    return change(function (list) {
      return list.map(function (item) { return item.id === id ? Object.assign({}, item, fields) : item; });
    });
  }

  function remove(id) {
    return change(function (list) { return list.filter(function (item) { return item.id !== id; }); });
  }

  function counts() {
    return items().then(function (list) {
      var waiting = list.filter(function (i) { return i.state === "waiting"; }).length;
      return { waiting: waiting, refused: list.length - waiting, total: list.length };
    });
  }

  function formData(item, version) {
    var data = new FormData();
    item.fields.forEach(function (pair) {
      data.append(pair[0], pair[0] === "version" && version !== undefined ? String(version) : pair[1]);
    });
    (item.files || []).forEach(function (file) {
      data.append(file[0], new Blob([file[1]], { type: file[3] || "application/octet-stream" }), file[2]);
    });
    return data;
  }

  function freshToken() {
    return fetch(DAY_URL, { credentials: "same-origin", redirect: "manual", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok || (response.headers.get("Content-Type") || "").indexOf("json") < 0) {
          throw new Error("login");
        }
        return response.json();
      })
      .then(function (day) { return day.csrf; });
  }

  // Sends the waiting items in the order they were made; stops at the first that could not
  // reach the server (it and those after it wait for the next try). One sender at a time
  // across the pages and the service worker (Web Locks where the browser has them).
  function sendAll() {
    if (root.navigator && root.navigator.locks) {
      return root.navigator.locks.request(SYNC_TAG, function () { return sendNow(); });
    }
    return sendNow();
  }

  async function sendNow() {
    var list = (await items()).filter(function (i) { return i.state === "waiting"; });
    var result = { sent: 0, refused: 0, stopped: "" , answers: {} };
    if (!list.length) { return result; }
    var token;
    try {
      token = await freshToken();
    } catch (error) {
      result.stopped = error.message === "login" ? "login" : "network";
      return result;
    }
    var versions = (await idb.get("versions", store)) || {};
    for (var n = 0; n < list.length; n += 1) {
      var item = list[n];
      // The phone's own earlier item moved the report on: this one builds on that version.
      var known = versions[item.inspection];
      var version = known !== undefined && known > (item.version || 0) ? known : undefined;
      var headers = { "X-Daihou-Client-Id": item.id, "X-CSRFToken": token, Accept: "application/json" };
      if (item.overwrite) { headers["X-Daihou-Overwrite"] = "1"; }
      if (item.autosave) { headers["X-Daihou-Autosave"] = "1"; }
      var response;
      try {
        response = await fetch(item.url, {
          method: "POST", body: formData(item, version), headers: headers,
          credentials: "same-origin", redirect: "manual"
        });
      } catch (error) {
        result.stopped = "network";  // the connection dropped: the server may or may not have it; the id decides
        break;
      }
      var json = null;
      if ((response.headers.get("Content-Type") || "").indexOf("json") >= 0) {
        json = await response.json().catch(function () { return null; });
      }
      if (response.ok && json && json.ok) {
        versions[item.inspection] = json.version;
        await idb.set("versions", versions, store);
        await remove(item.id);
        result.sent += 1;
        result.answers[item.id] = json;
      } else if (response.status === 409 && json) {
        await patch(item.id, {
          state: "refused", reasons: json.reasons || [], conflict: !!json.conflict,
          overwritable: !!json.overwritable, refusedAt: now(), detailUrl: json.url || ""
        });
        result.refused += 1;
      } else {
        // Logged out, forbidden or a server error: keep it waiting and say so.
        result.stopped = response.status === 0 || response.type === "opaqueredirect" ? "login" : "server";
        break;
      }
    }
    return result;
  }

  // --- Drafts: what the officer typed in a report, kept as they type -----------------------

  function saveDraft(inspection, draft) {
    return idb.set("draft:" + inspection, draft, store);
  }
  function draft(inspection) { return idb.get("draft:" + inspection, store); }
  function dropDraft(inspection) { return idb.del("draft:" + inspection, store); }

  // --- The day kept on the phone -----------------------------------------------------------

  function day() { return idb.get("day", store); }
  function setDay(value) { return idb.set("day", value, store); }

  function isDayPage(url) {
    return day().then(function (kept) {
      if (!kept) { return false; }
      var path = new URL(url).pathname + new URL(url).search;
      return kept.pages.indexOf(path) >= 0;
    });
  }

  function dayExpired() {
    return day().then(function (kept) {
      return !kept || now() - kept.syncedAt > kept.keepDays * 24 * 3600 * 1000;
    });
  }

  function forgetDay() {
    return caches.delete(DAY_CACHE).then(function () { return idb.del("day", store); });
  }

  // Everything this browser keeps for the field app: on logout, or when another user logs in.
  function wipe() {
    return Promise.all([caches.delete(DAY_CACHE), idb.clear(store)]);
  }

  function owner() { return idb.get("owner", store); }
  function setOwner(user) { return idb.set("owner", user, store); }

  root.DaihouQueue = {
    DAY_CACHE: DAY_CACHE, SYNC_TAG: SYNC_TAG, DAY_URL: DAY_URL,
    newId: newId, items: items, add: add, patch: patch, remove: remove, counts: counts,
    sendAll: sendAll, saveDraft: saveDraft, draft: draft, dropDraft: dropDraft,
    day: day, setDay: setDay, isDayPage: isDayPage, dayExpired: dayExpired, forgetDay: forgetDay,
    wipe: wipe, owner: owner, setOwner: setOwner, freshToken: freshToken
  };
})(typeof self !== "undefined" ? self : window);
