// Admin status page: refresh the items every 10 s from /admin/api/status (no inline script: CSP).
"use strict";
(function () {
  const table = document.getElementById("status");
  if (!table) return;
  const source = table.dataset.source;
  const at = document.getElementById("status-at");
  const REFRESH_MS = 10000;

  function cell(cls, text) {
    const td = document.createElement("td");
    td.className = cls;
    td.textContent = text;
    return td;
  }

  function render(items) {
    const body = document.createElement("tbody");
    for (const item of items) {
      const row = document.createElement("tr");
      row.className = "status-row level-" + item.level;
      row.dataset.key = item.key;
      const head = document.createElement("th");
      head.scope = "row";
      head.textContent = item.label;
      const level = document.createElement("td");
      level.className = "level";
      const badge = document.createElement("span");
      badge.className = "level-badge level-" + item.level;
      badge.textContent = item.level_text;
      level.appendChild(badge);
      row.append(head, level, cell("value", item.value), cell("detail", item.detail));
      body.appendChild(row);
    }
    table.replaceChild(body, table.tBodies[0]);
  }

  async function refresh() {
    try {
      const response = await fetch(source, { headers: { Accept: "application/json" }, credentials: "same-origin" });
      if (response.status === 401 || response.status === 403) {
        window.location.reload(); // signed out meanwhile: let the gate show the way
        return;
      }
      const data = await response.json();
      if (data.ok) {
        render(data.items);
        if (at) at.textContent = data.at;
      }
    } catch (e) {
      // The appliance may be restarting: try again at the next tick.
    }
  }

  window.setInterval(refresh, REFRESH_MS);
})();

// API tokens page: copy the secret shown once (the field stays selectable without script).
(function () {
  const field = document.getElementById("token-secret");
  const button = document.getElementById("token-copy");
  if (!field || !button) return;
  field.addEventListener("focus", function () { field.select(); });
  button.addEventListener("click", async function () {
    field.select();
    try {
      await navigator.clipboard.writeText(field.value);
      button.textContent = button.dataset.copied;
    } catch (e) {
      // No clipboard access (an older browser): the value is selected for Ctrl+C.
    }
  });
})();
