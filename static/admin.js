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
