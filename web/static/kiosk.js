// The kiosk: draws a show's hall from its seat map (rows, and the screen layout when the show has one), follows
// the live event stream, books a seat with one click, and lists the customer's own seats with a cancel button.
(() => {
  "use strict";
  const showId = Number(location.pathname.split("/").filter(Boolean).pop());
  const grid = document.getElementById("seats");
  const status = document.getElementById("status");
  const message = document.getElementById("message");
  const loginForm = document.getElementById("login");
  const session = document.getElementById("session");
  const mineSection = document.getElementById("mine-section");
  const mineList = document.getElementById("mine-list");
  const booked = new Set();
  const held = new Set();
  const blocked = new Set();
  const mine = new Map(); // seat -> booking id, for the logged-in customer
  const names = new Map(); // seat -> what the customer reads, e.g. "A7"
  let token = sessionStorage.getItem("cinema-token");
  let layout = null; // the seat map's rows (and prices), once fetched
  let totalSeats = 0;
  let drawn = false;
  document.getElementById("show-id").textContent = showId;

  function say(text) { message.textContent = text; }
  function name(seat) { return names.get(seat) || String(seat); }

  function paint(seat) {
    const el = grid.querySelector(`[data-seat="${seat}"]`);
    if (!el) return;
    const state = mine.has(seat) && booked.has(seat) ? "mine booked" : booked.has(seat) ? "booked"
      : held.has(seat) ? "held" : blocked.has(seat) ? "blocked" : "free";
    el.className = ["seat", state, ...(el.dataset.extra ? el.dataset.extra.split(" ") : [])].join(" ");
    el.setAttribute("aria-pressed", booked.has(seat) ? "true" : "false");
  }

  function seatButton(seat, text, label, extra) {
    const el = document.createElement("button");
    el.type = "button";
    el.dataset.seat = seat;
    if (extra) el.dataset.extra = extra;
    el.textContent = text;
    el.title = `Seat ${label}`;
    el.setAttribute("aria-label", `Seat ${label}`);
    el.addEventListener("click", () => clicked(seat));
    names.set(seat, label);
    return el;
  }

  function rowLabel(text) {
    const el = document.createElement("span");
    el.className = "row-label";
    el.textContent = text;
    return el;
  }

  // Three ways to draw, by what the seat map says: a screen layout (positions with aisles, kinds and
  // categories), plain rows (seats numbered per row), or no layout at all (a grid of seat numbers).
  function draw() {
    if (layout === null || !totalSeats) return;
    grid.replaceChildren();
    names.clear();
    const rows = layout.rows || [];
    const categories = new Set();
    const kinds = new Set();
    let widest = 10;
    if (rows.length === 0) {
      grid.classList.add("plain");
      for (let seat = 1; seat <= totalSeats; seat++) grid.appendChild(seatButton(seat, seat, String(seat), ""));
    } else {
      grid.classList.remove("plain");
      for (const row of rows) {
        const line = document.createElement("div");
        line.className = "row";
        line.appendChild(rowLabel(row.label));
        if (Array.isArray(row.positions)) {
          widest = Math.max(widest, row.positions.length);
          for (const position of row.positions) {
            if (position === null) {
              const gap = document.createElement("span");
              gap.className = "gap";
              line.appendChild(gap);
              continue;
            }
            const label = position.label || `${row.label}${position.seat - row.first_seat + 1}`;
            const number = label.startsWith(row.label) ? label.slice(row.label.length) : label;
            const extra = [];
            if (position.category) { extra.push(`cat-${position.category}`); categories.add(position.category); }
            if (position.kind && position.kind !== "standard") { extra.push(`kind-${position.kind}`); kinds.add(position.kind); }
            line.appendChild(seatButton(position.seat, number || label, label, extra.join(" ")));
          }
        } else {
          widest = Math.max(widest, row.seats);
          for (let index = 1; index <= row.seats; index++) {
            line.appendChild(seatButton(row.first_seat + index - 1, index, `${row.label}${index}`, ""));
          }
        }
        line.appendChild(rowLabel(row.label));
        grid.appendChild(line);
      }
    }
    // Seats shrink to fit the screen's width (down to a size a finger can still hit; wider halls scroll).
    grid.style.setProperty("--columns", String(widest + 2));
    legend(categories, kinds);
    drawn = true;
    for (const seat of names.keys()) paint(seat);
    counts();
    showMine();
  }

  function legend(categories, kinds) {
    const extra = document.getElementById("legend-extra") || document.createElement("p");
    extra.id = "legend-extra";
    extra.className = "legend";
    extra.replaceChildren();
    const prices = (layout && layout.prices) || {};
    for (const category of categories) {
      const swatch = document.createElement("span");
      swatch.className = `seat free cat-${category}`;
      extra.append(swatch, ` ${category}${prices[category] ? " " + money(prices[category]) : ""} `);
    }
    for (const kind of kinds) {
      const swatch = document.createElement("span");
      swatch.className = `seat free kind-${kind}`;
      extra.append(swatch, ` ${kind} `);
    }
    if (!extra.parentNode) document.getElementById("legend").after(extra);
    extra.hidden = categories.size + kinds.size === 0;
  }

  function money(price) {
    try {
      return new Intl.NumberFormat(undefined, { style: "currency", currency: price.currency }).format(price.amount / 100);
    } catch (_) {
      return `${(price.amount / 100).toFixed(2)} ${price.currency}`;
    }
  }

  function counts() {
    const free = totalSeats - booked.size - held.size - blocked.size;
    document.getElementById("counts").textContent = `${free} of ${totalSeats} free`;
  }

  function showMine() {
    const seats = [...mine.keys()].filter((seat) => booked.has(seat)).sort((a, b) => a - b);
    mineList.replaceChildren(...seats.map((seat) => {
      const item = document.createElement("li");
      const cancel = document.createElement("button");
      cancel.type = "button";
      cancel.className = "cancel";
      cancel.dataset.cancel = seat;
      cancel.textContent = "Cancel";
      cancel.addEventListener("click", () => cancelSeat(seat));
      item.append(`Seat ${name(seat)} `, cancel);
      return item;
    }));
    mineSection.hidden = seats.length === 0;
  }

  async function api(method, path, body) {
    const headers = {};
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (token) headers.Authorization = `Bearer ${token}`;
    const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const data = await response.json().catch(() => ({}));
    if (response.status === 401 && token) { loggedOut("Please log in again."); }
    return { status: response.status, data };
  }

  async function clicked(seat) {
    if (!token) { say("Log in to book."); return; }
    if (mine.has(seat) && booked.has(seat)) { say(`Seat ${name(seat)} is already yours: cancel it below.`); return; }
    if (booked.has(seat)) { say(`Seat ${name(seat)} is taken.`); return; }
    if (held.has(seat) || blocked.has(seat)) { say(`Seat ${name(seat)} is not available.`); return; }
    const { status: code, data } = await api("POST", `/shows/${showId}/book/`, { seat_number: seat });
    if (code === 201) {
      mine.set(seat, data.id);
      booked.add(seat);
      paint(seat); counts(); showMine();
      say(`Seat ${name(seat)} is yours (booking ${data.id}).`);
    } else if (code !== 401) { say(data.detail || `Could not book seat ${name(seat)} (${code}).`); }
  }

  async function cancelSeat(seat) {
    const bookingId = mine.get(seat);
    if (bookingId === undefined) return;
    const { status: code, data } = await api("POST", `/bookings/${bookingId}/cancel/`);
    if (code === 200 || code === 409) { // 409: it was cancelled already (elsewhere); either way it is not yours now
      mine.delete(seat);
      if (code === 200) booked.delete(seat);
      paint(seat); counts(); showMine();
      say(`Seat ${name(seat)} is cancelled.`);
    } else if (code !== 401) { say(data.detail || `Could not cancel seat ${name(seat)} (${code}).`); }
  }

  async function loadMine() {
    const { status: code, data } = await api("GET", "/my-bookings/");
    if (code !== 200) return;
    mine.clear();
    for (const booking of data) {
      if (booking.status === "booked" && booking.show.id === showId) mine.set(booking.seat_number, booking.id);
    }
    for (const seat of names.keys()) paint(seat);
    showMine();
  }

  function loggedIn(username) {
    document.getElementById("who").textContent = `logged in as ${username}`;
    loginForm.hidden = true;
    session.hidden = false;
  }

  function loggedOut(text) {
    token = null;
    sessionStorage.removeItem("cinema-token");
    sessionStorage.removeItem("cinema-user");
    const seats = [...mine.keys()];
    mine.clear();
    seats.forEach(paint);
    showMine();
    loginForm.hidden = false;
    session.hidden = true;
    say(text);
  }

  loginForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const username = document.getElementById("username").value;
    const password = document.getElementById("password");
    const { status: code, data } = await api("POST", "/login", { username, password: password.value });
    password.value = ""; // never left in the page for the next customer
    if (code === 200) {
      token = data.access;
      sessionStorage.setItem("cinema-token", token);
      sessionStorage.setItem("cinema-user", username);
      loggedIn(username);
      say("Pick a seat.");
      await loadMine();
    } else { say(data.detail || "Login failed."); }
  });
  document.getElementById("logout").addEventListener("click", () => loggedOut("Logged out."));
  if (token) { loggedIn(sessionStorage.getItem("cinema-user") || "you"); loadMine(); }

  fetch(`/shows/${showId}/seats/`).then((response) => response.json()).then((seatMap) => {
    layout = { rows: seatMap.rows || [], prices: seatMap.prices || null };
    if (!totalSeats) totalSeats = seatMap.total_seats;
    draw();
  }).catch(() => say("Could not load the seat map; reload the page."));

  // EventSource reconnects by itself and sends Last-Event-ID, so the server replays what was missed.
  const events = new EventSource(`/shows/${showId}/events`);
  events.addEventListener("open", () => { status.textContent = "live"; status.classList.add("live"); });
  events.addEventListener("error", () => { status.textContent = "reconnecting…"; status.classList.remove("live"); });
  events.addEventListener("snapshot", (e) => {
    const snapshot = JSON.parse(e.data);
    totalSeats = snapshot.total_seats;
    for (const [set, seats] of [[booked, snapshot.booked], [held, snapshot.held || []], [blocked, snapshot.blocked || []]]) {
      set.clear();
      seats.forEach((seat) => set.add(seat));
    }
    if (drawn) { for (const seat of names.keys()) paint(seat); counts(); showMine(); } else { draw(); }
  });
  const change = (set, add) => (e) => {
    const { seat } = JSON.parse(e.data);
    if (add) { held.delete(seat); set.add(seat); } else { set.delete(seat); }
    paint(seat);
    counts();
  };
  events.addEventListener("held", change(held, true));
  events.addEventListener("released", change(held, false));
  events.addEventListener("blocked", change(blocked, true));
  events.addEventListener("unblocked", change(blocked, false));
  events.addEventListener("booked", (e) => { const { seat } = JSON.parse(e.data); held.delete(seat); booked.add(seat); paint(seat); counts(); });
  events.addEventListener("cancelled", (e) => {
    const { seat } = JSON.parse(e.data);
    booked.delete(seat); mine.delete(seat); paint(seat); counts(); showMine();
  });
  events.addEventListener("dropped", () => { events.close(); setTimeout(() => location.reload(), 1000); });
})();
