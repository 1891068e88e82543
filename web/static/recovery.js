// The recovery sheet's print button (no inline script: the CSP allows only 'self').
document.addEventListener("DOMContentLoaded", () => {
  const button = document.getElementById("recovery-print");
  if (button) button.addEventListener("click", () => window.print());
});
