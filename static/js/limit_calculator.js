// Limit calculator: show the inputs of the chosen structure; htmx refreshes the result.
(function () {
  "use strict";
  var form = document.getElementById("limit-form");
  if (!form) { return; }
  function update() {
    var chosen = form.querySelector("[name=structure]:checked");
    var structure = chosen ? chosen.value : "ordinary";
    form.querySelectorAll("[data-structure]").forEach(function (section) {
      section.hidden = section.getAttribute("data-structure") !== structure;
    });
  }
  form.addEventListener("change", update);
  update();
})();
