// Borrower form: show the person fields or the enterprise fields for the chosen kind.
(function () {
  "use strict";
  var PERSON = ["id_number", "occupation", "business_address", "employer", "monthly_income", "health"];
  var ENTERPRISE = ["credit_code", "legal_representative", "business_scope"];
  var form = document.getElementById("borrower-form");
  if (!form) { return; }
  var kind = form.querySelector("[name=kind]");
  function wrapper(name) {
    var field = form.querySelector("[name=" + name + "]");
    return field ? field.closest(".mb-3") || field.parentElement : null;
  }
  function update() {
    var isEnterprise = kind && kind.value === "enterprise";
    PERSON.forEach(function (name) { var w = wrapper(name); if (w) { w.hidden = isEnterprise; } });
    ENTERPRISE.forEach(function (name) { var w = wrapper(name); if (w) { w.hidden = !isEnterprise; } });
  }
  if (kind) { kind.addEventListener("change", update); update(); }
})();
