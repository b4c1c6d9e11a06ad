// Inspection report: record the officer's location when they allow it (optional).
(function () {
  "use strict";
  var button = document.querySelector("[data-locate]");
  var form = document.getElementById("report-form");
  if (!button || !form || !navigator.geolocation) { if (button) { button.hidden = true; } return; }
  var status = document.querySelector("[data-location-status]");
  button.addEventListener("click", function () {
    navigator.geolocation.getCurrentPosition(function (position) {
      form.querySelector("[name=latitude]").value = position.coords.latitude.toFixed(6);
      form.querySelector("[name=longitude]").value = position.coords.longitude.toFixed(6);
      form.querySelector("[name=location_accuracy]").value = position.coords.accuracy.toFixed(1);
      if (status) { status.textContent = status.getAttribute("data-ok"); }
    }, function () {
      if (status) { status.textContent = status.getAttribute("data-failed"); }
    }, { enableHighAccuracy: true, timeout: 15000 });
  });
})();

// The report in sections (issue 18): on a phone or a tablet one section at a time, with
// its number ("3 / 7") and previous/next in the sticky submit bar; a desk shows them all
// (the CSS hides nothing from 992 px). Without this script every section shows. The
// section shown is kept for the tab, so that the page coming back from "Log the attempt"
// or "Attach" opens where the officer was; a page that comes back with errors opens at
// the first section holding one.
(function () {
  "use strict";
  var form = document.getElementById("report-form");
  if (!form) { return; }
  var sections = Array.prototype.slice.call(form.querySelectorAll("[data-report-section]"));
  if (sections.length < 2) { return; }
  var pagers = document.querySelectorAll("[data-report-pager]");
  var jump = document.querySelector("[data-section-jump]");
  var prev = form.querySelector("[data-section-prev]");
  var next = form.querySelector("[data-section-next]");
  var count = form.querySelector("[data-section-count]");
  var title = form.querySelector("[data-section-title]");
  var all = document.querySelector("[data-section-all]");
  var key = "daihou.report-section:" + window.location.pathname;
  var allKey = "daihou.report-all-sections";
  var current = 0;

  function stored(name) {
    try { return window.sessionStorage.getItem(name); } catch (e) { return null; }
  }
  function store(name, value) {
    try { window.sessionStorage.setItem(name, value); } catch (e) { /* private mode */ }
  }
  function paged() {
    return form.classList.contains("report-paged") && window.matchMedia("(max-width: 991.98px)").matches;
  }

  function show(index, moved) {
    current = Math.max(0, Math.min(sections.length - 1, index));
    sections.forEach(function (section, i) {
      section.classList.toggle("report-section-current", i === current);
    });
    count.textContent = (current + 1) + " / " + sections.length;
    title.textContent = sections[current].getAttribute("data-title");
    prev.disabled = current === 0;
    next.disabled = current === sections.length - 1;
    if (jump) { jump.value = String(current); }
    store(key, String(current));
    if (moved && paged()) {
      // The new section from its top, its heading read out by a screen reader.
      var heading = sections[current].querySelector(".report-section-heading");
      // At once, not smoothly (Bootstrap's default): the content has just been swapped.
      var top = window.scrollY + sections[current].getBoundingClientRect().top - 8;
      window.scrollTo({ top: Math.max(0, top), behavior: "instant" });
      if (heading) { heading.focus({ preventScroll: true }); }
    }
  }

  function showAll(on) {
    form.classList.toggle("report-paged", !on);
    if (all) {
      all.setAttribute("aria-pressed", on ? "true" : "false");
      all.textContent = all.getAttribute(on ? "data-one" : "data-all");
    }
    // With every section shown, previous/next and the jump list have nothing to do.
    if (jump) { jump.hidden = on; }
    prev.parentNode.hidden = on;
    store(allKey, on ? "1" : "0");
  }

  function firstWithError() {
    for (var i = 0; i < sections.length; i++) {
      if (sections[i].querySelector(".is-invalid, .invalid-feedback, .text-danger, .alert-danger")) { return i; }
    }
    return -1;
  }

  pagers.forEach(function (pager) { pager.hidden = false; });
  prev.addEventListener("click", function () { show(current - 1, true); });
  next.addEventListener("click", function () { show(current + 1, true); });
  if (jump) { jump.addEventListener("change", function () { show(parseInt(jump.value, 10), true); }); }
  if (all) { all.addEventListener("click", function () { showAll(form.classList.contains("report-paged")); }); }

  var withError = firstWithError();
  var kept = parseInt(stored(key), 10);
  show(withError >= 0 ? withError : (isNaN(kept) ? 0 : kept), false);
  showAll(stored(allKey) === "1");
})();
