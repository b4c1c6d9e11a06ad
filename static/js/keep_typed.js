// Forms marked data-keep-typed: leaving the page with changes not yet sent (a link, the
// language switcher, logging out, a reload) asks first; sending the form itself does not.
// data-keep-typed="unsaved": the page came back with the input refused, nothing saved yet.
(function () {
  "use strict";
  var forms = document.querySelectorAll("form[data-keep-typed]");
  if (!forms.length) { return; }
  var changed = false;
  var sending = false;
  forms.forEach(function (form) {
    if (form.getAttribute("data-keep-typed") === "unsaved") { changed = true; }
    form.addEventListener("input", function () { changed = true; });
    form.addEventListener("change", function () { changed = true; });
    form.addEventListener("submit", function () { sending = true; });
  });
  // The field app kept everything typed on the phone (field/report.js): nothing to lose.
  document.addEventListener("daihou:kept-typed", function () { changed = false; });
  window.addEventListener("beforeunload", function (event) {
    if (changed && !sending) {
      event.preventDefault();
      event.returnValue = "";
    }
  });
})();
