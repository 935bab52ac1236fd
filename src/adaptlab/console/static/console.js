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

  // A review item: 1 / 2 / T / B choose a verdict, Enter sends it (not while typing a comment).
  const voteForm = document.querySelector("form[data-keyboard-vote]");
  if (voteForm) {
    document.addEventListener("keydown", (event) => {
      const typing = ["TEXTAREA", "INPUT", "SELECT"].includes(event.target.tagName) && event.target.type !== "radio";
      if (typing || event.ctrlKey || event.metaKey || event.altKey) return;
      if (event.key === "Enter") {
        event.preventDefault();
        voteForm.requestSubmit();
        return;
      }
      const choice = voteForm.querySelector(`input[name=verdict][data-key="${event.key.toUpperCase()}"]`);
      if (choice) {
        event.preventDefault();
        choice.checked = true;
        choice.focus();
      }
    });
  }
});
