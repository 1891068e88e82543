// The bulk pre-check's bar and summary (templates/_bulk_progress.html). The desk page hands the
// `bulk_progress` events of its own stream over as "onshi:bulk" DOM events; a page without a
// stream (data-own-stream) opens one. 「今すぐ照会」 and 「照会番号を登録」 post with the CSRF token.
(function () {
  "use strict";
  var box = document.getElementById("bulk-progress");
  if (!box) { return; }
  var csrfMeta = document.querySelector('meta[name="csrf-token"]');

  // A page listing the classes (「明日の予約」) shows the new ones once a run it watched ends.
  var watched = ["running", "waiting"].indexOf(box.getAttribute("data-state")) >= 0;
  function render(d) {
    if (!d || !d.state) { return; }
    if (!d.finished) { watched = true; }
    if (d.finished && watched && box.getAttribute("data-reload-when-done") === "true") {
      window.location.reload();
      return;
    }
    box.hidden = false;
    box.setAttribute("data-state", d.state);
    box.querySelector(".bulk-label").textContent = d.label;
    var bar = box.querySelector(".bulk-bar");
    bar.max = d.total || 1;
    bar.value = d.done || 0;
    bar.hidden = !!d.finished;
    box.querySelector(".bulk-count").textContent = d.finished ? "" : d.progress;
    var summary = box.querySelector(".bulk-summary");
    summary.textContent = d.finished ? d.summary : "";
    // the finished summary opens that day's list (「明日の予約」)
    if (d.finished && d.list_day) {
      summary.href = summary.getAttribute("data-list") + "?day=" + encodeURIComponent(d.list_day);
    } else {
      summary.removeAttribute("href");
    }
    document.dispatchEvent(new CustomEvent("onshi:bulk-rendered", { detail: d }));
  }
  document.addEventListener("onshi:bulk", function (ev) { render(ev.detail); });

  if (box.getAttribute("data-own-stream") === "true") {
    var source = new EventSource("/events");
    source.addEventListener("bulk_progress", function (ev) { render(JSON.parse(ev.data)); });
  }

  var message = box.querySelector(".bulk-message");
  function post(url) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: {
        "Accept": "application/json",
        "Content-Type": "application/json",
        "X-CSRF-Token": csrfMeta ? csrfMeta.getAttribute("content") : ""
      },
      body: "{}"
    }).then(function (r) {
      return r.json().catch(function () { return {}; });
    }).then(function (body) {
      if (message && body.message) { message.textContent = body.message; }
      return body;
    });
  }
  var runNow = document.getElementById("bulk-run-now");
  if (runNow) {
    runNow.addEventListener("click", function () {
      runNow.disabled = true;
      post("/bulk/run").then(function (body) { render(body.run); })
        .finally(function () { runNow.disabled = false; });
    });
  }
  var register = document.getElementById("bulk-register");
  if (register) {
    register.addEventListener("click", function () {
      register.disabled = true;
      post("/bulk/register").finally(function () { register.disabled = false; });
    });
  }
})();
