// The dashboard: the trend chart (data from a JSON script element) and sortable tables.
(function () {
  "use strict";
  var source = document.getElementById("trend-data");
  var canvas = document.getElementById("trend-chart");
  if (source && canvas && window.Chart) {
    var data = JSON.parse(source.textContent);
    var colours = {normal: "#198754", special_mention: "#0dcaf0", substandard: "#ffc107",
                   doubtful: "#fd7e14", loss: "#dc3545"};
    var labels = data.trend.map(function (p) { return p.month_end; });
    var datasets = Object.keys(colours).map(function (tier) {
      return {type: "bar", label: data.labels[tier], stack: "balance", yAxisID: "balance",
              backgroundColor: colours[tier],
              data: data.trend.map(function (p) { return p.balances[tier]; })};
    });
    datasets.push({type: "line", label: data.npl_label, yAxisID: "ratio", borderColor: "#212529",
                   data: data.trend.map(function (p) { return p.npl_ratio; })});
    new window.Chart(canvas, {data: {labels: labels, datasets: datasets}, options: {
      responsive: true, animation: false,
      scales: {balance: {position: "left", stacked: true}, ratio: {position: "right",
               grid: {drawOnChartArea: false}}, x: {stacked: true}}}});
  }
  document.querySelectorAll("table.sortable th[data-sort]").forEach(function (header, column) {
    header.classList.add("text-decoration-underline");
    header.addEventListener("click", function () {
      var table = header.closest("table");
      var body = table.tBodies[0];
      var ascending = header.getAttribute("data-direction") !== "asc";
      header.setAttribute("data-direction", ascending ? "asc" : "desc");
      var rows = Array.prototype.slice.call(body.rows);
      rows.sort(function (a, b) {
        var x = a.cells[column], y = b.cells[column];
        var xv = x.getAttribute("data-value"), yv = y.getAttribute("data-value");
        var cmp = (xv !== null && yv !== null && xv !== "" && yv !== "")
          ? parseFloat(xv) - parseFloat(yv) : x.textContent.localeCompare(y.textContent);
        return ascending ? cmp : -cmp;
      });
      rows.forEach(function (row) { body.appendChild(row); });
    });
  });
})();
