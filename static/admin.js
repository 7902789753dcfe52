// Small behaviours of the admin pages; no inline scripts (the CSP allows only files from 'self').
(function () {
  "use strict";

  function csrf() {
    return document.body ? document.body.dataset.csrf || "" : "";
  }
  window.grokAdmin = { csrf: csrf };

  document.addEventListener("click", function (ev) {
    var target = ev.target;
    if (!(target instanceof Element)) return;

    var all = target.closest("[data-select-all]");
    if (all) {
      var name = all.getAttribute("data-select-all");
      var table = all.closest("table");
      if (table) {
        table.querySelectorAll('input[type=checkbox][name="' + name + '"]').forEach(function (box) {
          box.checked = all.checked;
        });
      }
      return;
    }

    var copy = target.closest("[data-copy]");
    if (copy) {
      var source = document.querySelector(copy.getAttribute("data-copy"));
      var status = copy.parentElement && copy.parentElement.querySelector("[data-copy-status]");
      if (!source) return;
      var text = source.value || source.textContent || "";
      var done = function (ok) {
        if (status) status.textContent = ok ? "Copied." : "Select the key and copy it by hand.";
        copy.setAttribute("data-copied", ok ? "yes" : "no");
      };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(text).then(function () { done(true); }, function () {
          source.select();
          done(document.execCommand && document.execCommand("copy"));
        });
      } else {
        source.select();
        done(document.execCommand && document.execCommand("copy"));
      }
      return;
    }

    var copyToken = target.closest("[data-copy-token]");
    if (copyToken) {
      copyTokenOf(copyToken);
      return;
    }

    var close = target.closest("[data-close]");
    if (close) {
      var shut = document.querySelector(close.getAttribute("data-close"));
      if (shut) shut.remove();
      return;
    }

    if (target.closest("[data-dismiss]")) {
      var flash = document.getElementById("flash");
      if (flash) flash.innerHTML = "";
    }
  });

  // The export note answers one click: any change of the selection makes it stale.
  document.addEventListener("change", function (ev) {
    var target = ev.target;
    if (!(target instanceof Element) || !target.closest("#tokens-form")) return;
    var note = document.getElementById("export-note");
    if (note && note.textContent) { note.textContent = ""; note.className = "small"; }
  });

  // The full token is fetched on click (a CSRF-checked POST) and goes straight to the clipboard:
  // it is never put into the page.
  function copyTokenOf(button) {
    var status = button.nextElementSibling && button.nextElementSibling.hasAttribute("data-copy-status")
      ? button.nextElementSibling : null;
    var say = function (text, ok) {
      if (status) status.textContent = text;
      button.setAttribute("data-copied", ok ? "yes" : "no");
    };
    if (!navigator.clipboard || !window.isSecureContext) {
      say("Copying needs HTTPS (or localhost): use Export instead.", false);
      return;
    }
    fetch(button.getAttribute("data-copy-token"), {
      method: "POST", credentials: "same-origin", headers: { "X-CSRF-Token": csrf() }
    }).then(function (resp) {
      if (!resp.ok) throw new Error("HTTP " + resp.status);
      return resp.text();
    }).then(function (token) {
      return navigator.clipboard.writeText(token);
    }).then(function () { say("Copied.", true); }, function (err) { say("Not copied: " + err.message, false); });
  }

  // Export posts the token form as a normal download; it carries the filters for "all matching".
  // With no row ticked (and not "all matching") it says so next to the button instead of leaving the page.
  document.addEventListener("submit", function (ev) {
    var form = ev.target;
    if (!(form instanceof HTMLFormElement) || form.id !== "tokens-form") return;
    var note = document.getElementById("export-note");
    var scope = form.querySelector("input[name=scope]:checked");
    var ticked = form.querySelectorAll("input[name=ids]:checked").length;
    if ((!scope || scope.value === "selected") && ticked === 0) {
      ev.preventDefault();
      if (note) {
        note.textContent = "Nothing to export: tick some rows, or choose “all matching the filters”.";
        note.className = "small error";
      }
      return;
    }
    if (note) { note.textContent = ""; note.className = "small"; }
    form.querySelectorAll("input[data-filter-copy]").forEach(function (el) { el.remove(); });
    var filters = document.getElementById("filters");
    if (!filters) return;
    new FormData(filters).forEach(function (value, key) {
      var input = document.createElement("input");
      input.type = "hidden";
      input.name = key;
      input.value = String(value);
      input.setAttribute("data-filter-copy", "");
      form.appendChild(input);
    });
  });

  // Enter in a field of a row being edited saves that row (its [data-row-default] button). Without
  // this the browser would submit the surrounding form: on Tokens, the export, which navigates away
  // and loses the edit.
  var NOT_TEXT = ["checkbox", "radio", "button", "submit", "reset", "file", "image"];
  document.addEventListener("keydown", function (ev) {
    if (ev.key !== "Enter" || ev.isComposing || ev.shiftKey || ev.ctrlKey || ev.altKey || ev.metaKey) return;
    var field = ev.target;
    if (!(field instanceof HTMLInputElement) || NOT_TEXT.indexOf(field.type) >= 0) return;
    var row = field.closest("tr");
    var save = row && row.querySelector("[data-row-default]");
    if (!save) return;
    ev.preventDefault();
    if (!save.disabled) save.click();
  });

  // After htmx replaces a table row (Edit, Save, Cancel, Enable, Disable, Delete) keyboard focus
  // would fall to the page: put it on the new row's first control (an edit row's [data-autofocus]
  // field); a deleted row hands it to the next row, else the previous one. Not the `autofocus`
  // attribute: the browser would focus that before htmx has made the row's buttons work.
  // When a whole table is re-rendered (after a delete, a batch) a focused row keeps its focus.
  var FOCUSABLE = "input:not([type=hidden]):not([disabled]), select:not([disabled]), textarea:not([disabled])," +
    " button:not([disabled]), a[href], summary, [tabindex]:not([tabindex='-1'])";
  function controls(row) {
    return Array.prototype.slice.call(row.querySelectorAll(FOCUSABLE));
  }
  function focusRow(ids, index) {
    var active = document.activeElement;
    if (active && active !== document.body && document.contains(active)) return;  // the user moved on
    for (var i = 0; i < ids.length; i++) {
      var row = ids[i] && document.getElementById(ids[i]);
      if (!row) continue;
      var found = controls(row);
      var control = (index < 0 && row.querySelector("[data-autofocus]")) || found[Math.max(0, index)] || found[0];
      if (control) {
        control.focus();
        return;
      }
    }
  }
  document.addEventListener("htmx:beforeSwap", function (ev) {
    var target = ev.detail && ev.detail.target;
    if (!(target instanceof Element) || !ev.detail.shouldSwap) return;
    var ids = null, index = -1;  // -1: the row's own choice (its [data-autofocus], else its first control)
    if (target instanceof HTMLTableRowElement && target.id) {
      var next = target.nextElementSibling, prev = target.previousElementSibling;
      ids = [target.id, next && next.id, prev && prev.id];
    } else {
      var active = document.activeElement;
      var row = active && target.contains(active) ? active.closest("tr[id]") : null;
      if (row) {
        ids = [row.id];
        index = controls(row).indexOf(active);
      }
    }
    if (!ids) return;
    var restore = function () { focusRow(ids, index); };
    if (String(ev.detail.serverResponse || "").trim()) {
      // New content: focus once htmx has settled it (its buttons work only from then on).
      document.addEventListener("htmx:afterSettle", function once() {
        document.removeEventListener("htmx:afterSettle", once);
        restore();
      });
    } else {
      // A deleted row: htmx's after-swap events fire on the old row, no longer in the document, so
      // a task queued now (htmx swaps right after this event) runs once it is gone.
      window.setTimeout(restore, 0);
    }
  });

  // A batch whose event stream fails (a proxy that buffers or cuts SSE) polls its card instead.
  document.addEventListener("htmx:sseError", function (ev) {
    var stream = ev.target;
    if (!(stream instanceof Element) || !stream.hasAttribute("data-batch-stream")) return;
    var card = stream.closest("[data-poll-url]");
    if (!card || card.hasAttribute("data-fallback")) return;
    card.setAttribute("data-fallback", "polling");
    htmx.ajax("GET", card.getAttribute("data-poll-url"), { target: card, swap: "outerHTML" });
  });

  // A batch that has ended reloads the table and the summary bar (the accounts it changed).
  document.addEventListener("htmx:load", function (ev) {
    var elt = ev.detail && ev.detail.elt;
    if (elt instanceof Element && elt.matches("[data-batch-finished]")) {
      htmx.trigger(document.body, "tokens-changed");
    }
  });

  // A successful htmx action clears a stale error message; a form that made something starts empty again.
  document.addEventListener("htmx:afterRequest", function (ev) {
    var xhr = ev.detail && ev.detail.xhr;
    var elt = ev.detail && ev.detail.elt;
    if (xhr && xhr.status < 400 && elt instanceof HTMLFormElement && elt.hasAttribute("data-reset-on-success")) {
      elt.reset();
    }
    if (xhr && xhr.status < 400) {
      var flash = document.getElementById("flash");
      var target = ev.detail.target;
      if (flash && target !== flash && !flash.contains(target)) flash.innerHTML = "";
    }
  });
})();
