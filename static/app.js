// Small conveniences on top of server-rendered pages; every page works without this file.
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    if (window.htmx) {
      // Validation errors come back as 422 with the re-rendered form, and a conflict (someone
      // else acted first) as 409 with the part saying so: swap them like a 200.
      htmx.config.responseHandling = [
        { code: "204", swap: false },
        { code: "[23]..", swap: true },
        { code: "422", swap: true },
        { code: "409", swap: true },
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
  // land on the list of what to fix (the GOV.UK pattern); after any other swap, to a result
  // marked data-swap-focus (a console run replaces the button that had focus). An outerHTML
  // swap fires the event on the new element, while detail.target is the old one, now detached.
  document.addEventListener("htmx:afterSwap", function (evt) {
    var roots = [evt.target, evt.detail.target];
    for (var i = 0; i < roots.length; i++) {
      if (focusErrorSummary(roots[i])) {
        return;
      }
    }
    for (var j = 0; j < roots.length; j++) {
      var result = roots[j] && roots[j].querySelector && roots[j].querySelector("[data-swap-focus]");
      if (result && result.isConnected) {
        result.focus();
        return;
      }
    }
  });

  // A live region (a moving run's page) replaces itself every few seconds; the folds the admin
  // opened stay open. htmx keeps the focused element by its id on its own.
  var keptOpen = [];
  document.addEventListener("htmx:beforeSwap", function (evt) {
    var target = evt.detail.target;
    keptOpen = target && target.querySelectorAll
      ? Array.prototype.map.call(target.querySelectorAll("details[open][id]"), function (d) { return d.id; })
      : [];
  });
  document.addEventListener("htmx:afterSettle", function () {
    keptOpen.forEach(function (id) {
      var d = document.getElementById(id);
      if (d) {
        d.open = true;
      }
    });
    keptOpen = [];
  });

  function focusErrorSummary(root) {
    var summary = root && root.querySelector && root.querySelector("[data-error-summary]");
    if (summary && summary.isConnected) {
      summary.focus();
      return true;
    }
    return false;
  }

  // Session expiry warning: GET /api/auth/session does not count as activity, so polling it
  // tells how long the session has left without keeping an idle session alive.
  var warnBefore = 10 * 60;

  function pollSession() {
    var box = document.getElementById("session-warning");
    if (!box) {
      return;
    }
    fetch("/api/auth/session", { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (resp) {
        if (resp.status === 401) {
          return { ended: true };
        }
        return resp.ok ? resp.json() : null;
      })
      .then(function (info) {
        if (info) {
          showSession(box, info);
        }
      })
      .catch(function () {});
  }

  function minutes(seconds) {
    var m = Math.max(1, Math.ceil(seconds / 60));
    return m === 1 ? "1 minute" : m + " minutes";
  }

  function showSession(box, info) {
    var text = document.getElementById("session-warning-text");
    var extend = document.getElementById("session-extend");
    var login = document.getElementById("session-login");
    login.href = "/api/auth/login?returnTo=" + encodeURIComponent(location.pathname + location.search);
    if (info.ended) {
      text.textContent = "Your session has ended. Sign in again before you save anything on this page.";
      extend.hidden = true;
      login.hidden = false;
      box.hidden = false;
    } else if (info.remainingSessionLifetime <= warnBefore) {
      text.textContent = "Your session reaches its 24-hour limit in " + minutes(info.remainingSessionLifetime) +
        ". Save your work, then sign in again.";
      extend.hidden = true;
      login.hidden = false;
      box.hidden = false;
    } else if (info.remainingIdleLifetime <= warnBefore) {
      text.textContent = "You will be signed out in " + minutes(info.remainingIdleLifetime) + " because of inactivity.";
      extend.hidden = false;
      login.hidden = true;
      box.hidden = false;
    } else {
      box.hidden = true;
    }
  }

  document.addEventListener("click", function (evt) {
    if (!evt.target.closest("#session-extend")) {
      return;
    }
    fetch("/api/auth/session/extend", { method: "POST", credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (resp) { return resp.ok ? resp.json() : { ended: true }; })
      .then(function (info) { showSession(document.getElementById("session-warning"), info); });
  });

  document.addEventListener("DOMContentLoaded", function () {
    if (document.getElementById("session-warning")) {
      pollSession();
      setInterval(pollSession, 60 * 1000);
    }
  });

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

// The designer's keyboard and picker conveniences; every one has a button or form beside it.
(function () {
  "use strict";
  var lastField = null;
  document.addEventListener("focusin", function (evt) {
    var t = evt.target;
    if (t.closest && t.closest("#step-form") && (t.tagName === "TEXTAREA" || (t.tagName === "INPUT" && t.type === "text"))) {
      lastField = t.id;
    }
  });
  function typing(t) {
    return t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.tagName === "SELECT" || t.isContentEditable);
  }
  document.addEventListener("keydown", function (evt) {
    var designer = document.getElementById("designer");
    if (!designer) {
      return;
    }
    // Ctrl+Z (Cmd+Z) outside a text field undoes the last edit; inside one it stays the
    // field's own undo.
    if ((evt.ctrlKey || evt.metaKey) && !evt.shiftKey && evt.key.toLowerCase() === "z" && !typing(evt.target)) {
      var undo = document.getElementById("designer-undo");
      if (undo && !undo.disabled) {
        evt.preventDefault();
        undo.click();
      }
      return;
    }
    // Delete on a focused step of the canvas removes it (undo brings it back), where the
    // viewer may edit the draft.
    if ((evt.key === "Delete" || evt.key === "Backspace") && evt.target.closest) {
      var node = evt.target.closest("[data-step]");
      if (node && designer.contains(node) && designer.hasAttribute("data-editable") && window.htmx) {
        evt.preventDefault();
        var id = designer.getAttribute("data-designer-id");
        htmx.ajax("POST", "/workflows/" + id + "/design/steps/" + encodeURIComponent(node.getAttribute("data-step")) + "/delete",
          { target: "#designer", swap: "outerHTML", values: { panel: "settings" } });
      }
    }
  });
  // The variable picker inserts {{path}} at the cursor of the field last used, and saves.
  document.addEventListener("click", function (evt) {
    var b = evt.target.closest && evt.target.closest("[data-insert]");
    if (!b) {
      return;
    }
    var field = lastField && document.getElementById(lastField);
    if (!field) {
      return;
    }
    var text = b.getAttribute("data-insert");
    var start = field.selectionStart || field.value.length, end = field.selectionEnd || start;
    field.value = field.value.slice(0, start) + text + field.value.slice(end);
    field.focus();
    field.setSelectionRange(start + text.length, start + text.length);
    field.dispatchEvent(new Event("change", { bubbles: true }));
  });
  // An edit saves when a field changes, which is when the admin moves to the next field; the
  // answer re-renders the editor. What was typed into the field they moved to meanwhile is
  // put back, so a quick typist loses nothing.
  var typed = null;
  document.addEventListener("htmx:beforeSwap", function () {
    var a = document.activeElement;
    typed = a && a.id && typing(a) && a.closest("#designer") && a.tagName !== "SELECT"
      ? { id: a.id, value: a.value, start: a.selectionStart, end: a.selectionEnd }
      : null;
  });
  document.addEventListener("htmx:afterSettle", function () {
    var el = typed && document.getElementById(typed.id);
    if (el && el.value !== typed.value && el.getAttribute("aria-invalid") !== "true") {
      // Focus first: a field fires change on blur when its value differs from the one it had
      // when focused, so the restored text is saved in its turn.
      el.focus();
      el.value = typed.value;
      if (el.setSelectionRange && typed.start !== null) {
        el.setSelectionRange(typed.start, typed.end);
      }
    }
    typed = null;
  });
  // The template picker opens in a dialog once loaded; focus goes to its first choice.
  document.addEventListener("htmx:afterSwap", function (evt) {
    var body = evt.detail.target;
    if (body && body.id === "template-dialog-body") {
      var dialog = document.getElementById("template-dialog");
      if (dialog && !dialog.open) {
        dialog.showModal();
      }
      var first = body.querySelector("[data-error-summary], select, a.btn, button");
      if (first) {
        first.focus();
      }
    }
  });
  // Choosing a step on the canvas (Enter or a click) loads its editor into the workspace and
  // moves focus there. The steps are SVG links, which htmx does not take over (it cancels the
  // browser's navigation only for HTML anchors), so this does; without it they navigate.
  document.addEventListener("click", function (evt) {
    var link = evt.target.closest && evt.target.closest("#designer a[data-step]");
    if (!link || !window.htmx || evt.ctrlKey || evt.metaKey || evt.shiftKey) {
      return;
    }
    evt.preventDefault();
    var href = link.getAttribute("href");
    htmx.ajax("GET", href, { target: "#designer", swap: "outerHTML" }).then(function () {
      history.pushState(null, "", href);
      var name = document.getElementById("field-name");
      if (name) {
        name.focus();
      }
    });
  });
})();

// "Select all on this page" of a list with checkboxes (the sync review's bulk skip): hidden
// until this script can make it work; it ticks or clears every box of its name.
(function () {
  "use strict";
  function reveal(root) {
    var boxes = root && root.querySelectorAll ? root.querySelectorAll("[data-check-all]") : [];
    Array.prototype.forEach.call(boxes, function (box) {
      var label = box.closest("label");
      if (label) {
        label.hidden = false;
      }
    });
  }
  document.addEventListener("DOMContentLoaded", function () { reveal(document); });
  document.addEventListener("htmx:afterSettle", function (evt) { reveal(evt.detail.elt); reveal(document); });
  document.addEventListener("change", function (evt) {
    var all = evt.target.closest && evt.target.closest("[data-check-all]");
    if (all) {
      var name = all.getAttribute("data-check-all");
      Array.prototype.forEach.call(document.querySelectorAll('input[type=checkbox][name="' + name + '"]'), function (box) {
        box.checked = all.checked;
      });
      return;
    }
    // Unticking one box unticks "select all"; ticking the last one ticks it.
    var name2 = evt.target.name;
    var master = name2 && document.querySelector('[data-check-all="' + name2 + '"]');
    if (master) {
      var boxes = document.querySelectorAll('input[type=checkbox][name="' + name2 + '"]');
      master.checked = Array.prototype.every.call(boxes, function (b) { return b.checked; });
    }
  });
})();
