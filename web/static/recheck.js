// The desk's strip of changed answers from the re-check queue: each open alert shows both
// answers (linked to their detail pages) and a button that records the signed-in staff user
// as having seen it. Refreshed every 30 s and after each acknowledgement.
"use strict";

(function () {
  var REFRESH_MS = 30000;
  var strip = document.getElementById("recheck-alerts");
  if (!strip) { return; }
  var csrfMeta = document.querySelector('meta[name="csrf-token"]');
  var url = strip.getAttribute("data-url");

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) { node.className = className; }
    if (text) { node.textContent = text; }
    return node;
  }

  function side(title, answer) {
    var part = el("span", "recheck-side");
    if (!answer) { part.textContent = title + ": —"; return part; }
    var link = el("a", "", title);
    link.href = answer.url;
    part.appendChild(link);
    part.appendChild(document.createTextNode(" "));
    part.appendChild(el("span", "badge " + answer.badge.css, answer.badge.label));
    var facts = [answer.insurer_number, answer.ratio, answer.date + " " + answer.time];
    part.appendChild(document.createTextNode(" " + facts.filter(Boolean).join(" / ")));
    return part;
  }

  function acknowledge(id, button) {
    button.disabled = true;
    fetch(url + "/" + id + "/acknowledge", {
      method: "POST",
      credentials: "same-origin",
      headers: {
        "Accept": "application/json",
        "X-CSRF-Token": csrfMeta ? csrfMeta.getAttribute("content") : ""
      }
    }).then(function (r) {
      if (!r.ok && r.status !== 404) { throw new Error(String(r.status)); }
      refresh();
    }).catch(function () {
      button.disabled = false;
      button.title = strip.getAttribute("data-ack-failed");
      window.alert(strip.getAttribute("data-ack-failed"));
    });
  }

  function render(alerts) {
    strip.textContent = "";
    alerts.forEach(function (alert) {
      var item = el("div", "staff-alert recheck-alert");
      item.setAttribute("role", "alert");
      item.setAttribute("data-alert-id", String(alert.id));
      var name = (alert.answer && alert.answer.name) || (alert.earlier && alert.earlier.name) || "";
      var title = alert.title || strip.getAttribute("data-title");
      item.appendChild(el("strong", "", title + (name ? " — " + name : "")));
      if (alert.unanswered) {
        // Given up unanswered: whom to check by hand, and the answer charged before, if any.
        item.classList.add("recheck-unanswered");
        item.appendChild(el("span", "recheck-asked", " " + (alert.asked || "") + " "));
        item.appendChild(el("span", "recheck-changes", alert.changes.join("、") + " "));
        if (alert.earlier) { item.appendChild(side(strip.getAttribute("data-earlier"), alert.earlier)); }
      } else {
        item.appendChild(el("span", "recheck-changes",
          " " + strip.getAttribute("data-changed") + ": " + alert.changes.join("、") + " "));
        item.appendChild(side(strip.getAttribute("data-earlier"), alert.earlier));
        item.appendChild(document.createTextNode(" → "));
        item.appendChild(side(strip.getAttribute("data-now"), alert.answer));
      }
      var button = el("button", "recheck-ack", strip.getAttribute("data-ack"));
      button.type = "button";
      button.addEventListener("click", function () { acknowledge(alert.id, button); });
      item.appendChild(document.createTextNode(" "));
      item.appendChild(button);
      strip.appendChild(item);
    });
    strip.hidden = alerts.length === 0;
  }

  function refresh() {
    fetch(url, { headers: { "Accept": "application/json" }, credentials: "same-origin" })
      .then(function (r) { if (!r.ok) { throw new Error(String(r.status)); } return r.json(); })
      .then(function (body) { render(body.alerts || []); })
      .catch(function () { /* the next refresh tries again */ });
  }

  refresh();
  setInterval(refresh, REFRESH_MS);
}());
