// adaptlab console: small progressive enhancements; every page works without this file.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  // A form posts once: its buttons are disabled while the request is on its way.
  for (const form of document.querySelectorAll("form[method=post]")) {
    form.addEventListener("submit", () => {
      for (const button of form.querySelectorAll("button[type=submit]")) button.disabled = true;
    });
  }
  // Coming back through the browser's history re-enables them.
  window.addEventListener("pageshow", () => {
    for (const button of document.querySelectorAll("form[method=post] button[type=submit]")) button.disabled = false;
  });
  // "Back" on a refusal page returns to the page the form was on.
  for (const link of document.querySelectorAll("a[data-back]")) {
    link.addEventListener("click", (event) => {
      if (history.length > 1) {
        event.preventDefault();
        history.back();
      }
    });
  }
});
