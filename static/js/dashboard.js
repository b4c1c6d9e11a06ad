// The dashboard: the trend chart (data from a JSON script element).
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
})();
