// Draws a show's seats from its live event stream and books a seat with one click.
(() => {
  "use strict";
  const showId = Number(location.pathname.split("/").filter(Boolean).pop());
  const grid = document.getElementById("seats");
  const status = document.getElementById("status");
  const message = document.getElementById("message");
  const booked = new Set();
  const held = new Set();
  const blocked = new Set();
  const mine = new Set();
  let token = sessionStorage.getItem("cinema-token");
  let totalSeats = 0;
  document.getElementById("show-id").textContent = showId;

  function say(text) { message.textContent = text; }

  function paint(seat) {
    const el = grid.querySelector(`[data-seat="${seat}"]`);
    if (!el) return;
    el.className = "seat " + (mine.has(seat) && booked.has(seat) ? "mine booked" : booked.has(seat) ? "booked"
      : held.has(seat) ? "held" : blocked.has(seat) ? "blocked" : "free");
    el.setAttribute("aria-pressed", booked.has(seat) ? "true" : "false");
  }

  function draw() {
    grid.replaceChildren();
    for (let seat = 1; seat <= totalSeats; seat++) {
      const el = document.createElement("button");
      el.dataset.seat = seat;
      el.textContent = seat;
      el.addEventListener("click", () => book(seat));
      grid.appendChild(el);
      paint(seat);
    }
    counts();
  }

  function counts() {
    const free = totalSeats - booked.size - held.size - blocked.size;
    document.getElementById("counts").textContent = `${free} of ${totalSeats} free`;
  }

  async function book(seat) {
    if (!token) { say("Log in to book."); return; }
    if (booked.has(seat)) { say(mine.has(seat) ? `Seat ${seat} is already yours.` : `Seat ${seat} is taken.`); return; }
    if (held.has(seat) || blocked.has(seat)) { say(`Seat ${seat} is not available.`); return; }
    const response = await fetch(`/shows/${showId}/book/`, {
      method: "POST",
      headers: { "Content-Type": "application/json", "Authorization": `Bearer ${token}` },
      body: JSON.stringify({ seat_number: seat }),
    });
    const body = await response.json().catch(() => ({}));
    if (response.status === 201) { mine.add(seat); paint(seat); say(`Seat ${seat} is yours (booking ${body.id}).`); }
    else if (response.status === 401) { token = null; sessionStorage.removeItem("cinema-token"); say("Please log in again."); }
    else { say(body.detail || `Could not book seat ${seat} (${response.status}).`); }
  }

  document.getElementById("login").addEventListener("submit", async (event) => {
    event.preventDefault();
    const response = await fetch("/login", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({
        username: document.getElementById("username").value,
        password: document.getElementById("password").value,
      }),
    });
    const body = await response.json().catch(() => ({}));
    if (response.ok) {
      token = body.access;
      sessionStorage.setItem("cinema-token", token);
      document.getElementById("who").textContent = `logged in as ${document.getElementById("username").value}`;
      say("Pick a seat.");
    } else { say(body.detail || "Login failed."); }
  });

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
    draw();
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
  events.addEventListener("cancelled", (e) => { const { seat } = JSON.parse(e.data); booked.delete(seat); mine.delete(seat); paint(seat); counts(); });
  events.addEventListener("dropped", () => { events.close(); setTimeout(() => location.reload(), 1000); });
})();
