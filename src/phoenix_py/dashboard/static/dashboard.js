// phoenix_py dashboard: the chart hook and the LiveSocket. Served by the dashboard's mount
// at <path>/dashboard.js, after the app's phoenix.js and phoenix_live_view.js builds (the
// npm packages' priv/static IIFE builds, which define window.Phoenix and window.LiveView).
(function () {
  "use strict"
  var SVG = "http://www.w3.org/2000/svg"

  // <svg id="chart-..." phx-hook="DashboardChart" phx-update="ignore" viewBox="0 0 W H">:
  // each "dashboard:chart" push_event for its id ({id, series: [{name, points}]}) redraws
  // one polyline per series (class "series-<name>"), all on the scale of the largest point.
  var DashboardChart = {
    mounted: function () {
      var hook = this
      hook.handleEvent("dashboard:chart", function (chart) {
        if (chart.id === hook.el.id) draw(hook.el, chart.series)
      })
    }
  }

  function draw(svg, series) {
    var box = svg.viewBox.baseVal, width = box.width, height = box.height, top = 14
    var largest = 1
    series.forEach(function (line) {
      line.points.forEach(function (value) { if (value > largest) largest = value })
    })
    while (svg.firstChild) svg.removeChild(svg.firstChild)
    series.forEach(function (line) {
      var count = line.points.length, step = count > 1 ? width / (count - 1) : 0
      var points = line.points.map(function (value, index) {
        var y = height - (value / largest) * (height - top)
        return (index * step).toFixed(1) + "," + y.toFixed(1)
      })
      var polyline = document.createElementNS(SVG, "polyline")
      polyline.setAttribute("class", "series-" + line.name)
      polyline.setAttribute("points", points.join(" "))
      svg.appendChild(polyline)
    })
    var label = document.createElementNS(SVG, "text")
    label.setAttribute("x", "4")
    label.setAttribute("y", "11")
    label.textContent = "max " + largest + " · " + series.map(function (line) {
      return line.name + " " + (line.points.length ? line.points[line.points.length - 1] : 0)
    }).join(" · ")
    svg.appendChild(label)
  }

  var csrfToken = document.querySelector("meta[name='csrf-token']").getAttribute("content")
  var socketPath = document.querySelector("meta[name='phx-dashboard-socket']").getAttribute("content")
  var liveSocket = new LiveView.LiveSocket(socketPath, Phoenix.Socket, {
    params: {_csrf_token: csrfToken},
    hooks: {DashboardChart: DashboardChart}
  })
  liveSocket.connect()
  window.liveSocket = liveSocket
})()
