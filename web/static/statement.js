// The print button of the 被保険者資格申立書 page (no inline script: the pages' CSP forbids it).
document.addEventListener("DOMContentLoaded", () => {
  const button = document.querySelector("[data-print]");
  if (button) button.addEventListener("click", () => window.print());
});
