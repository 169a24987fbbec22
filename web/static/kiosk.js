// The kiosk: draws a show's hall from its seat map (rows, and the screen layout when the show has one), follows
// the live event stream, and books a seat after the customer has seen its label, ticket type and price; the
// ticket's QR code follows. The header names the film, day, time and screen, and the day's other shows are a
// tap away. In shared mode (?shared=1, or CINEMA_KIOSK_SHARED) the login lives in memory only, so a reload is
// a logged-out page, and the customer is logged out after the idle time with a countdown on screen.
(() => {
  "use strict";
  const $ = (id) => document.getElementById(id);
  const showId = Number(location.pathname.split("/").filter(Boolean).pop());
  const shared = document.body.dataset.shared === "1";
  const idleSeconds = Math.max(1, Number(document.body.dataset.idleSeconds) || 60);
  const grid = $("seats");
  const hall = $("hall");
  const status = $("status");
  const message = $("message");
  const loginForm = $("login");
  const signupForm = $("signup");
  const session = $("session");
  const mineSection = $("mine-section");
  const mineList = $("mine-list");
  const booked = new Set();
  const held = new Set();
  const blocked = new Set();
  const mine = new Map(); // seat -> booking id, for the logged-in customer
  const names = new Map(); // seat -> what the customer reads, e.g. "A7"
  const categoryOf = new Map(); // seat -> its price category
  // Personal mode keeps the login for the tab (sessionStorage); a shared kiosk keeps it in this variable only.
  const store = shared ? null : window.sessionStorage;
  if (shared) { try { sessionStorage.removeItem("cinema-token"); sessionStorage.removeItem("cinema-user"); } catch (_) { /* none */ } }
  let token = store ? store.getItem("cinema-token") : null;
  let layout = null; // the seat map's rows (and prices), once fetched
  let totalSeats = 0;
  let drawn = false;
  let chosen = null; // the seat waiting for the customer's confirmation
  let booking = null; // the seat whose booking request is on its way
  let lastActivity = Date.now();
  $("show-id").textContent = showId;

  function say(text) { message.textContent = text; }
  function name(seat) { return names.get(seat) || String(seat); }

  function paint(seat) {
    const el = grid.querySelector(`[data-seat="${seat}"]`);
    if (!el) return;
    const state = mine.has(seat) && booked.has(seat) ? "mine booked" : booked.has(seat) ? "booked"
      : held.has(seat) ? "held" : blocked.has(seat) ? "blocked" : "free";
    el.className = ["seat", state, ...(el.dataset.extra ? el.dataset.extra.split(" ") : [])].join(" ");
    if (chosen === seat) el.classList.add("chosen");
    el.setAttribute("aria-pressed", booked.has(seat) ? "true" : "false");
    const label = `Seat ${name(seat)}`;
    el.title = state === "free" ? label : `${label}, ${state.replace("mine booked", "yours")}`;
  }

  function seatButton(seat, text, label, extra, category) {
    const el = document.createElement("button");
    el.type = "button";
    el.dataset.seat = seat;
    if (extra) el.dataset.extra = extra;
    el.textContent = text;
    el.title = `Seat ${label}`;
    el.setAttribute("aria-label", `Seat ${label}`);
    el.addEventListener("click", () => clicked(seat));
    names.set(seat, label);
    categoryOf.set(seat, category || "standard");
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
    categoryOf.clear();
    const rows = layout.rows || [];
    const categories = new Set();
    const kinds = new Set();
    let widest = 10;
    if (rows.length === 0) {
      grid.classList.add("plain");
      for (let seat = 1; seat <= totalSeats; seat++) grid.appendChild(seatButton(seat, seat, String(seat), "", "standard"));
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
            line.appendChild(seatButton(position.seat, number || label, label, extra.join(" "), position.category));
          }
        } else {
          widest = Math.max(widest, row.seats);
          for (let index = 1; index <= row.seats; index++) {
            line.appendChild(seatButton(row.first_seat + index - 1, index, `${row.label}${index}`, "", "standard"));
          }
        }
        line.appendChild(rowLabel(row.label));
        grid.appendChild(line);
      }
    }
    // Seats shrink to fit the screen's width, never below a finger's size (40 px); wider halls scroll sideways.
    grid.style.setProperty("--columns", String(widest + 2));
    legend(categories, kinds);
    drawn = true;
    for (const seat of names.keys()) paint(seat);
    counts();
    showMine();
    scrollHint();
  }

  function scrollHint() {
    const wider = hall.scrollWidth > hall.clientWidth + 1;
    $("scroll-hint").hidden = !wider;
    hall.classList.toggle("scrolls", wider);
    hall.classList.toggle("at-start", hall.scrollLeft <= 1);
    hall.classList.toggle("at-end", hall.scrollLeft + hall.clientWidth >= hall.scrollWidth - 1);
  }
  hall.addEventListener("scroll", scrollHint, { passive: true });
  window.addEventListener("resize", scrollHint);

  // --- prices and ticket types ---------------------------------------------------------------------------------
  // A category's price, in whichever shape the seat map gives it: minor units, {amount, currency}, or a price
  // per ticket type ({adult: 1200, child: 800}, or each as {amount, currency}, possibly under `types`).
  function ticketPrices(category) {
    const prices = layout && layout.prices;
    if (!prices || prices[category] === undefined || prices[category] === null) return null;
    let entry = prices[category];
    const fallback = (layout && layout.currency) || (typeof prices.currency === "string" ? prices.currency : "");
    if (typeof entry === "number") return [{ type: "adult", amount: entry, currency: fallback, plain: true }];
    if (typeof entry !== "object") return null;
    const currency = entry.currency || fallback;
    if (entry.types || entry.ticket_types) { // the seat map's shape: the adult price as `amount`, and `types`
      entry = entry.types || entry.ticket_types;
    } else if (typeof entry.amount === "number") {
      return [{ type: "adult", amount: entry.amount, currency, plain: true }];
    }
    const list = [];
    for (const [type, value] of Object.entries(entry)) {
      if (type === "currency") continue;
      if (typeof value === "number") list.push({ type, amount: value, currency });
      else if (value && typeof value.amount === "number") list.push({ type, amount: value.amount, currency: value.currency || currency });
    }
    list.sort((a, b) => (a.type === "adult" ? -1 : b.type === "adult" ? 1 : 0));
    return list.length ? list : null;
  }
  const typed = (list) => list !== null && (list.length > 1 || !list[0].plain);
  const title = (text) => text.charAt(0).toUpperCase() + text.slice(1);

  function legend(categories, kinds) {
    const extra = $("legend-extra") || document.createElement("p");
    extra.id = "legend-extra";
    extra.className = "legend";
    extra.replaceChildren();
    for (const category of categories) {
      const swatch = document.createElement("span");
      swatch.className = `seat free cat-${category}`;
      const list = ticketPrices(category);
      const priced = list === null ? "" : typed(list)
        ? list.map((p) => `${p.type} ${money(p)}`).join(", ") : money(list[0]);
      extra.append(swatch, ` ${category}${priced ? " " + priced : ""} `);
    }
    for (const kind of kinds) {
      const swatch = document.createElement("span");
      swatch.className = `seat free kind-${kind}`;
      extra.append(swatch, ` ${kind} `);
    }
    if (!extra.parentNode) $("legend").after(extra);
    extra.hidden = categories.size + kinds.size === 0;
  }

  function money(price) {
    try {
      return new Intl.NumberFormat(undefined, { style: "currency", currency: price.currency }).format(price.amount / 100);
    } catch (_) {
      return `${(price.amount / 100).toFixed(2)} ${price.currency || ""}`.trim();
    }
  }

  function counts() {
    const free = totalSeats - booked.size - held.size - blocked.size;
    $("counts").textContent = `${free} of ${totalSeats} free`;
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

  // --- choosing, confirming, booking -------------------------------------------------------------------------
  function clicked(seat) {
    if (!token) { say("Log in to book."); return; }
    if (mine.has(seat) && booked.has(seat)) { say(`Seat ${name(seat)} is already yours: cancel it below.`); return; }
    if (booked.has(seat)) { say(`Seat ${name(seat)} is taken.`); return; }
    if (held.has(seat) || blocked.has(seat)) { say(`Seat ${name(seat)} is not available.`); return; }
    choose(seat);
  }

  function choose(seat) {
    const previous = chosen;
    chosen = seat;
    if (previous !== null) paint(previous);
    paint(seat);
    const category = categoryOf.get(seat) || "standard";
    $("confirm-seat").textContent = `Seat ${name(seat)}`;
    $("confirm-category").textContent = layout && layout.rows && layout.rows.length ? `(${category})` : "";
    const list = ticketPrices(category);
    const select = $("confirm-type");
    select.replaceChildren();
    if (typed(list)) {
      for (const price of list) {
        const option = document.createElement("option");
        option.value = price.type;
        option.textContent = `${title(price.type)} — ${money(price)}`;
        select.appendChild(option);
      }
      $("confirm-type-label").hidden = false;
    } else {
      $("confirm-type-label").hidden = true;
    }
    showPrice();
    $("confirm").hidden = false;
    say(`Seat ${name(seat)}: check the price, then book.`);
    $("confirm-book").focus();
  }

  function chosenPrice() {
    if (chosen === null) return null;
    const list = ticketPrices(categoryOf.get(chosen) || "standard");
    if (list === null) return null;
    return typed(list) ? list.find((p) => p.type === $("confirm-type").value) || list[0] : list[0];
  }

  function showPrice() {
    const price = chosenPrice();
    $("confirm-price").textContent = price ? money(price) : "no charge shown";
  }
  $("confirm-type").addEventListener("change", showPrice);

  function unchoose() {
    const seat = chosen;
    chosen = null;
    if (seat !== null) paint(seat);
    $("confirm").hidden = true;
  }
  $("confirm-cancel").addEventListener("click", () => { unchoose(); say("Pick a seat."); });

  $("confirm-book").addEventListener("click", async () => {
    const seat = chosen;
    if (seat === null || !token) return;
    const list = ticketPrices(categoryOf.get(seat) || "standard");
    const price = chosenPrice();
    const body = typed(list) ? { seat_numbers: [seat], ticket_types: [price.type] } : { seat_number: seat };
    $("confirm-book").disabled = true;
    booking = seat;
    const { status: code, data } = await api("POST", `/shows/${showId}/book/`, body).finally(() => {
      $("confirm-book").disabled = false;
      booking = null;
    });
    unchoose();
    if (code === 201) {
      const made = Array.isArray(data.bookings) ? data.bookings[0] : data;
      mine.set(seat, made.id);
      booked.add(seat);
      paint(seat); counts(); showMine();
      say(`Seat ${name(seat)} is yours (booking ${made.id}).`);
      showTicket(seat, made, price);
    } else if (code !== 401) { say(data.detail || `Could not book seat ${name(seat)} (${code}).`); }
  });

  function showTicket(seat, booking, price) {
    if (!booking.ticket) { $("ticket").hidden = true; return; }
    const paid = booking.price || (price ? { amount: price.amount, currency: price.currency } : null);
    const type = booking.ticket_type || (price && !price.plain ? price.type : "adult");
    $("ticket-text").textContent = `Seat ${name(seat)} · ${title(type)}${paid ? ` · ${money(paid)}` : ""}`;
    $("ticket-qr").src = `/tickets/${encodeURIComponent(booking.ticket)}/qr.svg`;
    $("ticket-qr").alt = `QR code of ticket ${booking.ticket}`;
    $("ticket-code").textContent = booking.ticket;
    $("ticket").hidden = false;
  }

  function hideTicket() {
    $("ticket").hidden = true;
    $("ticket-qr").removeAttribute("src");
    $("ticket-code").textContent = "";
    $("ticket-text").textContent = "";
  }

  async function cancelSeat(seat) {
    const bookingId = mine.get(seat);
    if (bookingId === undefined) return;
    const { status: code, data } = await api("POST", `/bookings/${bookingId}/cancel/`);
    if (code === 200 || code === 409) { // 409: it was cancelled already (elsewhere); either way it is not yours now
      mine.delete(seat);
      if (code === 200) booked.delete(seat);
      paint(seat); counts(); showMine();
      if ($("ticket-code").textContent.startsWith(`${bookingId}-`)) hideTicket();
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

  // --- logging in and out, signing up ------------------------------------------------------------------------
  function loggedIn(username) {
    $("who").textContent = `logged in as ${username}`;
    loginForm.hidden = true;
    signupForm.hidden = true;
    session.hidden = false;
    lastActivity = Date.now();
    tick();
  }

  function loggedOut(text) {
    token = null;
    if (store) { store.removeItem("cinema-token"); store.removeItem("cinema-user"); }
    const seats = [...mine.keys()];
    mine.clear();
    unchoose();
    seats.forEach(paint);
    showMine();
    hideTicket();
    for (const id of ["username", "password", "signup-username", "signup-email", "signup-password"]) $(id).value = "";
    loginForm.hidden = false;
    signupForm.hidden = true;
    session.hidden = true;
    $("idle").hidden = true;
    say(text);
  }

  async function logIn(username, password) {
    const { status: code, data } = await api("POST", "/login", { username, password });
    if (code !== 200) { say(data.detail || "Login failed."); return false; }
    token = data.access;
    if (store) { store.setItem("cinema-token", token); store.setItem("cinema-user", username); }
    loggedIn(username);
    say("Pick a seat.");
    await loadMine();
    return true;
  }

  loginForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const password = $("password");
    const value = password.value;
    password.value = ""; // never left in the page for the next customer
    await logIn($("username").value, value);
  });
  $("signup-open").addEventListener("click", () => { loginForm.hidden = true; signupForm.hidden = false; $("signup-username").focus(); });
  $("signup-close").addEventListener("click", () => { signupForm.hidden = true; loginForm.hidden = false; });
  signupForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const username = $("signup-username").value;
    const email = $("signup-email").value;
    const password = $("signup-password");
    const value = password.value;
    password.value = "";
    const { status: code, data } = await api("POST", "/signup", { username, email, password: value });
    if (code !== 201) {
      const problems = data.errors ? Object.values(data.errors).flat().join(" ") : "";
      say(`${data.detail || "Sign-up failed."}${problems ? " " + problems : ""}`);
      return;
    }
    $("signup-username").value = ""; $("signup-email").value = "";
    if (await logIn(username, value)) say(`Welcome, ${username}. Pick a seat.`);
  });
  $("logout").addEventListener("click", () => loggedOut("Logged out."));
  if (token) { loggedIn(store.getItem("cinema-user") || "you"); loadMine(); }

  // --- the shared kiosk: logged out after the idle time, with a countdown ------------------------------------
  if (shared) {
    document.body.classList.add("shared");
    for (const id of ["username", "password", "signup-username", "signup-email", "signup-password"]) $(id).autocomplete = "off";
    for (const kind of ["pointerdown", "keydown", "touchstart", "wheel", "input"]) {
      window.addEventListener(kind, () => { lastActivity = Date.now(); tick(); }, { capture: true, passive: true });
    }
    // A page restored from the back-forward cache would still hold the last customer's token in memory.
    window.addEventListener("pageshow", (event) => { if (event.persisted && token) loggedOut("Logged out."); });
    setInterval(tick, 250);
  }

  function tick() {
    if (!shared) return;
    const idle = $("idle");
    if (!token) { idle.hidden = true; return; }
    const left = Math.ceil(idleSeconds - (Date.now() - lastActivity) / 1000);
    if (left <= 0) {
      loggedOut(`Logged out after ${idleSeconds} s without a touch: the next customer starts afresh.`);
      return;
    }
    idle.hidden = false;
    idle.dataset.left = left;
    idle.classList.toggle("soon", left <= Math.min(15, idleSeconds / 2));
    idle.textContent = `Shared kiosk: logging out in ${left} s unless you touch the screen.`;
  }

  // --- the show, the day's other shows, the seats --------------------------------------------------------------
  async function dayOf(localDate) {
    const shows = [];
    let next = `/shows/?${new URLSearchParams({ date: localDate })}`;
    for (let page = 0; next && page < 20; page++) { // a page at a time, as the programme answers
      const response = await fetch(next);
      if (!response.ok) break;
      const data = await response.json();
      shows.push(...data.results);
      next = data.next ? (({ pathname, search }) => pathname + search)(new URL(data.next, location.href)) : null;
    }
    return shows;
  }
  const sharedQuery = new URLSearchParams(location.search).get("shared") === "1" ? "?shared=1" : "";
  fetch(`/shows/${showId}/`).then((response) => (response.ok ? response.json() : null)).then((show) => {
    if (!show) return;
    const start = new Date(show.date_time);
    $("film").textContent = show.movie.title;
    $("when").textContent = start.toLocaleString([], {
      weekday: "short", day: "numeric", month: "short", hour: "2-digit", minute: "2-digit", hour12: false,
    });
    $("screen-name").textContent = show.screen_name;
    document.title = `${show.movie.title} · ${$("when").textContent} · ${show.screen_name}`;
    return dayOf(show.local_date).then((shows) => { // the cinema's own day (CINEMA_TIMEZONE)
      const others = shows.filter((entry) => entry.id !== showId);
      $("other-list").replaceChildren(...others.map((entry) => {
        const item = document.createElement("li");
        const link = document.createElement("a");
        link.href = `/kiosk/${entry.id}${sharedQuery}`;
        link.dataset.show = entry.id;
        const time = new Date(entry.date_time).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", hour12: false });
        link.textContent = `${time} ${entry.movie.title} · ${entry.screen_name} · ${entry.available_seats} free`;
        item.appendChild(link);
        return item;
      }));
      $("other-shows").hidden = others.length === 0;
    });
  }).catch(() => {});

  fetch(`/shows/${showId}/seats/`).then((response) => response.json()).then((seatMap) => {
    layout = { rows: seatMap.rows || [], prices: seatMap.prices || null, currency: seatMap.currency || null };
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
  const taken = (seat) => { if (chosen === seat && booking !== seat) { unchoose(); say(`Seat ${name(seat)} was just taken: pick another.`); } };
  const change = (set, add) => (e) => {
    const { seat } = JSON.parse(e.data);
    if (add) { held.delete(seat); set.add(seat); taken(seat); } else { set.delete(seat); }
    paint(seat);
    counts();
  };
  events.addEventListener("held", change(held, true));
  events.addEventListener("released", change(held, false));
  events.addEventListener("blocked", change(blocked, true));
  events.addEventListener("unblocked", change(blocked, false));
  events.addEventListener("booked", (e) => {
    const { seat } = JSON.parse(e.data);
    held.delete(seat); booked.add(seat); if (!mine.has(seat)) taken(seat); paint(seat); counts();
  });
  events.addEventListener("cancelled", (e) => {
    const { seat } = JSON.parse(e.data);
    booked.delete(seat); mine.delete(seat); paint(seat); counts(); showMine();
  });
  events.addEventListener("dropped", () => { events.close(); setTimeout(() => location.reload(), 1000); });
})();
