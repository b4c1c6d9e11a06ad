// The outbox (portal/outbox.html): the changes on this phone that have not reached the
// portal, with the server's reasons for those it refused, and what the officer can do.
(function () {
  "use strict";
  var Q = window.DaihouQueue;
  var F = window.DaihouField;
  var list = document.querySelector("[data-outbox-list]");
  var empty = document.querySelector("[data-outbox-empty]");
  var texts = document.getElementById("outbox-texts");
  if (!Q || !list) { return; }

  function t(name) { return texts.getAttribute("data-" + name) || name; }

  function button(label, kind, handler) {
    var b = document.createElement("button");
    b.type = "button";
    b.className = "btn btn-sm btn-" + kind + " me-1 mt-1";
    b.textContent = label;
    b.addEventListener("click", handler);
    return b;
  }

  // Edit: the refused change becomes the report's draft on this phone again (restored over
  // whatever the portal now holds, since the officer asked for it), and the report opens.
  function edit(item) {
    return Q.saveDraft(item.inspection, { fields: item.fields, version: item.version, at: item.created, sent: false, force: true })
      .then(function () { return Q.remove(item.id); })
      .then(function () { window.location.assign(item.url); });
  }

  // Copy into an ad-hoc visit: the inspection is gone (reassigned, cancelled) or reported
  // from elsewhere, but the visit happened. An unplanned visit is started on the loan (the
  // loan page's own "Record a visit"), the change becomes its draft, and its report opens.
  function copyToAdHoc(item, li) {
    var address = texts.getAttribute("data-adhoc-url").replace("/0/", "/" + item.loan + "/");
    return Q.freshToken().then(function (token) {
      var body = new FormData();
      body.append("csrfmiddlewaretoken", token);
      body.append("submission_key", Q.newId().replace(/-/g, ""));
      return fetch(address, { method: "POST", body: body, credentials: "same-origin" });
    }).then(function (response) {
      if (!response.ok || !/\/reports\/\d+\/edit\/$/.test(new URL(response.url).pathname)) {
        throw new Error("refused");
      }
      return response.text().then(function (html) {
        var page = new DOMParser().parseFromString(html, "text/html").getElementById("report-form");
        var fields = item.fields.filter(function (pair) { return pair[0] !== "version" && pair[0] !== "action"; });
        var version = Number(page.querySelector("[name=version]").value);
        return Q.saveDraft(Number(page.getAttribute("data-inspection")), {
          fields: fields, version: version, at: item.created, sent: false, force: true
        });
      }).then(function () { return Q.remove(item.id); })
        .then(function () { window.location.assign(response.url); });
    }).catch(function () {
      var why = document.createElement("div");
      why.className = "small text-danger";
      why.setAttribute("data-testid", "outbox-adhoc-refused");
      why.textContent = t("adhoc-refused");
      li.appendChild(why);
    });
  }

  function render() {
    return Q.items().then(function (items) {
      list.textContent = "";
      empty.classList.toggle("d-none", items.length > 0);
      items.forEach(function (item) {
        var li = document.createElement("li");
        li.className = "list-group-item";
        li.setAttribute("data-testid", "outbox-item");
        li.setAttribute("data-state", item.state);
        var head = document.createElement("div");
        head.className = "fw-semibold";
        head.textContent = t(item.action) + " · " + (item.title || t("inspection") + " " + item.inspection) +
          " · " + new Date(item.created).toLocaleString(document.documentElement.lang) + " · " + t(item.state);
        li.appendChild(head);
        if (item.state === "refused") {
          var why = document.createElement("ul");
          why.className = "small text-danger mb-1 ps-3";
          why.setAttribute("data-testid", "outbox-reason");
          (item.reasons || []).forEach(function (reason) {
            var line = document.createElement("li");
            line.textContent = reason;
            why.appendChild(line);
          });
          li.appendChild(why);
          li.appendChild(button(t("edit"), "primary", function () { edit(item); }));
          if (item.conflict && item.loan) {
            li.appendChild(button(t("adhoc"), "outline-primary", function () { copyToAdHoc(item, li); }));
          }
          if (item.overwritable) {
            li.appendChild(button(t("anyway"), "outline-warning", function () {
              Q.patch(item.id, { state: "waiting", overwrite: true }).then(function () { return F.send(); }).then(render);
            }));
          }
        }
        li.appendChild(button(t("discard"), "outline-danger", function () {
          if (window.confirm(t("confirm-discard"))) { Q.remove(item.id).then(render).then(F.show); }
        }));
        list.appendChild(li);
      });
    });
  }

  document.querySelector("[data-outbox-send]").addEventListener("click", function () { F.send().then(render); });
  document.addEventListener("daihou:sent", render);
  render();
})();
