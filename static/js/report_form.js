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
