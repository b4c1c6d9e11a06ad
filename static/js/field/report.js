// The inspection report with the field app (issue 18): nothing typed is lost, online or not.
//  - As the officer types, the whole form is kept on the phone (IndexedDB) within a second,
//    and sent as a draft a few seconds later; the page says when it was last saved.
//  - Save, Submit, Log the attempt and Attach go through the queue: sent at once when online,
//    kept and sent when the network returns otherwise (field/queue.js), each exactly once.
//  - Photos are made smaller on the phone first (long side at most 1,600 px, JPEG).
//  - Reopened, the page restores what was typed and not yet sent, and shows what waits.
// Without this script the form posts as it always did.
(function () {
  "use strict";
  var form = document.getElementById("report-form");
  var Q = window.DaihouQueue;
  var F = window.DaihouField;
  if (!form || !Q || !F || !form.getAttribute("data-field-url")) { return; }
  var url = form.getAttribute("data-field-url");
  var inspection = Number(form.getAttribute("data-inspection"));
  var versionInput = form.querySelector("[name=version]");
  var texts = document.getElementById("field-texts");
  var LOCAL_MS = 700;
  var AUTOSAVE_MS = 4000;
  var MAX_SIDE = 1600;
  var SKIP = { csrfmiddlewaretoken: 1, submission_key: 1, upload_key: 1, action: 1, file: 1 };
  var localTimer = null;
  var autosaveTimer = null;
  var mine = {};  // ids of items this page queued: their answers are reported here

  var note = document.createElement("div");
  note.className = "small text-secondary mb-2";
  note.setAttribute("data-testid", "draft-status");
  note.setAttribute("role", "status");
  form.insertBefore(note, form.firstChild);
  var problems = document.createElement("div");
  problems.className = "alert alert-warning d-none";
  problems.setAttribute("data-testid", "field-refused");
  form.insertBefore(problems, note);

  function t(name, values) {
    var value = (texts && texts.getAttribute("data-" + name)) || "";
    Object.keys(values || {}).forEach(function (key) { value = value.replace("%(" + key + ")s", values[key]); });
    return value;
  }
  function clock(ms) {
    var d = new Date(ms);
    return ("0" + d.getHours()).slice(-2) + ":" + ("0" + d.getMinutes()).slice(-2);
  }
  function version() { return Number(versionInput ? versionInput.value : 0) || 0; }

  function snapshot(action) {
    var fields = [];
    new FormData(form).forEach(function (value, name) {
      if (typeof value === "string" && !SKIP[name]) { fields.push([name, value]); }
    });
    fields.push(["action", action]);
    return fields;
  }

  function keepLocally() {
    return Q.saveDraft(inspection, { fields: snapshot("save"), version: version(), at: Date.now(), sent: false });
  }

  // Everything typed reached the portal, or waits in the queue: leaving the page loses
  // nothing now (keep_typed.js stops asking).
  function nothingToLose() {
    document.dispatchEvent(new CustomEvent("daihou:kept-typed"));
  }

  function queue(action, extra) {
    var item = Object.assign({
      url: url, inspection: inspection, loan: Number(form.getAttribute("data-loan")),
      title: form.getAttribute("data-title") || "",
      action: action, fields: snapshot(action), version: version()
    }, extra || {});
    return Q.add(item).then(function (queued) {
      mine[queued.id] = action;
      document.dispatchEvent(new CustomEvent("daihou:queued", { detail: queued }));
      return queued;
    });
  }

  var typedSince = 0;
  function changed() {
    typedSince += 1;
    clearTimeout(localTimer);
    clearTimeout(autosaveTimer);
    localTimer = setTimeout(keepLocally, LOCAL_MS);
    autosaveTimer = setTimeout(function () { queue("save", { autosave: true }); }, AUTOSAVE_MS);
  }
  form.addEventListener("input", function (event) {
    if (event.target.type !== "file") { changed(); }  // a photo chosen is sent by Attach
  });
  form.addEventListener("change", function (event) {
    if (event.target.name !== "file") { changed(); }
  });

  // Photos, smaller: a day of them must fit on the phone and go over a weak link.
  function smaller(file) {
    if (!/^image\/(jpeg|png|webp)$/.test(file.type) || !window.createImageBitmap) {
      return Promise.resolve({ blob: file, name: file.name });
    }
    return createImageBitmap(file).then(function (bitmap) {
      var scale = Math.min(1, MAX_SIDE / Math.max(bitmap.width, bitmap.height));
      var canvas = document.createElement("canvas");
      canvas.width = Math.round(bitmap.width * scale);
      canvas.height = Math.round(bitmap.height * scale);
      canvas.getContext("2d").drawImage(bitmap, 0, 0, canvas.width, canvas.height);
      return new Promise(function (resolve) {
        canvas.toBlob(function (blob) {
          resolve({ blob: blob, name: file.name.replace(/\.[^.]+$/, "") + ".jpg" });
        }, "image/jpeg", 0.85);
      });
    });
  }

  function clearAttempt() {
    form.querySelectorAll("[name^='attempt-']").forEach(function (input) {
      if (input.type !== "date") { input.value = ""; }
    });
  }

  function waitingHere(action) {
    var list = form.querySelector("[data-testid=attempts]");
    if (action === "attempt" && list) {
      var li = document.createElement("li");
      li.className = "text-warning";
      li.setAttribute("data-testid", "attempt-waiting");
      var outcome = form.querySelector("[name='attempt-outcome']");
      li.textContent = t("attempt-waiting") + (outcome && outcome.value ? ": " + outcome.value : "");
      list.appendChild(li);
    }
  }

  // Save, Submit, Log the attempt and Attach. Online, the form posts as it always did (the
  // page answers with its messages and field errors), once a draft still being sent has
  // arrived, so that the post edits the version that draft made. Offline, the action waits
  // in the queue with everything typed (and the photo chosen, made smaller) until the
  // network returns.
  var posting = false;
  form.addEventListener("submit", function (event) {
    if (posting) { return; }
    var submitter = event.submitter;
    var action = (submitter && submitter.name === "action") ? submitter.value : "save";
    event.preventDefault();
    event.stopImmediatePropagation();
    clearTimeout(autosaveTimer);
    keepLocally();
    if (navigator.onLine) {
      F.send().then(function () {
        posting = true;
        form.requestSubmit(submitter || undefined);
      });
      return;
    }
    var input = form.querySelector("input[type=file][name=file]");
    var file = input && input.files && input.files[0];
    if (action === "attach" && !file) { note.textContent = t("choose-file"); return; }
    (file ? smaller(file) : Promise.resolve(null)).then(function (photo) {
      if (input) { input.value = ""; }
      if (!photo) { return queue(action); }
      return photo.blob.arrayBuffer().then(function (bytes) {
        return queue(action, { files: [["file", bytes, photo.name, photo.blob.type]] });
      });
    }).then(function () {
      waitingHere(action);
      if (action === "attempt") { clearAttempt(); }
      note.textContent = t("kept-offline");
      nothingToLose();
    });
  }, true);

  // Offline, htmx's own "Attach" (a draft already saved) cannot reach the portal: the queue
  // takes it instead. Capture phase, before htmx sees the click.
  form.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("button[name=action][value=attach]");
    if (button && button.hasAttribute("hx-post") && !navigator.onLine) {
      event.preventDefault();
      event.stopImmediatePropagation();
      form.requestSubmit(button);
    }
  }, true);

  document.addEventListener("daihou:sent", function (event) {
    var answers = (event.detail && event.detail.answers) || {};
    var typedBefore = typedSince;
    Object.keys(answers).forEach(function (id) {
      var answer = answers[id];
      if (answer.version && versionInput && Number(answer.version) > version()) {
        versionInput.value = String(answer.version);  // the next save edits this version
      }
      if (!(id in mine)) { return; }
      delete mine[id];
      Q.draft(inspection).then(function (kept) {
        if (kept) { kept.sent = typedSince === typedBefore; kept.version = answer.version; return Q.saveDraft(inspection, kept); }
      });
      note.textContent = t("saved-at", { time: answer.saved_at || clock(Date.now()) });
      if (typedSince === typedBefore) { nothingToLose(); }
    });
    // A draft saved as the officer types that the portal refused (a malformed date, say):
    // the form and the phone still hold it; say why, and let the next save try again.
    Q.items().then(function (list) {
      list.forEach(function (item) {
        if (item.id in mine && item.autosave && item.state === "refused") {
          delete mine[item.id];
          note.textContent = t("report-refused") + " " + (item.reasons || []).join(" ");
          Q.remove(item.id);
        }
      });
      showWaiting();
    });
  });

  function showWaiting() {
    return Q.items().then(function (list) {
      var here = list.filter(function (item) { return item.inspection === inspection; });
      var refused = here.filter(function (item) { return item.state === "refused"; });
      problems.classList.toggle("d-none", !refused.length);
      problems.textContent = "";
      refused.forEach(function (item) {
        var p = document.createElement("p");
        p.className = "mb-1";
        p.textContent = t("report-refused") + " " + (item.reasons || []).join(" ");
        problems.appendChild(p);
      });
      if (refused.length) {
        var link = document.createElement("a");
        var outbox = document.querySelector("#field-status [data-field-label]");
        link.href = outbox ? outbox.getAttribute("href") : "/outbox/";
        link.textContent = t("resolve");
        problems.appendChild(link);
      }
      var waiting = here.length - refused.length;
      if (waiting && !navigator.onLine) { note.textContent = t("kept-offline"); }
    });
  }

  // Reopened: what was typed here and not sent comes back.
  function restore(kept) {
    var values = {};
    kept.fields.forEach(function (pair) {
      (values[pair[0]] = values[pair[0]] || []).push(pair[1]);
    });
    Array.prototype.forEach.call(form.elements, function (element) {
      var name = element.name;
      if (!name || SKIP[name] || name === "version" || element.type === "file" || element.type === "submit") { return; }
      var given = values[name] || [];
      if (element.type === "radio" || element.type === "checkbox") {
        element.checked = given.indexOf(element.value) >= 0;
      } else if (name in values) {
        element.value = given[0];
      }
    });
  }

  Q.draft(inspection).then(function (kept) {
    if (kept && !kept.sent && (kept.force || kept.version === version())) {
      restore(kept);
      note.textContent = t("restored", { time: clock(kept.at) });
      if (kept.force) {
        kept.force = false;
        kept.version = version();
        Q.saveDraft(inspection, kept);
        changed();
      }
    } else if (form.getAttribute("data-saved-at")) {
      note.textContent = t("saved-at", { time: form.getAttribute("data-saved-at") });
    }
    return showWaiting();
  });
})();
