// Voice live: ask the admin API for a LiveKit token, then join the room with the vendored client.
(function () {
  "use strict";

  var form, stateEl, errorEl, connectBtn, leaveBtn, grant = null, room = null;

  function setState(text, state) {
    stateEl.textContent = text;
    stateEl.setAttribute("data-state", state);
  }

  function showError(text) {
    errorEl.textContent = text;
    errorEl.hidden = !text;
  }

  function getToken(ev) {
    ev.preventDefault();
    showError("");
    setState("fetching a token…", "fetching");
    var data = new FormData(form);
    fetch(form.dataset.tokenUrl, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": window.grokAdmin.csrf() },
      body: JSON.stringify({ voice: data.get("voice"), personality: data.get("personality"), speed: Number(data.get("speed")) })
    }).then(function (resp) {
      return resp.json().then(function (body) { return { ok: resp.ok, body: body }; });
    }).then(function (r) {
      if (!r.ok) {
        grant = null;
        connectBtn.disabled = true;
        setState("no token", "error");
        showError((r.body.error && r.body.error.message) || "the token request failed");
        return;
      }
      grant = r.body;
      document.getElementById("voice-url").textContent = grant.url;
      document.getElementById("voice-room").textContent = grant.room || "—";
      document.getElementById("voice-account").textContent = grant.account || "—";
      setState("token ready", "token");
      // The demo's simulated grok.com serves no LiveKit room: connecting would only retry forever.
      connectBtn.disabled = !window.LivekitClient || form.dataset.demo === "1";
      if (!window.LivekitClient) showError("The LiveKit client did not load.");
    }).catch(function (err) {
      setState("no token", "error");
      showError(String(err));
    });
  }

  function connect() {
    if (!grant || !window.LivekitClient || form.dataset.demo === "1") return;
    var LK = window.LivekitClient;
    room = new LK.Room();
    room.on(LK.RoomEvent.TrackSubscribed, function (track) {
      if (track.kind === "audio") document.getElementById("voice-audio").appendChild(track.attach());
    });
    room.on(LK.RoomEvent.Disconnected, function () {
      setState("disconnected", "disconnected");
      leaveBtn.disabled = true;
      connectBtn.disabled = !grant || form.dataset.demo === "1";
    });
    setState("connecting…", "connecting");
    connectBtn.disabled = true;
    room.connect(grant.url, grant.token).then(function () {
      setState("connected — speak", "connected");
      leaveBtn.disabled = false;
      return room.localParticipant.setMicrophoneEnabled(true);
    }).catch(function (err) {
      setState("connection failed", "failed");
      showError(String(err && err.message || err));
      connectBtn.disabled = false;
    });
  }

  function leave() {
    if (room) room.disconnect();
  }

  document.addEventListener("DOMContentLoaded", function () {
    form = document.getElementById("voice-form");
    if (!form) return;
    stateEl = document.getElementById("voice-state");
    errorEl = document.getElementById("voice-error");
    connectBtn = document.getElementById("voice-connect");
    leaveBtn = document.getElementById("voice-leave");
    form.addEventListener("submit", getToken);
    connectBtn.addEventListener("click", connect);
    leaveBtn.addEventListener("click", leave);
  });
})();
