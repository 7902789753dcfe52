// Imagine waterfall: a native WebSocket, or Server-Sent Events when WebSockets are unavailable.
(function () {
  "use strict";

  var form, stopBtn, startBtn, statusEl, list, zipForm, downloadBtn;
  var socket = null, source = null, running = false, names = [];

  function setStatus(text, state) {
    statusEl.textContent = text;
    statusEl.setAttribute("data-state", state);
  }

  function slotItem(slot) {
    var id = "slot-" + slot;
    var li = document.getElementById(id);
    if (!li) {
      li = document.createElement("li");
      li.id = id;
      li.className = "pending";
      var bar = document.createElement("progress");
      bar.max = 100;
      bar.value = 0;
      li.appendChild(bar);
      list.appendChild(li);
    }
    return li;
  }

  function handle(event) {
    if (event.type === "status") {
      if (event.state === "running") {
        setStatus("Generating " + event.total + " image(s)…", "running");
      } else if (event.state === "done") {
        finish("Done: " + event.images + " image(s) in " + (event.elapsed_ms / 1000).toFixed(1) + " s.", "done");
      } else if (event.state === "stopped") {
        finish("Stopped.", "stopped");
      }
    } else if (event.type === "progress") {
      var bar = slotItem(event.slot).querySelector("progress");
      if (bar) bar.value = event.percent;
    } else if (event.type === "image") {
      var li = slotItem(event.slot);
      li.className = event.moderated ? "moderated" : "final";
      li.textContent = "";
      if (event.moderated || !event.url) {
        li.textContent = "blocked by moderation";
        return;
      }
      var a = document.createElement("a");
      a.href = event.url;
      a.target = "_blank";
      a.rel = "noopener";
      var img = document.createElement("img");
      img.src = event.url;
      img.alt = "generated image " + event.sequence;
      img.loading = "lazy";
      a.appendChild(img);
      li.appendChild(a);
      names.push(event.name);
      downloadBtn.disabled = names.length === 0;
    } else if (event.type === "error") {
      finish("Error: " + event.message, "error");
    }
  }

  function finish(text, state) {
    running = false;
    setStatus(text, state);
    startBtn.disabled = false;
    stopBtn.disabled = true;
    if (source) { source.close(); source = null; }
  }

  function params() {
    var data = new FormData(form);
    return { prompt: String(data.get("prompt") || ""), aspect_ratio: String(data.get("aspect_ratio")), n: Number(data.get("n")) };
  }

  function reset() {
    list.innerHTML = "";
    names = [];
    downloadBtn.disabled = true;
    running = true;
    startBtn.disabled = true;
    stopBtn.disabled = false;
  }

  function startSSE(p) {
    var url = form.dataset.sse + "?" + new URLSearchParams({ prompt: p.prompt, aspect_ratio: p.aspect_ratio, n: String(p.n) });
    form.setAttribute("data-active-transport", "sse");
    source = new EventSource(url);
    source.onmessage = function (msg) { handle(JSON.parse(msg.data)); };
    source.addEventListener("end", function () { if (source) { source.close(); source = null; } if (running) finish("Finished.", "done"); });
    source.onerror = function () { if (running) finish("The connection was lost.", "error"); };
  }

  function startWS(p) {
    var opened = false;
    var scheme = location.protocol === "https:" ? "wss://" : "ws://";
    try {
      socket = new WebSocket(scheme + location.host + form.dataset.ws);
    } catch (e) {
      socket = null;
      startSSE(p);
      return;
    }
    form.setAttribute("data-active-transport", "ws");
    socket.onopen = function () { opened = true; socket.send(JSON.stringify(Object.assign({ type: "start" }, p))); };
    socket.onmessage = function (msg) { handle(JSON.parse(msg.data)); };
    socket.onerror = function () { if (!opened) { socket = null; startSSE(p); } };
    socket.onclose = function () { if (opened && running) finish("The connection was closed.", "error"); socket = null; };
  }

  function start(ev) {
    ev.preventDefault();
    var p = params();
    if (!p.prompt.trim()) { setStatus("Write a prompt first.", "error"); return; }
    reset();
    setStatus("Connecting…", "connecting");
    var transport = form.dataset.transport;
    if (transport === "sse" || !("WebSocket" in window)) {
      startSSE(p);
    } else if (socket && socket.readyState === WebSocket.OPEN) {
      socket.send(JSON.stringify(Object.assign({ type: "start" }, p)));
    } else {
      startWS(p);
    }
  }

  function stop() {
    if (socket && socket.readyState === WebSocket.OPEN) {
      socket.send(JSON.stringify({ type: "stop" }));
    } else {
      finish("Stopped.", "stopped");
    }
  }

  function download(ev) {
    zipForm.querySelectorAll("input[name=names]").forEach(function (el) { el.remove(); });
    if (!names.length) { ev.preventDefault(); return; }
    names.forEach(function (name) {
      var input = document.createElement("input");
      input.type = "hidden";
      input.name = "names";
      input.value = name;
      zipForm.appendChild(input);
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    form = document.getElementById("imagine-form");
    if (!form) return;
    startBtn = document.getElementById("imagine-start");
    stopBtn = document.getElementById("imagine-stop");
    statusEl = document.getElementById("imagine-status");
    list = document.getElementById("waterfall");
    zipForm = document.getElementById("imagine-zip");
    downloadBtn = document.getElementById("imagine-download");
    form.addEventListener("submit", start);
    stopBtn.addEventListener("click", stop);
    zipForm.addEventListener("submit", download);
  });
})();
