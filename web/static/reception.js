// Reception desk: live reader state and new confirmations without reloading.
// Events carry ids only; each new row is fetched (an audited view) and prepended.
"use strict";

(function () {
  var NOTICE_MS = 10000;
  var status = document.getElementById("desk-status");
  var notice = document.getElementById("desk-notice");
  var liveLost = document.getElementById("live-lost");
  var tbody = document.querySelector("#confirmations tbody");
  var template = document.getElementById("row-template");
  var noRows = document.getElementById("no-rows");
  var labels = JSON.parse(status.getAttribute("data-labels") || "{}");
  var triesTemplate = status.getAttribute("data-tries-template") || "{n}";
  var noticeTimer = null;
  var connectedOnce = false;
  var visualButton = document.getElementById("visual-check");
  var staffAlert = document.getElementById("staff-alert");
  var csrfMeta = document.querySelector('meta[name="csrf-token"]');
  var VISUAL_STATES = ["awaiting_pin", "awaiting_staff", "pin_blocked"];

  // 目視確認 is offered while the visit waits for a PIN or for staff.
  function offerVisual(state, visitId) {
    if (visitId) { visualButton.setAttribute("data-visit-id", visitId); }
    var open = VISUAL_STATES.indexOf(state) >= 0 && !!visualButton.getAttribute("data-visit-id");
    visualButton.hidden = !open;
    visualButton.disabled = false;
    if (state === "pin_blocked") { alertStaff(staffAlert.getAttribute("data-blocked")); }
    else if (state === "awaiting_staff") { alertStaff(staffAlert.getAttribute("data-help")); }
    else { staffAlert.hidden = true; }
  }

  function alertStaff(text) {
    staffAlert.textContent = text;
    staffAlert.hidden = false;
  }

  function confirmVisually() {
    var id = visualButton.getAttribute("data-visit-id");
    if (!id) { return; }
    visualButton.disabled = true;
    fetch("/api/visits/" + encodeURIComponent(id) + "/visual", {
      method: "POST",
      credentials: "same-origin",
      headers: {
        "Accept": "application/json",
        "X-CSRF-Token": csrfMeta ? csrfMeta.getAttribute("content") : ""
      }
    }).then(function (r) {
      if (r.status === 202) { return; }  // visual_check_chosen updates the strip
      visualButton.disabled = false;
      showNotice(visualButton.getAttribute("data-refused"), "warn");
    }).catch(function () { visualButton.disabled = false; });
  }
  visualButton.addEventListener("click", confirmVisually);

  var settleTimer = null;

  function setStatus(state, label, detail) {
    if (settleTimer) { clearTimeout(settleTimer); settleTimer = null; }
    if (state === "done" || state === "stored") {
      // A finished visit shows briefly, then the desk is waiting again.
      settleTimer = setTimeout(function () { setStatus("idle"); }, NOTICE_MS);
    }
    status.setAttribute("data-state", state);
    status.querySelector(".status-label").textContent = label || labels[state] || state;
    status.querySelector(".status-detail").textContent = detail || "";
  }

  function showNotice(text, kind) {
    notice.textContent = text;
    notice.className = "notice " + (kind || "");
    notice.hidden = false;
    if (noticeTimer) { clearTimeout(noticeTimer); }
    noticeTimer = setTimeout(function () { notice.hidden = true; }, NOTICE_MS);
  }

  function fillRow(tr, row) {
    tr.setAttribute("data-confirmation-id", String(row.id));
    tr.className = "row-" + row.badge.css + " fresh";
    tr.querySelectorAll("[data-field]").forEach(function (el) {
      var value = row[el.getAttribute("data-field")];
      el.textContent = value === undefined || value === null ? "" : String(value);
      if (el.hasAttribute("data-optional")) { el.hidden = !value; }
    });
    var badge = tr.querySelector(".badge");
    badge.className = "badge " + row.badge.css;
    badge.setAttribute("data-badge", row.badge.code);
    badge.textContent = row.badge.label;
    return tr;
  }

  function addRow(row) {
    if (tbody.querySelector('tr[data-confirmation-id="' + row.id + '"]')) { return; }
    var tr = template.content.querySelector("tr").cloneNode(true);
    fillRow(tr, row);
    // Newest first: place before the first row with a smaller id.
    var before = null;
    tbody.querySelectorAll("tr[data-confirmation-id]").forEach(function (other) {
      if (!before && Number(other.getAttribute("data-confirmation-id")) < row.id) { before = other; }
    });
    tbody.insertBefore(tr, before);
    noRows.hidden = true;
  }

  function fetchJson(url) {
    return fetch(url, { headers: { "Accept": "application/json" }, credentials: "same-origin" })
      .then(function (r) { if (!r.ok) { throw new Error(String(r.status)); } return r.json(); });
  }

  function loadRow(id) {
    fetchJson("/api/confirmations/" + encodeURIComponent(id)).then(addRow).catch(function () {});
  }

  function resync() {
    // After a reconnect: rows stored while the stream was down.
    fetchJson("/api/confirmations?since=today").then(function (data) {
      data.confirmations.slice().reverse().forEach(addRow);
    }).catch(function () {});
  }

  function data(ev) { return JSON.parse(ev.data); }

  var source = new EventSource("/events");
  source.addEventListener("open", function () {
    liveLost.hidden = true;
    if (connectedOnce) { resync(); }
    connectedOnce = true;
  });
  source.addEventListener("error", function () { liveLost.hidden = false; });
  source.addEventListener("desk", function (ev) {
    var d = data(ev);
    var detail = d.tries_left !== undefined ? triesTemplate.replace("{n}", d.tries_left) : "";
    if (d.staff) { detail = visualButton.getAttribute("data-by-template").replace("{staff}", d.staff); }
    setStatus(d.state, d.label, detail);
    visualButton.setAttribute("data-visit-id", d.visit_id || "");
    offerVisual(d.state, d.visit_id);
  });
  source.addEventListener("visit_started", function (ev) {
    visualButton.setAttribute("data-visit-id", data(ev).visit_id);
    setStatus("card_placed");
    offerVisual("card_placed");
  });
  source.addEventListener("visit_state_changed", function (ev) {
    var d = data(ev);
    if (d.state === "aborted" || d.state === "failed") {
      setStatus("idle");
      visualButton.setAttribute("data-visit-id", "");
      offerVisual("idle");
      return;
    }
    offerVisual(d.state, d.visit_id);
    if (d.state === "awaiting_pin") { return; }  // pin_requested carries the tries left
    var keep = status.getAttribute("data-visual") === d.visit_id;
    setStatus(d.state, d.label, keep ? status.querySelector(".status-detail").textContent : "");
  });
  source.addEventListener("pin_requested", function (ev) {
    var d = data(ev);
    setStatus("awaiting_pin", null, triesTemplate.replace("{n}", d.tries_left));
  });
  source.addEventListener("pin_blocked", function () { setStatus("pin_blocked"); });
  source.addEventListener("staff_help_requested", function () { setStatus("awaiting_staff"); });
  source.addEventListener("visual_check_chosen", function (ev) {
    var d = data(ev);
    status.setAttribute("data-visual", d.visit_id);
    status.querySelector(".status-detail").textContent =
      visualButton.getAttribute("data-by-template").replace("{staff}", d.staff);
    offerVisual("visual_chosen");
  });
  source.addEventListener("visit_aborted", function (ev) { showNotice(data(ev).text, "warn"); });
  source.addEventListener("visit_failed", function (ev) { showNotice(data(ev).text, "error"); });
  source.addEventListener("confirmation_stored", function (ev) { loadRow(data(ev).confirmation_id); });
  source.addEventListener("reader_status", function (ev) {
    var d = data(ev);
    if (!d.available) { setStatus("reader_unavailable", d.label); }
    else if (status.getAttribute("data-state") === "reader_unavailable") { setStatus("idle", d.label); }
  });
})();
