// Behaviour shared by every page. No inline scripts anywhere: the CSP allows 'self' only.
(function () {
  "use strict";

  // Selects marked data-autosubmit submit their form on change (the language switcher);
  // their submit buttons stay for browsers without JavaScript.
  document.addEventListener("change", function (event) {
    var target = event.target;
    if (target.matches && target.matches("select[data-autosubmit]") && target.form) {
      target.form.submit();
    }
  });
  document.querySelectorAll(".js-hide").forEach(function (el) {
    el.classList.add("d-none");
  });
})();
