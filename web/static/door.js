// The door: staff log in, pick one of today's shows, and scan tickets with the camera (the browser's
// BarcodeDetector where it has one, else jsQR in a worker) or by typing the code. Every scan is one
// POST /check-in/ with its own Idempotency-Key (a retry after a network error is the same scan); the camera
// sees a ticket many times a second, so a code still in view is not sent again, and the API answers the same
// scanner's second read of a ticket it has just admitted with the same ADMITTED. The token lives in memory only:
// a reload, or the next person at the door, logs in again.
(() => {
  "use strict";
  const $ = (id) => document.getElementById(id);
  const SAME_READ_GAP_MS = 1500; // a code seen again within this of its last sighting is the same read
  const FRAME_MS = 120; // how often a camera frame is decoded
  const COUNT_REFRESH_MS = 15000;
  let token = null;
  let refresh = null;
  let show = null;
  let lastCode = null;
  let lastSeen = 0;
  let scanning = false;
  let stream = null;
  let detector = null;
  let worker = null;
  let decoding = false;
  let frameTimer = null;
  let countTimer = null;
  const canvas = document.createElement("canvas");
  const video = $("video");

  function say(text) { $("message").textContent = text; }
  function hhmm(iso) {
    return new Date(iso).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", hour12: false });
  }
  function newKey() {
    if (crypto.randomUUID) return `door-${crypto.randomUUID()}`;
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    return `door-${[...bytes].map((b) => b.toString(16).padStart(2, "0")).join("")}`;
  }

  async function api(method, path, body, headers = {}, retried = false) {
    const all = { ...headers };
    if (body !== undefined) all["Content-Type"] = "application/json";
    if (token) all.Authorization = `Bearer ${token}`;
    const response = await fetch(path, { method, headers: all, body: body === undefined ? undefined : JSON.stringify(body) });
    const data = await response.json().catch(() => ({}));
    if (response.status === 401 && token && !retried && refresh && data.code === "token_expired") {
      const renewed = await fetch("/login/refresh/", {
        method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ refresh }),
      });
      if (renewed.ok) {
        const pair = await renewed.json();
        token = pair.access; refresh = pair.refresh || null;
        return api(method, path, body, headers, true);
      }
    }
    if (response.status === 401 && token) loggedOut("Please log in again.");
    return { status: response.status, data, headers: response.headers };
  }

  // --- log in, pick a show ---------------------------------------------------------------------------------
  $("login").addEventListener("submit", async (event) => {
    event.preventDefault();
    const username = $("username").value;
    const password = $("password");
    const { status, data } = await api("POST", "/login", { username, password: password.value });
    password.value = "";
    if (status !== 200) { say(data.detail || "Login failed."); return; }
    token = data.access; refresh = data.refresh || null;
    $("who").textContent = username;
    $("login").hidden = true;
    $("logout").hidden = false;
    say("");
    await listShows();
  });
  $("logout").addEventListener("click", () => loggedOut("Logged out."));
  $("change-show").addEventListener("click", () => { stopCamera(); show = null; listShows(); });

  function loggedOut(text) {
    stopCamera();
    token = null; refresh = null; show = null;
    clearInterval(countTimer);
    for (const id of ["pick", "scan", "logout"]) $(id).hidden = true;
    $("login").hidden = false;
    for (const id of ["who", "show-title", "count"]) $(id).textContent = "";
    $("log").replaceChildren();
    verdict("waiting", "…", "Ready", "Scan a ticket or type its code.");
    say(text);
  }

  async function listShows() {
    $("scan").hidden = true;
    $("show-title").textContent = "";
    $("count").textContent = "";
    clearInterval(countTimer);
    // Today's shows, and those still running from last night or starting soon after midnight.
    const now = new Date();
    const midnight = new Date(now.getFullYear(), now.getMonth(), now.getDate() + 1);
    const from = new Date(now.getTime() - 4 * 3600e3);
    const to = new Date(Math.max(midnight.getTime(), now.getTime() + 4 * 3600e3));
    const query = new URLSearchParams({ from: from.toISOString(), to: to.toISOString() });
    const shows = [];
    let next = `/shows/?${query}`;
    for (let page = 0; next && page < 20; page++) { // the programme comes a page at a time
      const { status, data } = await api("GET", next);
      if (status !== 200) { say(data.detail || `Could not load the shows (${status}).`); return; }
      shows.push(...data.results);
      next = data.next ? new URL(data.next, location.href).pathname + new URL(data.next, location.href).search : null;
    }
    const list = $("shows");
    list.replaceChildren(...shows.map((entry) => {
      const item = document.createElement("li");
      const button = document.createElement("button");
      button.type = "button";
      button.dataset.show = entry.id;
      button.textContent = `${hhmm(entry.date_time)}  ${entry.movie.title} · ${entry.screen_name}`;
      button.addEventListener("click", () => pick(entry));
      item.appendChild(button);
      return item;
    }));
    $("no-shows").hidden = shows.length > 0;
    $("pick").hidden = false;
  }

  async function pick(entry) {
    const { status, data } = await api("GET", `/check-in/?show_id=${entry.id}`);
    if (status === 403) { loggedOut("This account is not door staff."); return; }
    if (status !== 200) { say(data.detail || `Could not open the door of show ${entry.id} (${status}).`); return; }
    show = entry;
    $("pick").hidden = true;
    $("scan").hidden = false;
    $("show-title").textContent = `${entry.movie.title} · ${hhmm(entry.date_time)} · ${entry.screen_name}`;
    showCount(data);
    const opens = new Date(data.opens_at), closes = new Date(data.closes_at), now = new Date();
    say(now < opens ? `The door opens at ${hhmm(data.opens_at)}.` : now >= closes ? "This show's door has closed." : "");
    verdict("waiting", "…", "Ready", "Scan a ticket or type its code.");
    countTimer = setInterval(refreshCount, COUNT_REFRESH_MS);
    $("code").focus();
  }

  function showCount(data) {
    $("count").textContent = `${data.admitted} admitted / ${data.sold} sold`;
  }

  async function refreshCount() {
    if (!show || !token) return;
    const { status, data } = await api("GET", `/check-in/?show_id=${show.id}`);
    if (status === 200) showCount(data);
  }

  // --- a scan ----------------------------------------------------------------------------------------------
  function verdict(kind, mark, title, detail) {
    const box = $("verdict");
    box.className = `verdict ${kind}`;
    box.dataset.verdict = kind;
    $("verdict-mark").textContent = mark;
    $("verdict-title").textContent = title;
    $("verdict-detail").textContent = detail;
  }

  function logScan(kind, title, detail) {
    const item = document.createElement("li");
    item.dataset.verdict = kind;
    item.textContent = `${hhmm(new Date().toISOString())} ${title}: ${detail}`;
    const log = $("log");
    log.prepend(item);
    while (log.children.length > 20) log.lastChild.remove();
  }

  function typeName(data) {
    const type = data.ticket_type || (data.ticket_types && data.ticket_types[0]) || "adult";
    return type.charAt(0).toUpperCase() + type.slice(1);
  }

  function reason(status, data) {
    const seat = data.seat_label || (data.seat_number ? `seat ${data.seat_number}` : "");
    switch (data.code) {
      case "already_checked_in": return ["Used", `Used at ${hhmm(data.first_checked_in_at)}${seat ? ` · ${seat}` : ""}`];
      case "ticket_cancelled": return ["Cancelled", "This ticket was cancelled."];
      case "wrong_show": {
        const other = data.show || {};
        const when = other.date_time ? ` · ${hhmm(other.date_time)}` : "";
        return ["Other show", `For another show: ${other.screen_name || `show ${other.id}`}${when}`];
      }
      case "unknown_ticket": case "not_found": return ["Unknown", "Unknown ticket code."];
      case "check_in_closed": return ["Door closed", "Check-in is not open for this show now."];
      case "invalid_input": return ["Unknown", "That is not a ticket code."];
      default: return ["Refused", data.detail || `Answer ${status}.`];
    }
  }

  async function scan(raw) {
    const code = raw.trim().toUpperCase();
    if (!code || !show) return;
    scanning = true;
    const key = newKey(); // one scan, one key: the retry below is the same scan
    $("verdict").classList.add("checking");
    let answer = null;
    for (let attempt = 0; attempt < 2 && answer === null; attempt++) {
      try {
        answer = await api("POST", "/check-in/", { code, show_id: show.id }, { "Idempotency-Key": key });
      } catch (_) {
        if (attempt === 1) {
          verdict("refused", "✕", "NO CONNECTION", "The scan did not reach the server: scan again.");
          logScan("refused", "No connection", code);
        }
      }
    }
    scanning = false;
    if (answer === null || !token) return;
    const { status, data } = answer;
    if (status === 200) {
      const holder = (data.holder && (data.holder.name || data.holder.username)) || "—";
      const seat = data.seat_label || `Seat ${data.seat_number}`;
      const detail = `${holder} · ${seat} · ${typeName(data)}`;
      verdict("admitted", "✓", "ADMITTED", detail);
      logScan("admitted", "ADMITTED", detail);
    } else if (status !== 401) {
      const [short, detail] = reason(status, data);
      verdict("refused", "✕", "REFUSED", detail);
      $("verdict").dataset.reason = short;
      logScan("refused", `REFUSED (${short})`, detail);
    }
    refreshCount();
  }

  $("typed").addEventListener("submit", async (event) => {
    event.preventDefault();
    const input = $("code");
    const code = input.value;
    input.value = "";
    await scan(code);
    input.focus();
  });

  // --- the camera --------------------------------------------------------------------------------------------
  function sighted(raw) {
    const code = raw.trim().toUpperCase();
    const now = performance.now();
    if (code === lastCode && now - lastSeen < SAME_READ_GAP_MS) { lastSeen = now; return; } // still in view
    if (scanning) return; // read again on a later frame
    lastCode = code;
    lastSeen = now;
    scan(code);
  }

  async function startCamera() {
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      $("camera-status").textContent = "No camera here: type the code.";
      return;
    }
    try {
      stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" }, audio: false });
    } catch (error) {
      $("camera-status").textContent = `No camera (${error.name}): type the code.`;
      return;
    }
    video.srcObject = stream;
    video.hidden = false;
    await video.play().catch(() => {});
    detector = null;
    if ("BarcodeDetector" in window) {
      try {
        const formats = await window.BarcodeDetector.getSupportedFormats();
        if (formats.includes("qr_code")) detector = new window.BarcodeDetector({ formats: ["qr_code"] });
      } catch (_) { detector = null; }
    }
    if (!detector && !worker) {
      worker = new Worker("/kiosk/static/door-decoder.js");
      worker.onmessage = (event) => { decoding = false; if (event.data.code) sighted(event.data.code); };
      worker.onerror = () => { decoding = false; };
    }
    $("camera-status").textContent = detector ? "Camera on (BarcodeDetector)." : "Camera on (jsQR).";
    $("camera-status").dataset.decoder = detector ? "barcode-detector" : "jsqr";
    $("camera-toggle").textContent = "Stop camera";
    frameTimer = setInterval(decodeFrame, FRAME_MS);
  }

  function stopCamera() {
    clearInterval(frameTimer);
    frameTimer = null;
    if (stream) stream.getTracks().forEach((track) => track.stop());
    stream = null;
    video.srcObject = null;
    video.hidden = true;
    decoding = false;
    $("camera-toggle").textContent = "Start camera";
    $("camera-status").textContent = "";
  }

  async function decodeFrame() {
    if (decoding || !stream || video.readyState < 2 || !video.videoWidth) return;
    decoding = true;
    if (detector) {
      try {
        const found = await detector.detect(video);
        if (found.length) sighted(found[0].rawValue);
      } catch (_) { /* a frame it could not read */ }
      decoding = false;
      return;
    }
    const scale = Math.min(1, 640 / video.videoWidth);
    canvas.width = Math.round(video.videoWidth * scale);
    canvas.height = Math.round(video.videoHeight * scale);
    const context = canvas.getContext("2d", { willReadFrequently: true });
    context.drawImage(video, 0, 0, canvas.width, canvas.height);
    const frame = context.getImageData(0, 0, canvas.width, canvas.height);
    worker.postMessage({ data: frame.data.buffer, width: frame.width, height: frame.height }, [frame.data.buffer]);
  }

  $("camera-toggle").addEventListener("click", () => (stream ? stopCamera() : startCamera()));
})();
