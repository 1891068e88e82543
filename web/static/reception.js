// Reception desk: live reader state and new confirmations without reloading; insurance-number
// checks typed at the desk and 「再照会」. Events carry ids only; each new row is fetched (an
// audited view) and prepended. The search and detail pages use the 「再照会」 part only.
"use strict";

(function () {
  var SETTLE_MS = 10000;
  var notice = document.getElementById("desk-notice");
  var csrfMeta = document.querySelector('meta[name="csrf-token"]');

  // The answer to this clerk's own action (a re-check refused, ...): it stays until closed or
  // replaced. What a visit leaves for staff comes as a desk alert (kept on the appliance).
  function showNotice(text, kind) {
    if (!notice) { return; }
    (notice.querySelector(".notice-text") || notice).textContent = text;
    notice.className = "notice " + (kind || "");
    notice.hidden = false;
  }
  var noticeClose = notice ? notice.querySelector(".notice-close") : null;
  if (noticeClose) {
    noticeClose.addEventListener("click", function () { notice.hidden = true; });
  }

  function fetchJson(url) {
    return fetch(url, { headers: { "Accept": "application/json" }, credentials: "same-origin" })
      .then(function (r) { if (!r.ok) { throw new Error(String(r.status)); } return r.json(); });
  }

  // POST JSON with the session's CSRF token; resolves to {status, body} whatever the status.
  function postJson(url, payload) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: {
        "Accept": "application/json",
        "Content-Type": "application/json",
        "X-CSRF-Token": csrfMeta ? csrfMeta.getAttribute("content") : ""
      },
      body: JSON.stringify(payload || {})
    }).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (body) {
        return { status: r.status, body: body };
      });
    });
  }

  var desk = setUpDesk();  // null on the search and detail pages

  // 「再照会」: the same person again, today. On the desk the new row joins the list; elsewhere
  // the page moves to the new answer's details.
  document.addEventListener("click", function (ev) {
    var button = ev.target.closest ? ev.target.closest("[data-recheck]") : null;
    if (!button) { return; }
    var holder = button.closest("[data-confirmation-id]");
    if (!holder) { return; }
    var id = holder.getAttribute("data-confirmation-id");
    button.disabled = true;
    if (desk) { desk.checkStarted(); }
    postJson("/api/confirmations/" + encodeURIComponent(id) + "/recheck").then(function (res) {
      button.disabled = false;
      if (res.status === 201) {
        if (desk) { desk.checkDone(res.body); } else { window.location.href = res.body.url; }
        return;
      }
      if (desk) { desk.checkDone(null); }
      var errors = res.body.errors ? Object.keys(res.body.errors).map(function (k) {
        return res.body.errors[k];
      }).join(" ") : "";
      showNotice(errors || res.body.message || String(res.status), "error");
    }).catch(function () {
      button.disabled = false;
      if (desk) { desk.checkDone(null); }
    });
  });

  function setUpDesk() {
    var status = document.getElementById("desk-status");
    if (!status) { return null; }
    var liveLost = document.getElementById("live-lost");
    var tbody = document.querySelector("#confirmations tbody");
    var template = document.getElementById("row-template");
    var noRows = document.getElementById("no-rows");
    var labels = JSON.parse(status.getAttribute("data-labels") || "{}");
    var triesTemplate = status.getAttribute("data-tries-template") || "{n}";
    var connectedOnce = false;
    var visualButton = document.getElementById("visual-check");
    var staffAlert = document.getElementById("staff-alert");
    var VISUAL_STATES = ["awaiting_pin", "awaiting_staff", "pin_blocked"];
    // While a check is on its way, stored-events wait: its own answer comes with the 201,
    // so the row is not fetched (and audited) twice.
    var checksInFlight = 0;
    var deferred = [];

    // 目視確認 is offered while the visit waits for a PIN or for staff.
    function offerVisual(state, visitId) {
      if (visitId) { visualButton.setAttribute("data-visit-id", visitId); }
      var open = VISUAL_STATES.indexOf(state) >= 0 && !!visualButton.getAttribute("data-visit-id");
      visualButton.hidden = !open;
      visualButton.disabled = false;
      if (!open) { visualConfirm.hidden = true; }
      if (state === "pin_blocked") { alertStaff(staffAlert.getAttribute("data-blocked")); }
      else if (state === "awaiting_staff") { alertStaff(staffAlert.getAttribute("data-help")); }
      else { staffAlert.hidden = true; }
    }

    function alertStaff(text) {
      staffAlert.textContent = text;
      staffAlert.hidden = false;
    }

    // 目視確認 asks once: 「写真と本人を確認しました」 is what is sent (with the clerk's name).
    var visualConfirm = document.getElementById("visual-confirm");
    function askVisual() {
      if (!visualButton.getAttribute("data-visit-id")) { return; }
      visualConfirm.hidden = false;
      document.getElementById("visual-confirm-yes").focus();
    }
    function confirmVisually() {
      var id = visualButton.getAttribute("data-visit-id");
      visualConfirm.hidden = true;
      if (!id) { return; }
      visualButton.disabled = true;
      postJson("/api/visits/" + encodeURIComponent(id) + "/visual", { confirmed: true }).then(function (res) {
        if (res.status === 202) { return; }  // visual_check_chosen updates the strip
        visualButton.disabled = false;
        showNotice(visualButton.getAttribute("data-refused"), "warn");
      }).catch(function () { visualButton.disabled = false; });
    }
    visualButton.addEventListener("click", askVisual);
    document.getElementById("visual-confirm-yes").addEventListener("click", confirmVisually);
    document.getElementById("visual-confirm-cancel").addEventListener("click", function () {
      visualConfirm.hidden = true;
      visualButton.focus();
    });

    var settleTimer = null;

    function setStatus(state, label, detail) {
      if (settleTimer) { clearTimeout(settleTimer); settleTimer = null; }
      if (state === "done" || state === "stored") {
        // A finished visit shows briefly, then the desk is waiting again.
        settleTimer = setTimeout(function () { setStatus("idle"); }, SETTLE_MS);
      }
      status.setAttribute("data-state", state);
      status.querySelector(".status-label").textContent = label || labels[state] || state;
      status.querySelector(".status-detail").textContent = detail || "";
    }

    function fillRow(tr, row) {
      tr.setAttribute("data-confirmation-id", String(row.id));
      tr.className = "row-" + row.badge.css + " fresh";
      tr.querySelectorAll("[data-field]").forEach(function (el) {
        var value = row[el.getAttribute("data-field")];
        el.textContent = value === undefined || value === null ? "" : String(value);
        if (el.hasAttribute("data-optional")) { el.hidden = !value; }
      });
      tr.querySelectorAll("[data-flag-field]").forEach(function (el) {
        el.toggleAttribute("data-expired", !!row[el.getAttribute("data-flag-field")]);
      });
      tr.querySelectorAll("[data-title-field]").forEach(function (el) {
        var title = row[el.getAttribute("data-title-field")];
        if (title) { el.setAttribute("title", title); } else { el.removeAttribute("title"); }
      });
      tr.querySelectorAll("[data-link-field]").forEach(function (el) {
        el.setAttribute("href", row[el.getAttribute("data-link-field")] || "#");
      });
      var recheck = tr.querySelector("[data-recheck]");
      if (recheck) { recheck.hidden = row.can_recheck === false; }  // nothing to ask with
      var numbersFor = tr.querySelector("[data-numbers-for]");
      if (numbersFor) {
        numbersFor.hidden = !row.numbers_for_visit;
        numbersFor.setAttribute("data-time", row.time || "");
      }
      var badge = tr.querySelector(".badge");
      badge.className = "badge " + row.badge.css;
      badge.setAttribute("data-badge", row.badge.code);
      badge.textContent = row.badge.label;
      return tr;
    }

    function hasRow(id) {
      return !!tbody.querySelector('tr[data-confirmation-id="' + id + '"]');
    }

    function addRow(row) {
      if (hasRow(row.id)) { return; }
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

    function loadRow(id) {
      if (hasRow(id)) { return; }
      fetchJson("/api/confirmations/" + encodeURIComponent(id)).then(addRow).catch(function () {});
    }

    function resync() {
      // After a reconnect: rows stored while the stream was down.
      fetchJson("/api/confirmations?since=today").then(function (data) {
        data.confirmations.slice().reverse().forEach(addRow);
        var disk = document.getElementById("disk-alert");
        if (disk) { disk.textContent = data.disk_warning || ""; disk.hidden = !data.disk_warning; }
      }).catch(function () {});
    }

    function stored(id) {
      if (checksInFlight > 0) { deferred.push(id); } else { loadRow(id); }
    }

    function checkStarted() { checksInFlight += 1; }

    function checkDone(row) {
      checksInFlight = Math.max(0, checksInFlight - 1);
      if (row) { addRow(row); }
      if (checksInFlight === 0) {
        var waiting = deferred;
        deferred = [];
        waiting.forEach(loadRow);
      }
    }

    setUpManualCheck(checkStarted, checkDone);

    // Desk alerts: kept on the appliance until someone says they dealt with it.
    var alertsBox = document.getElementById("desk-alerts");
    var alertList = alertsBox.querySelector(".desk-alert-list");
    var alertTemplate = document.getElementById("desk-alert-template");
    function refreshAlertsBox() {
      alertsBox.hidden = !alertList.querySelector(".desk-alert");
    }
    function addAlert(a) {
      if (alertList.querySelector('[data-alert-id="' + a.id + '"]')) { return; }
      var li = alertTemplate.content.querySelector("li").cloneNode(true);
      li.setAttribute("data-alert-id", String(a.id));
      li.setAttribute("data-kind", a.kind);
      li.querySelector(".desk-alert-time").textContent = a.time;
      li.querySelector(".desk-alert-text").textContent = a.text;
      alertList.appendChild(li);
      refreshAlertsBox();
    }
    function dropAlert(id) {
      var li = alertList.querySelector('[data-alert-id="' + id + '"]');
      if (li) { li.remove(); }
      refreshAlertsBox();
    }
    function reloadAlerts() {
      fetchJson("/api/desk-alerts").then(function (d) {
        var open = {};
        d.alerts.forEach(function (a) { open[a.id] = true; addAlert(a); });
        alertList.querySelectorAll("[data-alert-id]").forEach(function (li) {
          if (!open[li.getAttribute("data-alert-id")]) { li.remove(); }
        });
        refreshAlertsBox();
      }).catch(function () {});
    }
    alertList.addEventListener("click", function (ev) {
      var button = ev.target.closest ? ev.target.closest("[data-acknowledge]") : null;
      if (!button) { return; }
      var li = button.closest("[data-alert-id]");
      var id = li.getAttribute("data-alert-id");
      button.disabled = true;
      postJson("/api/desk-alerts/" + encodeURIComponent(id) + "/acknowledge").then(function (res) {
        if (res.status === 200 || res.status === 409 || res.status === 404) { dropAlert(id); return; }
        button.disabled = false;
        showNotice(res.body.message || String(res.status), "error");
      }).catch(function () { button.disabled = false; });
    });

    function data(ev) { return JSON.parse(ev.data); }

    // Live events. EventSource reconnects by itself when a stream ends (each lasts minutes);
    // after a refusal (503 when too many screens are open) it gives up, so the page tries
    // again itself, a little later each time.
    var handlers = [];
    function on(name, handler) { handlers.push([name, handler]); }
    var RETRY_MIN_MS = 5000;
    var retryMs = RETRY_MIN_MS;

    function connect() {
      var source = new EventSource("/events");
      handlers.forEach(function (h) { source.addEventListener(h[0], h[1]); });
      source.addEventListener("open", function () { retryMs = RETRY_MIN_MS; });
      source.addEventListener("error", function () {
        if (source.readyState !== EventSource.CLOSED) { return; }
        setTimeout(connect, retryMs + Math.random() * retryMs);
        retryMs = Math.min(retryMs * 2, 60000);
      });
    }

    // The central cannot be reached: the banner counts the minutes from what the appliance
    // said (seconds down, by its clock) plus the time elapsed here since it said so.
    var outage = document.getElementById("central-outage");
    var outageFrom = null;  // performance.now() minus the seconds already down, in ms
    function showOutage() {
      if (outageFrom === null) { outage.hidden = true; return; }
      var minutes = Math.floor((performance.now() - outageFrom) / 60000);
      outage.querySelector(".outage-title").textContent = minutes >= 1
        ? outage.getAttribute("data-title-template").replace("{n}", String(minutes))
        : outage.getAttribute("data-title-now");
      outage.hidden = false;
    }
    function setOutage(d) {
      outage.setAttribute("data-down", d.down ? "true" : "false");
      if (!d.down) { outageFrom = null; showOutage(); return; }
      outageFrom = performance.now() - (Number(d.down_for_s) || 0) * 1000;
      if (d.since) {
        outage.querySelector(".outage-since").textContent =
          outage.getAttribute("data-since-template").replace("{time}", d.since);
      }
      showOutage();
    }
    if (outage.getAttribute("data-down") === "true") {
      outageFrom = performance.now() - Number(outage.getAttribute("data-down-for-s")) * 1000;
    }
    setInterval(showOutage, 15000);
    on("central", function (ev) { setOutage(data(ev)); });

    // While the appliance cannot be reached the reader's state is unknown: greyed, and said.
    var boot = status.getAttribute("data-boot");
    function unreachable(yes) {
      status.classList.toggle("unreachable", yes);
      status.setAttribute("aria-disabled", yes ? "true" : "false");
      if (yes) {
        status.querySelector(".status-detail").textContent = status.getAttribute("data-unreachable");
        visualButton.hidden = true;
        visualConfirm.hidden = true;
      }
    }
    on("open", function () {
      liveLost.hidden = true;
      unreachable(false);
      if (connectedOnce) { resync(); reloadAlerts(); }
      connectedOnce = true;
    });
    on("error", function () { liveLost.hidden = false; unreachable(true); });
    on("desk", function (ev) {
      var d = data(ev);
      // Another run of the appliance (it restarted): this page may be out of date.
      if (d.boot && boot && d.boot !== boot) { window.location.reload(); return; }
      var detail = d.tries_left !== undefined ? triesTemplate.replace("{n}", d.tries_left) : "";
      if (d.staff) { detail = visualButton.getAttribute("data-by-template").replace("{staff}", d.staff); }
      setStatus(d.state, d.label, detail);
      visualButton.setAttribute("data-visit-id", d.visit_id || "");
      offerVisual(d.state, d.visit_id);
    });
    on("visit_started", function (ev) {
      visualButton.setAttribute("data-visit-id", data(ev).visit_id);
      setStatus("card_placed");
      offerVisual("card_placed");
    });
    on("visit_state_changed", function (ev) {
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
    on("pin_requested", function (ev) {
      var d = data(ev);
      setStatus("awaiting_pin", null, triesTemplate.replace("{n}", d.tries_left));
    });
    on("pin_blocked", function () { setStatus("pin_blocked"); });
    on("staff_help_requested", function () { setStatus("awaiting_staff"); });
    on("visual_check_chosen", function (ev) {
      var d = data(ev);
      status.setAttribute("data-visual", d.visit_id);
      status.querySelector(".status-detail").textContent =
        visualButton.getAttribute("data-by-template").replace("{staff}", d.staff);
      offerVisual("visual_chosen");
    });
    on("bulk_progress", function (ev) {
      document.dispatchEvent(new CustomEvent("onshi:bulk", { detail: data(ev) }));
    });
    on("desk_alert", function (ev) { addAlert(data(ev)); });
    on("desk_alert_acknowledged", function (ev) { dropAlert(data(ev).id); });
    on("confirmation_stored", function (ev) { stored(data(ev).confirmation_id); });
    on("reader_status", function (ev) {
      var d = data(ev);
      if (!d.available) { setStatus("reader_unavailable", d.label); }
      else if (status.getAttribute("data-state") === "reader_unavailable") { setStatus("idle", d.label); }
    });

    connect();

    return { checkStarted: checkStarted, checkDone: checkDone };
  }

  // The manual-check panel: all errors at once beside their fields; on success the form clears,
  // the row joins the list and the first field takes the focus for the next patient.
  function setUpManualCheck(checkStarted, checkDone) {
    var form = document.getElementById("manual-check");
    if (!form) { return; }
    var submit = form.querySelector("button[type=submit]");
    var message = form.querySelector(".mc-message");
    var FIELDS = ["insurer_number", "symbol", "number", "branch", "birthdate", "care_date"];

    function clearErrors() {
      form.querySelectorAll("[data-error-for]").forEach(function (el) {
        el.textContent = "";
        el.hidden = true;
      });
      form.querySelectorAll("input[aria-invalid]").forEach(function (el) {
        el.removeAttribute("aria-invalid");
      });
      message.hidden = true;
      message.className = "mc-message";
    }

    function say(text, kind) {
      message.textContent = text;
      message.className = "mc-message " + (kind || "");
      message.hidden = !text;
    }

    function showErrors(errors) {
      var first = null;
      Object.keys(errors).forEach(function (field) {
        var slot = form.querySelector('[data-error-for="' + field + '"]');
        var input = form.elements.namedItem(field);
        if (slot) { slot.textContent = errors[field]; slot.hidden = false; }
        else { say(errors[field], "error"); }
        if (input && input.setAttribute) {
          input.setAttribute("aria-invalid", "true");
          if (!first) { first = input; }
        }
      });
      if (first) { first.focus(); }
    }

    // 「番号で照会」 on a card visit kept offline with nothing known: the next check is that
    // card's, and its answer is linked to the card.
    var forVisit = null;
    var forVisitNote = document.getElementById("mc-for-visit");
    function linkTo(id, time) {
      forVisit = id;
      if (forVisitNote) {
        var text = forVisitNote.querySelector("[data-template]");
        text.textContent = text.getAttribute("data-template").replace("{time}", time || "");
        forVisitNote.hidden = id === null;
      }
    }
    document.addEventListener("click", function (ev) {
      var button = ev.target.closest ? ev.target.closest("[data-numbers-for]") : null;
      if (!button) { return; }
      var holder = button.closest("[data-confirmation-id]");
      if (!holder) { return; }
      var time = button.getAttribute("data-time") || "";
      if (!time) {
        var cell = holder.querySelector("[data-field=time]");
        time = cell ? cell.textContent : "";
      }
      linkTo(Number(holder.getAttribute("data-confirmation-id")), time);
      clearErrors();
      form.elements.namedItem("insurer_number").focus();
    });
    var clearLink = document.getElementById("mc-for-visit-clear");
    if (clearLink) { clearLink.addEventListener("click", function () { linkTo(null, ""); }); }

    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      if (submit.disabled) { return; }
      clearErrors();
      var payload = {};
      FIELDS.forEach(function (name) { payload[name] = form.elements.namedItem(name).value; });
      payload.limit_consent = form.elements.namedItem("limit_consent").checked;
      if (forVisit !== null) { payload.for_visit = forVisit; }
      submit.disabled = true;
      say(form.getAttribute("data-checking"), "");
      checkStarted();
      postJson("/api/checks", payload).then(function (res) {
        submit.disabled = false;
        if (res.status === 201) {
          checkDone(res.body);
          form.reset();
          linkTo(null, "");
          say(form.getAttribute("data-done"), "ok");
          form.elements.namedItem("insurer_number").focus();
          return;
        }
        checkDone(null);
        if (res.status === 422 && res.body.errors) {
          say(res.body.message || "", "error");
          showErrors(res.body.errors);
        } else {
          say(res.body.message || String(res.status), "error");
        }
      }).catch(function () {
        submit.disabled = false;
        checkDone(null);
        say(form.getAttribute("data-network"), "error");
      });
    });
  }
})();
