// The sandbox's simulated status light: what the light shows now (demo only), polled.
(function () {
  "use strict";
  var shown = document.getElementById("light-state");
  if (!shown) { return; }
  var source = shown.getAttribute("data-source");
  function show(state) {
    var label = shown.getAttribute("data-label-" + (state || "none"));
    shown.textContent = label || state;
    shown.setAttribute("data-state", state || "");
  }
  function poll() {
    fetch(source, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (res) { return res.ok ? res.json() : null; })
      .then(function (body) { show(body ? body.light : null); })
      .catch(function () { show(null); })
      .then(function () { setTimeout(poll, 500); });
  }
  poll();
})();
