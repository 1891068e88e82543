// Kiosk: one screen at a time, driven by the appliance's events.
// The PIN lives only in this page's memory until it is sent; digits are never shown.
// Going back to the start clears everything the patient entered or chose.
"use strict";

(function () {
  var body = document.body;
  var IDLE_MS = Number(body.getAttribute("data-idle-ms")) || 120000;  // safety net per screen
  var SHORT_MS = Number(body.getAttribute("data-reset-ms")) || 10000; // done / error screens
  var defaultLang = body.getAttribute("data-default-lang");
  var pageLang = body.getAttribute("data-lang");
  var screens = document.querySelectorAll("section[data-screen]");
  var triesLeft = document.getElementById("tries-left");
  var wrongPin = document.getElementById("wrong-pin");
  var lastTry = document.getElementById("last-try-warning");
  var okButton = document.getElementById("pin-ok");
  var dots = document.querySelectorAll("#pin-dots .dot");
  var errorText = document.getElementById("error-text");
  var askStaffButton = document.getElementById("ask-staff");
  var cardNotice = document.getElementById("card-notice");
  var consentItems = document.querySelectorAll("#consent-kinds .consent-kind");
  var consentFirst = document.getElementById("consent-first");
  var consentSecond = document.getElementById("consent-second");
  var consentSubmit = document.getElementById("consent-submit");
  var consentScreen = document.querySelector("section[data-screen=consent]");
  var asked = [];
  var answers = {};
  var current = "welcome";
  var visitId = null;
  var digits = [];
  var sending = false;
  var timer = null;
  var shown = 0;  // how many times a screen was shown: a late answer must not undo a newer one
  var ended = {};  // visits that ended here: nothing later about them is shown (late answers)
  var cardPresent = false;  // a card is on the reader (from the appliance's reader events)
  // Screens that end a visit: read for a short while, then back to the start (or, while the
  // card is still on the reader, to "please take your card").
  var ENDINGS = ["done", "offline_done", "error", "see_desk", "grace_over"];
  // Screens that stay until something happens: the card is taken, the appliance is back.
  var UNTIMED = ["welcome", "take_card", "out_of_service", "setup"];
  var SETUP_RELOAD_MS = 5000;  // the setup screen looks again whether an admin exists
  var DOWN_AFTER_MS = 4000;  // the event stream may reconnect this long before "out of service"

  function backToStart() {
    visitId = null;
    clearPin();
    clearConsent([]);
    errorText.textContent = "";
    cardNotice.hidden = true;
    cardNotice.textContent = "";
    // The next patient starts in the clinic's language.
    if (pageLang !== defaultLang) { window.location.replace("/?lang=" + defaultLang); return; }
    show("welcome");
  }

  function show(name, sameScreen) {
    if (!sameScreen) { shown += 1; }  // each new showing, even of the same screen, counts
    current = name;
    screens.forEach(function (s) {
      var on = s.getAttribute("data-screen") === name;
      s.classList.toggle("active", on);
      s.hidden = !on;
    });
    body.classList.toggle("down", name === "out_of_service");
    body.setAttribute("data-screen", name);
    if (timer) { clearTimeout(timer); timer = null; }
    if (UNTIMED.indexOf(name) < 0) {
      timer = setTimeout(ENDINGS.indexOf(name) >= 0 ? afterEnding : backToStart,
        ENDINGS.indexOf(name) >= 0 ? SHORT_MS : IDLE_MS);
    }
  }

  function afterEnding() {
    if (cardPresent) { takeCard(); } else { backToStart(); }
  }

  function takeCard() {
    visitId = null;
    clearPin();
    clearConsent([]);
    cardNotice.hidden = true;
    show("take_card");
  }

  function onCardNotice(d) {
    if (visitId && d.visit_id !== visitId) { return; }
    var template = cardNotice.getAttribute(d.kind === "grace" ? "data-grace" : "data-renew");
    cardNotice.textContent = template.replace("{date}", d.date);
    cardNotice.className = "card-notice " + d.kind;
    cardNotice.hidden = false;
  }

  function touch() {
    // A patient pressing keys is not idle.
    if (current !== "welcome") { show(current, true); }
  }

  function renderPin() {
    dots.forEach(function (d, i) { d.classList.toggle("filled", i < digits.length); });
    okButton.disabled = digits.length !== 4 || sending;
  }

  function clearPin() { digits = []; sending = false; renderPin(); }

  function press(digit) {
    if (current !== "pin" || sending) { return; }
    if (digits.length < 4 && /^[0-9]$/.test(digit)) { digits.push(digit); }
    renderPin();
    touch();
  }

  function back() {
    if (current !== "pin" || sending) { return; }
    digits.pop();
    renderPin();
    touch();
  }

  function submit() {
    if (current !== "pin" || sending || digits.length !== 4 || !/^[0-9]{4}$/.test(digits.join(""))) { return; }
    sending = true;
    renderPin();
    var sentAt = shown;
    var payload = JSON.stringify({ visit_id: visitId, pin: digits.join("") });
    digits = [];
    fetch("/pin", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      credentials: "same-origin",
      body: payload
    }).then(function (r) {
      sending = false;
      renderPin();
      // The next screen may already have come over the event stream: never step back from it.
      if (!stillOn(sentAt)) { return; }
      if (r.status === 202) { show("checking"); }
      else if (r.status === 409) { backToStart(); }
    }).catch(function () { sending = false; renderPin(); unreachable(); });
  }

  function onPinRequested(d) {
    visitId = d.visit_id;
    clearPin();
    triesLeft.textContent = triesLeft.getAttribute("data-template").replace("{n}", d.tries_left);
    wrongPin.hidden = !d.wrong_pin;
    lastTry.hidden = d.tries_left !== 1;
    triesLeft.classList.toggle("last", d.tries_left === 1);
    askStaffButton.classList.toggle("urgent", d.tries_left === 1);
    show("pin");
  }

  // True while nothing was shown since a request was sent: the answer may act on the page.
  function stillOn(sentAt) { return shown === sentAt; }

  function post(url, payload) {
    return fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      credentials: "same-origin",
      body: JSON.stringify(payload)
    });
  }

  function askStaff() {
    if (current !== "pin" || sending || !visitId) { return; }
    clearPin();
    sending = true;
    var sentAt = shown;
    post("/ask-staff", { visit_id: visitId }).then(function (r) {
      sending = false;
      if (!stillOn(sentAt)) { return; }
      if (r.status === 202) { show("staff"); } else if (r.status === 409) { backToStart(); }
    }).catch(function () { sending = false; unreachable(); });
  }

  // -- consent: one "agree to all", or a yes/no for each kind asked ----------------------
  function renderConsent() {
    consentItems.forEach(function (li) {
      var kind = li.getAttribute("data-kind");
      li.hidden = asked.indexOf(kind) < 0;
      li.querySelectorAll("button.choice").forEach(function (b) {
        var chosen = answers[kind] === (b.getAttribute("data-answer") === "yes");
        b.setAttribute("aria-pressed", String(kind in answers && chosen));
      });
    });
    var complete = asked.length > 0 && asked.every(function (k) { return k in answers; });
    consentSubmit.disabled = !complete || sending;
  }

  function clearConsent(kinds) {
    asked = kinds.slice();
    answers = {};
    consentFirst.hidden = false;
    consentSecond.hidden = true;
    consentScreen.classList.remove("each");
    consentItems.forEach(function (li) { li.querySelector(".consent-choice").hidden = true; });
    renderConsent();
  }

  function chooseEach(on) {
    answers = {};
    consentFirst.hidden = on;
    consentSecond.hidden = !on;
    consentScreen.classList.toggle("each", on);
    consentItems.forEach(function (li) { li.querySelector(".consent-choice").hidden = !on; });
    renderConsent();
    touch();
  }

  function sendConsent(given) {
    if (current !== "consent" || sending || !visitId) { return; }
    sending = true;
    renderConsent();
    var sentAt = shown;
    post("/consent", { visit_id: visitId, answers: given }).then(function (r) {
      sending = false;
      if (!stillOn(sentAt)) { return; }
      if (r.status === 202) { show("checking"); }
      else if (r.status === 409) { backToStart(); }
      else { renderConsent(); }
    }).catch(function () { sending = false; renderConsent(); unreachable(); });
  }

  function agreeToAll() {
    var all = {};
    asked.forEach(function (k) { all[k] = true; });
    sendConsent(all);
  }

  function onConsentRequested(d) {
    visitId = d.visit_id;
    clearPin();
    clearConsent(d.kinds || []);
    show("consent");
  }

  function onEnded(d) {
    ended[d.visit_id] = true;
    if (visitId && d.visit_id !== visitId) { return; }  // an older visit ending late
    if (d.reason === "card_removed" || (d.reason === "pin_blocked" && current === "blocked")) {
      backToStart();
      return;
    }
    if (d.reason === "card_grace_over") { clearPin(); show("grace_over"); return; }
    errorText.textContent = d.text || "";
    show("error");
  }

  document.querySelectorAll("button[data-digit]").forEach(function (b) {
    b.addEventListener("click", function () { press(b.getAttribute("data-digit")); });
  });
  document.getElementById("pin-back").addEventListener("click", back);
  askStaffButton.addEventListener("click", askStaff);
  document.getElementById("consent-all").addEventListener("click", agreeToAll);
  document.getElementById("consent-each").addEventListener("click", function () { chooseEach(true); });
  document.getElementById("consent-back").addEventListener("click", function () { chooseEach(false); });
  consentSubmit.addEventListener("click", function () { sendConsent(answers); });
  document.querySelectorAll("#consent-kinds button.choice").forEach(function (b) {
    b.addEventListener("click", function () {
      if (current !== "consent" || sending) { return; }
      answers[b.getAttribute("data-kind")] = b.getAttribute("data-answer") === "yes";
      renderConsent();
      touch();
    });
  });
  document.getElementById("pin-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    submit();
  });
  document.addEventListener("keydown", function (ev) {
    if (current !== "pin") { return; }
    if (/^[0-9]$/.test(ev.key)) { press(ev.key); ev.preventDefault(); }
    else if (ev.key === "Backspace") { back(); ev.preventDefault(); }
    else if (ev.key === "Enter") { submit(); ev.preventDefault(); }
  });

  function data(ev) { return JSON.parse(ev.data); }

  // -- the appliance's events; "out of service" while they cannot be had -----------------
  var source = null;
  var downTimer = null;

  function unreachable() {
    if (downTimer) { clearTimeout(downTimer); downTimer = null; }
    if (current === "out_of_service") { return; }
    visitId = null;
    clearPin();
    clearConsent([]);
    cardNotice.hidden = true;
    show("out_of_service");
    connect();  // a request failed: look again at once; the stream's opening ends this screen
  }

  function connect() {
    if (source) { source.close(); }
    source = new EventSource("/events");
    source.onopen = function () {
      if (downTimer) { clearTimeout(downTimer); downTimer = null; }
      if (current === "out_of_service") { backToStart(); }  // what follows says where we are
    };
    source.onerror = function () {
      // The stream reconnects by itself after a normal end; only a lasting failure counts.
      if (!downTimer && current !== "out_of_service") {
        downTimer = setTimeout(unreachable, DOWN_AFTER_MS);
      }
      // A refused stream (an error page instead of events) is not retried by the browser.
      if (source.readyState === EventSource.CLOSED) { setTimeout(connect, 2000); }
    };
    source.addEventListener("state", function (ev) {
      var d = data(ev);
      if (d.screen === "welcome") {
        if (ENDINGS.indexOf(current) >= 0) { return; }  // let the patient read it
        if (current !== "welcome") { backToStart(); }
        return;
      }
      if (ended[d.visit_id]) { return; }  // a visit that already ended here: not this patient's
      if (d.state === "card_placed") { cardPresent = true; }
      visitId = d.visit_id;
      // The PIN and consent screens are shown by their own events, which carry what they need.
      if (d.screen === "pin" || d.screen === "consent") { return; }
      if (d.screen === "staff" && current === "staff") { return; }
      if (d.screen === current && ENDINGS.indexOf(current) >= 0) { return; }
      // A visit kept offline ends on its own screen, not on "done" (the row was stored).
      if (d.screen === "done" && current === "offline_done") { return; }
      if (d.screen !== "pin") { clearPin(); }
      show(d.screen);
    });
    source.addEventListener("pin_requested", function (ev) { onPinRequested(data(ev)); });
    source.addEventListener("pin_blocked", function (ev) { visitId = data(ev).visit_id; clearPin(); show("blocked"); });
    source.addEventListener("staff_help_requested", function (ev) { visitId = data(ev).visit_id; clearPin(); show("staff"); });
    source.addEventListener("consent_requested", function (ev) { onConsentRequested(data(ev)); });
    source.addEventListener("visit_aborted", function (ev) { onEnded(data(ev)); });
    source.addEventListener("visit_failed", function (ev) { onEnded(data(ev)); });
    source.addEventListener("done", function (ev) {
      var d = data(ev);
      // Only the running visit's answer: never one for a visit that ended (its card was taken
      // and the answer came late), nor one arriving while the kiosk waits for the next card.
      if (!visitId || d.visit_id !== visitId || ended[d.visit_id]) { return; }
      if (current === "offline_done") { return; }  // stored offline: its own screen says so
      clearPin();
      // "Done" only for a valid answer; not found, invalid or an error: the desk explains.
      show(d.desk ? "see_desk" : "done");
    });
    source.addEventListener("card_notice", function (ev) { onCardNotice(data(ev)); });
    source.addEventListener("card_left", function (ev) {
      var d = data(ev);
      if (visitId && d.visit_id !== visitId) { return; }  // a newer visit is running
      cardPresent = true;
      if (current === "welcome" || current === "take_card" || ENDINGS.indexOf(current) >= 0) {
        takeCard();
      }
    });
    source.addEventListener("central", function (ev) {
      document.getElementById("central-outage").hidden = !data(ev).down;
    });
    source.addEventListener("reader_status", function (ev) {
      var d = data(ev);
      cardPresent = d.card_present;
      var waiting = ENDINGS.indexOf(current) >= 0 || current === "blocked" || current === "take_card";
      if (!d.card_present && waiting) { backToStart(); }
    });

  }

  renderPin();
  if (body.getAttribute("data-setup") === "1") {
    // No staff user yet: the setup code stays until the first admin exists, then the page
    // (looked at again every few seconds) comes back as the welcome screen.
    show("setup");
    setInterval(function () { window.location.replace("/"); }, SETUP_RELOAD_MS);
    return;
  }
  show("welcome");
  connect();
})();
