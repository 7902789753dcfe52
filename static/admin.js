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

    if (target.closest("[data-dismiss]")) {
      var flash = document.getElementById("flash");
      if (flash) flash.innerHTML = "";
    }
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
  document.addEventListener("submit", function (ev) {
    var form = ev.target;
    if (!(form instanceof HTMLFormElement) || form.id !== "tokens-form") return;
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
