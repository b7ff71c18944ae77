// Small conveniences on top of server-rendered pages; every page works without this file.
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    if (window.htmx) {
      // Validation errors come back as 422 with the re-rendered form: swap them like a 200.
      htmx.config.responseHandling = [
        { code: "204", swap: false },
        { code: "[23]..", swap: true },
        { code: "422", swap: true },
        { code: "[45]..", swap: false, error: true },
      ];
    }
    focusErrorSummary(document);
    // A page rendered in answer to a POST (a form with errors, a token shown once) names the
    // address it stands for, so reloading shows that page instead of posting the form again.
    var url = document.body.getAttribute("data-url");
    if (url && url !== location.pathname + location.search && window.history.replaceState) {
      history.replaceState(null, "", url);
    }
  });

  // After a 422 swap, move focus to the error summary so keyboard and screen-reader users
  // land on the list of what to fix (the GOV.UK pattern).
  document.addEventListener("htmx:afterSwap", function (evt) {
    focusErrorSummary(evt.detail.target);
  });

  function focusErrorSummary(root) {
    var summary = root.querySelector && root.querySelector("[data-error-summary]");
    if (summary) {
      summary.focus();
    }
  }

  // Buttons marked data-copy copy the text of the element they name (a token shown once).
  document.addEventListener("click", function (evt) {
    var btn = evt.target.closest("[data-copy]");
    if (!btn || !navigator.clipboard) {
      return;
    }
    var src = document.getElementById(btn.getAttribute("data-copy"));
    if (!src) {
      return;
    }
    navigator.clipboard.writeText(src.textContent.trim()).then(function () {
      btn.textContent = "Copied";
    });
  });
})();
