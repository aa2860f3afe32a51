// CareTwin web app: small progressive enhancements only; every page works without this file.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  // A token shown once: select it whole on focus, ready to copy.
  for (const input of document.querySelectorAll("input.token")) {
    input.addEventListener("focus", () => input.select());
  }
});
