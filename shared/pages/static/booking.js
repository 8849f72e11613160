/*
 * bookbridge booking flow (ES module), shared by the booking page (page.js) and the widget (widget.js).
 *
 *   import { mountBooking } from "./booking.js";
 *   mountBooking(element, { slug: "intro-call", apiBase: "https://app.example/api/", headingLevel: 1 });
 *
 * Talks to the public API only: GET calendars/{slug}/slots, POST calendars/{slug}/bookings and
 * GET bookings/{id}?token=... (polling the meeting link). The API base defaults to the folder above
 * this module's own URL (".../api/static/booking.js" -> ".../api/"), so the page and the widget
 * both reach the app that served them. The DOM is built with createElement/textContent only.
 */

const LINK_POLL_DELAYS_MS = [1000, 1500, 2000, 3000, 5000];
const LINK_POLL_LIMIT_MS = 120000;
const HTTP_URL = /^https?:\/\//i;

let instances = 0;

/** The API base URL (ending with "/") derived from this module's own URL. */
export function defaultApiBase() {
  return new URL("../", import.meta.url).href;
}

/** Mount the booking flow of calendar `options.slug` into `container`; returns the controller. */
export function mountBooking(container, options = {}) {
  const flow = new BookingFlow(container, options);
  flow.start();
  return flow;
}

// ------------------------------------------------------------------------------------------ DOM
/** createElement with attributes ("text", "class", "on<event>") and children; never parses HTML. */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on") && typeof value === "function") node.addEventListener(key.slice(2), value);
    else if (value === true) node.setAttribute(key, "");
    else node.setAttribute(key, String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

// ---------------------------------------------------------------------------- calendar dates
// Calendar dates are "YYYY-MM-DD" strings and months "YYYY-MM": plain arithmetic in UTC.
const pad = (n) => String(n).padStart(2, "0");

function parseYmd(text) {
  const [y, m, d] = text.split("-").map(Number);
  return { y, m, d };
}

function ymd(y, m, d) {
  const t = new Date(Date.UTC(y, m - 1, d));
  return `${String(t.getUTCFullYear()).padStart(4, "0")}-${pad(t.getUTCMonth() + 1)}-${pad(t.getUTCDate())}`;
}

function addDays(text, n) {
  const { y, m, d } = parseYmd(text);
  return ymd(y, m, d + n);
}

function addMonths(month, n) {
  const [y, m] = month.split("-").map(Number);
  return ymd(y, m + n, 1).slice(0, 7);
}

function daysInMonth(month) {
  const [y, m] = month.split("-").map(Number);
  return new Date(Date.UTC(y, m, 0)).getUTCDate();
}

function isoWeekday(text) {
  // 1 = Monday ... 7 = Sunday
  const { y, m, d } = parseYmd(text);
  return ((new Date(Date.UTC(y, m - 1, d)).getUTCDay() + 6) % 7) + 1;
}

function utcNoon(text) {
  const { y, m, d } = parseYmd(text);
  return new Date(Date.UTC(y, m - 1, d, 12));
}

const isValidDate = (text) => typeof text === "string" && /^\d{4}-\d{2}-\d{2}$/.test(text) &&
  ymd(...Object.values(parseYmd(text))) === text;

// ------------------------------------------------------------------------------ time zones
const partsFormats = new Map();

function zoned(date, tz) {
  let fmt = partsFormats.get(tz);
  if (!fmt) {
    fmt = new Intl.DateTimeFormat("en-US", {
      timeZone: tz, year: "numeric", month: "2-digit", day: "2-digit",
      hour: "2-digit", minute: "2-digit", hourCycle: "h23",
    });
    partsFormats.set(tz, fmt);
  }
  const p = {};
  for (const part of fmt.formatToParts(date)) p[part.type] = part.value;
  return { date: `${p.year}-${p.month}-${p.day}`, time: `${p.hour}:${p.minute}` };
}

export function isValidTimeZone(tz) {
  if (!tz || typeof tz !== "string") return false;
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

// Browsers (ICU) still list and report some zones under names the IANA database has renamed; the
// current names are shown and sent (both work in Intl and in the API's tz database).
const RENAMED_ZONES = {
  "Africa/Asmera": "Africa/Asmara",
  "America/Buenos_Aires": "America/Argentina/Buenos_Aires",
  "America/Catamarca": "America/Argentina/Catamarca",
  "America/Coral_Harbour": "America/Atikokan",
  "America/Cordoba": "America/Argentina/Cordoba",
  "America/Godthab": "America/Nuuk",
  "America/Indianapolis": "America/Indiana/Indianapolis",
  "America/Jujuy": "America/Argentina/Jujuy",
  "America/Louisville": "America/Kentucky/Louisville",
  "America/Mendoza": "America/Argentina/Mendoza",
  "Asia/Calcutta": "Asia/Kolkata",
  "Asia/Katmandu": "Asia/Kathmandu",
  "Asia/Rangoon": "Asia/Yangon",
  "Asia/Saigon": "Asia/Ho_Chi_Minh",
  "Atlantic/Faeroe": "Atlantic/Faroe",
  "Europe/Kiev": "Europe/Kyiv",
  "Pacific/Enderbury": "Pacific/Kanton",
  "Pacific/Ponape": "Pacific/Pohnpei",
  "Pacific/Truk": "Pacific/Chuuk",
};

/** The current IANA name of a zone (a renamed one's new name). */
export function currentZoneName(tz) {
  const renamed = RENAMED_ZONES[tz];
  return renamed && isValidTimeZone(renamed) ? renamed : tz;
}

export function detectTimeZone() {
  try {
    const tz = currentZoneName(Intl.DateTimeFormat().resolvedOptions().timeZone);
    return isValidTimeZone(tz) ? tz : "UTC";
  } catch {
    return "UTC";
  }
}

function timeZoneList(current) {
  let zones = [];
  try {
    zones = Intl.supportedValuesOf("timeZone");
  } catch {
    zones = [];
  }
  const all = new Set(zones.map(currentZoneName));
  all.add("UTC");
  if (current) all.add(current);
  return [...all].sort((a, b) => a.localeCompare(b));
}

/** Does a zone match a search text? Words in any order, against the name and its offset label. */
function zoneMatches(label, query) {
  const text = label.toLowerCase().replace(/[_/]/g, " ");
  return query.toLowerCase().replace(/[_/]/g, " ").split(/\s+/).filter(Boolean).every((word) => text.includes(word));
}

function offsetLabel(tz) {
  try {
    const parts = new Intl.DateTimeFormat("en-US", { timeZone: tz, timeZoneName: "longOffset" })
      .formatToParts(new Date());
    const name = parts.find((p) => p.type === "timeZoneName");
    return name ? name.value.replace(/^GMT$/, "GMT+00:00") : "";
  } catch {
    return "";
  }
}

export const zoneLabel = (tz) => tz.replace(/_/g, " ");

/** "Tuesday, 3 March 2026, 9:30 AM – 10:00 AM" of an ISO interval in `tz`, in `locale`'s style. */
/** fetch a JSON API without cookies: `{status, ok, data}` (data null when the body is not JSON). */
export async function requestJson(url, { method = "GET", body, headers } = {}) {
  const init = { method, headers: { Accept: "application/json", ...(headers || {}) }, credentials: "omit" };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers["Content-Type"] = "application/json";
  }
  const res = await fetch(url, init);
  let data = null;
  try {
    data = await res.json();
  } catch {
    data = null;
  }
  return { status: res.status, ok: res.ok, data };
}

export function formatWhen(startIso, endIso, tz, locale) {
  const time = new Intl.DateTimeFormat(locale, { hour: "numeric", minute: "2-digit", timeZone: tz });
  const date = new Intl.DateTimeFormat(locale, { weekday: "long", day: "numeric", month: "long", year: "numeric",
    timeZone: tz });
  const start = new Date(startIso);
  return `${date.format(start)}, ${time.format(start)} – ${time.format(new Date(endIso))}`;
}

function firstDayOfWeek(locale) {
  try {
    const loc = new Intl.Locale(locale);
    const info = typeof loc.getWeekInfo === "function" ? loc.getWeekInfo() : loc.weekInfo;
    if (info && info.firstDay >= 1 && info.firstDay <= 7) return info.firstDay;
  } catch {
    /* fall through */
  }
  return 1;
}

// ------------------------------------------------------------------------------- messages
const TEXT = {
  loading: "Loading available times…",
  notFound: "This booking page does not exist. Check the link you were given.",
  notAllowed: (origin) => `This site (${origin}) is not allowed to use the booking service. The site's owner must ` +
    `add ${origin} to the app setting CORS_ALLOWED_ORIGINS of the bookbridge app.`,
  unreachable: "The booking service could not be reached. Check your connection and try again.",
  failed: "Something went wrong. Please try again in a moment.",
  busy: "The booking service is busy. Please try again in a moment.",
  taken: "Sorry, that time was just booked by someone else. Please choose another time.",
  startGone: "That time is no longer available. Please choose another time.",
  linkPending: "Your meeting link is being created…",
  linkByEmail: "Your meeting link will arrive by email.",
  linkFailed: "The host will send you the meeting details by email.",
  challengeNeeded: "Please complete the check above the button first.",
  challengeFailed: "The check that keeps automated bookings out could not be loaded. Please reload the page.",
};

// ------------------------------------------------------------------------------- the human check
// Cloudflare Turnstile with explicit rendering (Cloudflare's "Embed the widget" page,
// developers.cloudflare.com/turnstile/get-started/client-side-rendering/): api.js?render=explicit is loaded
// once, then turnstile.render(element, {sitekey, callback}) runs when the details step shows; the token the
// callback receives is posted as human_check_token, which intake verifies with siteverify before storing.
export const TURNSTILE_SCRIPT = "https://challenges.cloudflare.com/turnstile/v0/api.js?render=explicit";
let turnstileLoading = null;

export function loadTurnstile() {
  if (window.turnstile) return Promise.resolve(window.turnstile);
  if (!turnstileLoading) {
    turnstileLoading = new Promise((resolve, reject) => {
      const script = document.createElement("script");
      script.src = TURNSTILE_SCRIPT;
      script.addEventListener("load", () => (window.turnstile ? resolve(window.turnstile)
        : reject(new Error("turnstile did not load"))));
      script.addEventListener("error", () => {
        turnstileLoading = null;
        reject(new Error("turnstile did not load"));
      });
      document.head.append(script);
    });
  }
  return turnstileLoading;
}

function randomKey() {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
}

export function hostNames(hosts) {
  if (!Array.isArray(hosts)) return [];
  return hosts
    .map((h) => (typeof h === "string" ? h : h && (h.name || h.display_name || h.user)))
    .filter((n) => typeof n === "string" && n.trim())
    .map((n) => n.trim());
}

export function joinNames(names, locale) {
  if (!names.length) return "";
  try {
    return new Intl.ListFormat(locale, { style: "long", type: "conjunction" }).format(names);
  } catch {
    return names.join(", ");
  }
}

// ------------------------------------------------------------------------------- the flow
class BookingFlow {
  constructor(container, options) {
    if (!options.slug) throw new Error("bookbridge: a calendar slug is required");
    this.container = container;
    this.slug = String(options.slug);
    this.apiBase = new URL(options.apiBase || defaultApiBase(), document.baseURI).href;
    if (!this.apiBase.endsWith("/")) this.apiBase += "/";
    this.level = Math.min(Math.max(Number(options.headingLevel) || 2, 1), 5);
    this.isPage = Boolean(options.page);
    this.onChoose = typeof options.onChoose === "function" ? options.onChoose : null;
    this.fixedTitle = options.title || null;
    this.locale = options.locale || (typeof navigator !== "undefined" && navigator.language) || "en";
    try {
      new Intl.DateTimeFormat(this.locale);
    } catch {
      this.locale = "en";
    }
    this.weekStart = firstDayOfWeek(this.locale);
    this.tz = isValidTimeZone(options.timezone) ? currentZoneName(options.timezone) : detectTimeZone();
    this.id = `bb${++instances}`;
    this.calendar = null;
    this.cache = new Map(); // `${tz}|${month}` -> Map(date -> slots)
    this.today = zoned(new Date(), this.tz).date;
    this.month = (isValidDate(options.date) && options.date >= this.today ? options.date : this.today).slice(0, 7);
    this.selectedDate = isValidDate(options.date) ? options.date : null;
    this.focusDate = null;
    this.slot = null;
    this.loadSeq = 0;
    this.autoAdvance = isValidDate(options.date) ? 0 : 2;
    this.attempt = null; // {payload, key}
    this.humanCheck = null; // {provider, site_key}: the slots answer says when intake verifies a challenge
    this.humanToken = null;
    this.challenge = null; // Promise of the rendered challenge's widget id
    this.pollTimer = null;
    this.formats = new Map();
  }

  // ---------------------------------------------------------------- helpers
  url(path, params) {
    const url = new URL(path, this.apiBase);
    for (const [k, v] of Object.entries(params || {})) url.searchParams.set(k, v);
    return url.href;
  }

  async request(path, { params, method = "GET", body, headers } = {}) {
    return requestJson(this.url(path, params), { method, body, headers });
  }

  /** The page's origin when it is not the API's (the widget on another site), else null. */
  get foreignOrigin() {
    const origin = window.location.origin;
    return origin && origin !== "null" && origin !== new URL(this.apiBase).origin ? origin : null;
  }

  /**
   * Why a fetch of the API failed. A browser hides a CORS refusal behind a network error; when the page is on
   * another origin and an asset of the same app loads (assets allow every origin), the app is reachable, so the
   * site's origin is not allowed: say so, naming the setting, on the page and in the console.
   */
  async unreachableText() {
    const origin = this.foreignOrigin;
    if (!origin) return TEXT.unreachable;
    try {
      const probe = await fetch(new URL("static/booking.css", this.apiBase).href, { credentials: "omit" });
      if (!probe.ok) return TEXT.unreachable;
    } catch {
      return TEXT.unreachable;
    }
    const text = TEXT.notAllowed(origin);
    console.error(`bookbridge widget: ${text} (the API at ${this.apiBase} answered without CORS for this origin)`);
    return text;
  }

  notFoundText() {
    if (this.isPage) return TEXT.notFound;
    const text = `There is no booking calendar with slug "${this.slug}". Check the data-calendar attribute ` +
      "of the widget's script tag.";
    console.error(`bookbridge widget: no calendar with slug "${this.slug}" at ${this.apiBase}`);
    return text;
  }

  fmt(key, opts) {
    const id = `${key}|${this.tz}`;
    let f = this.formats.get(id);
    if (!f) {
      f = new Intl.DateTimeFormat(this.locale, { ...opts, timeZone: opts.timeZone || this.tz });
      this.formats.set(id, f);
    }
    return f;
  }

  /** "12h" or "24h": the clock the page shows times in (the locale's), so that the emails use the same. */
  timeFormat() {
    const cycle = this.fmt("time", { hour: "numeric", minute: "2-digit" }).resolvedOptions().hourCycle;
    return cycle === "h11" || cycle === "h12" ? "12h" : "24h";
  }

  timeText(iso) {
    return this.fmt("time", { hour: "numeric", minute: "2-digit" }).format(new Date(iso));
  }

  dateText(day, withYear = false) {
    const opts = { weekday: "long", day: "numeric", month: "long", timeZone: "UTC" };
    if (withYear) opts.year = "numeric";
    return this.fmt(withYear ? "dateY" : "date", opts).format(utcNoon(day));
  }

  monthText(month) {
    return this.fmt("month", { month: "long", year: "numeric", timeZone: "UTC" }).format(utcNoon(`${month}-01`));
  }

  whenText(startIso, endIso) {
    const day = zoned(new Date(startIso), this.tz).date;
    const range = `${this.timeText(startIso)} – ${this.timeText(endIso)}`;
    return `${this.dateText(day, true)}, ${range}`;
  }

  h(offset, attrs, ...children) {
    return el(`h${Math.min(this.level + offset, 6)}`, attrs, ...children);
  }

  announce(text) {
    // Re-set the text so that repeated messages are spoken again.
    this.status.textContent = "";
    window.setTimeout(() => {
      this.status.textContent = text;
    }, 30);
  }

  showAlert(text, { focus = false, tone = "error" } = {}) {
    this.alert.textContent = text;
    this.alert.hidden = !text;
    this.alert.dataset.tone = tone;
    if (text && focus) this.alert.focus();
  }

  // ---------------------------------------------------------------- skeleton
  start() {
    const id = this.id;
    this.container.textContent = "";
    this.title = this.h(0, { class: "bb-title", id: `${id}-title` }, this.fixedTitle || "Book a time");
    this.hostsLine = el("p", { class: "bb-hosts", hidden: true });
    this.facts = el("ul", { class: "bb-facts", hidden: true });
    this.status = el("div", { class: "bb-visually-hidden", role: "status", "aria-live": "polite" });
    this.alert = el("div", { class: "bb-alert", role: "alert", tabindex: "-1", hidden: true });

    // step 1: date and time
    this.tzSelect = el("select", { id: `${id}-tz`, class: "bb-select", autocomplete: "off",
      onchange: () => this.changeTimeZone(this.tzSelect.value) });
    this.tzSearch = el("input", { type: "search", id: `${id}-tz-search`, class: "bb-input bb-tz-search",
      autocomplete: "off", spellcheck: "false", placeholder: "Search, e.g. Kyiv or GMT+05:30",
      "aria-controls": `${id}-tz`, oninput: () => this.filterTimeZones() });
    const tzField = el("div", { class: "bb-tz" },
      el("label", { for: `${id}-tz-search`, class: "bb-label" }, "Find a city or offset"), this.tzSearch,
      el("label", { for: `${id}-tz`, class: "bb-label" }, "Time zone"), this.tzSelect);

    this.monthLabel = this.h(1, { class: "bb-month", id: `${id}-month`, "aria-live": "polite" });
    this.prevButton = el("button", { type: "button", class: "bb-nav", "aria-label": "Previous month",
      onclick: () => this.showMonth(addMonths(this.month, -1)) }, el("span", { "aria-hidden": "true" }, "‹"));
    this.nextButton = el("button", { type: "button", class: "bb-nav", "aria-label": "Next month",
      onclick: () => this.showMonth(addMonths(this.month, 1)) }, el("span", { "aria-hidden": "true" }, "›"));
    this.gridBody = el("tbody", { onkeydown: (e) => this.onGridKey(e), onclick: (e) => this.onGridClick(e) });
    const headRow = el("tr");
    for (let i = 0; i < 7; i += 1) {
      const weekday = ((this.weekStart - 1 + i) % 7) + 1; // 1 = Monday
      const sample = utcNoon(ymd(2024, 1, weekday)); // 2024-01-01 is a Monday
      headRow.append(el("th", { scope: "col", abbr: this.fmt("wdl", { weekday: "long", timeZone: "UTC" }).format(sample) },
        this.fmt("wds", { weekday: "short", timeZone: "UTC" }).format(sample)));
    }
    this.grid = el("table", { class: "bb-grid", role: "grid", "aria-labelledby": `${id}-month`,
      "aria-describedby": `${id}-grid-hint` }, el("thead", {}, headRow), this.gridBody);
    // WAI-ARIA grid pattern: one Tab stop in the grid, arrow keys inside it; said on screen, not only to readers
    const hint = el("p", { class: "bb-grid-hint bb-small bb-muted", id: `${id}-grid-hint` },
      "Keyboard: arrow keys move between dates, Enter shows a date's times, Tab goes on to the times.");
    this.skipNote = el("p", { class: "bb-skip-note", role: "status", hidden: true });
    const calendarBox = el("div", { class: "bb-calendar" }, this.skipNote,
      el("div", { class: "bb-calendar-head" }, this.prevButton, this.monthLabel, this.nextButton), this.grid, hint);

    this.dayHeading = this.h(1, { class: "bb-day-heading", id: `${id}-day` });
    this.dayNote = el("p", { class: "bb-day-note" });
    this.slotsBox = el("div", { class: "bb-slots", onkeydown: (e) => this.onSlotKey(e) });
    const slotsPanel = el("div", { class: "bb-slots-panel" }, this.dayHeading, this.dayNote, this.slotsBox);

    this.pickStep = el("section", { class: "bb-step bb-step-pick", "aria-labelledby": `${id}-pick` },
      this.h(1, { class: "bb-visually-hidden", id: `${id}-pick` }, "Choose a date and time"),
      tzField, el("div", { class: "bb-columns" }, calendarBox, slotsPanel));

    // step 2: details
    this.summary = el("p", { class: "bb-summary" });
    this.form = el("form", { class: "bb-form", novalidate: true, onsubmit: (e) => this.submit(e) });
    this.fields = {
      name: this.field("name", "Your name", el("input", { type: "text", autocomplete: "name", maxlength: "200",
        required: true })),
      email: this.field("email", "Email address", el("input", { type: "email", autocomplete: "email",
        maxlength: "254", required: true, inputmode: "email", spellcheck: "false" })),
      notes: this.field("notes", "Anything the host should know? (optional)",
        el("textarea", { rows: "3", maxlength: "2000" })),
    };
    // A field people never see or reach (bots fill it in) and the time the form was open: both are
    // sent with the booking and a filled trap or an inhumanly fast form is refused quietly.
    this.trap = el("input", { type: "text", name: "website", tabindex: "-1", autocomplete: "off" });
    const trapBox = el("div", { class: "bb-visually-hidden", "aria-hidden": "true" },
      el("label", {}, "Leave this field empty", this.trap));
    this.detailsShownAt = 0;
    this.challengeBox = el("div", { class: "bb-human-check", hidden: true });
    this.formError = el("p", { class: "bb-form-error", tabindex: "-1", hidden: true });
    this.submitButton = el("button", { type: "submit", class: "bb-button bb-primary" }, "Confirm booking");
    this.form.append(this.fields.name.wrap, this.fields.email.wrap, this.fields.notes.wrap, trapBox, this.challengeBox,
      this.formError,
      el("div", { class: "bb-actions" }, this.submitButton));
    this.detailsHeading = this.h(1, { class: "bb-step-heading", id: `${id}-details`, tabindex: "-1" }, "Your details");
    this.detailsStep = el("section", { class: "bb-step bb-step-details", hidden: true,
      "aria-labelledby": `${id}-details` },
      el("button", { type: "button", class: "bb-link-button bb-back", onclick: () => this.backToPick() },
        el("span", { "aria-hidden": "true" }, "← "), "Change time"),
      this.detailsHeading, this.summary, this.form);

    // step 3: confirmation
    this.doneHeading = this.h(1, { class: "bb-step-heading bb-done-heading", id: `${id}-done`, tabindex: "-1" },
      el("span", { class: "bb-mark", "aria-hidden": "true" }, "✓"), "You're booked");
    this.doneIntro = el("p", { class: "bb-done-intro" });
    this.doneWhen = el("dd", { class: "bb-done-when" });
    this.doneWith = el("dd", { class: "bb-done-with" });
    this.doneLink = el("dd", { class: "bb-done-link", "aria-live": "polite" });
    this.doneWithRow = [el("dt", {}, "With"), this.doneWith];
    this.doneLinkRow = [el("dt", {}, "Meeting link"), this.doneLink];
    this.doneStep = el("section", { class: "bb-step bb-step-done", hidden: true, "aria-labelledby": `${id}-done` },
      this.doneHeading, this.doneIntro,
      el("dl", { class: "bb-details-list" }, el("dt", {}, "When"), this.doneWhen, ...this.doneWithRow,
        ...this.doneLinkRow),
      this.doneManage = el("p", { class: "bb-done-manage", hidden: true }),
      el("div", { class: "bb-actions" },
        el("button", { type: "button", class: "bb-button bb-secondary", onclick: () => this.bookAnother() },
          "Book another time")));

    this.avatar = el("span", { class: "bb-avatar", "aria-hidden": "true", hidden: true });
    this.root = el("div", { class: "bb bb-card", lang: "en", "data-state": "pick" },
      el("header", { class: "bb-header" }, this.avatar,
        el("div", { class: "bb-header-text" }, this.title, this.hostsLine, this.facts)),
      this.status, this.alert, this.pickStep, this.detailsStep, this.doneStep);
    this.container.append(this.root);
    this.container.classList.add("bb-mounted");

    this.fillTimeZones();
    this.renderGrid();
    this.renderSlots();
    this.showMonth(this.month, { initial: true });
  }

  field(name, label, input) {
    const id = `${this.id}-${name}`;
    input.id = id;
    input.name = name;
    input.classList.add("bb-input");
    const error = el("p", { class: "bb-field-error", id: `${id}-error`, hidden: true });
    input.setAttribute("aria-describedby", `${id}-error`);
    const wrap = el("div", { class: "bb-field", "data-field": name },
      el("label", { for: id, class: "bb-label" }, label), input, error);
    return { input, error, wrap };
  }

  fillTimeZones() {
    this.zoneOptions = timeZoneList(this.tz).map((tz) => {
      const offset = offsetLabel(tz);
      const [area, ...rest] = tz.split("/");
      // grouped by area ("America"), the option names the place city first: short enough for a phone
      const place = rest.length ? rest.reverse().map(zoneLabel).join(", ") : zoneLabel(area);
      return { tz, area: rest.length ? area : "", text: offset ? `${place} (${offset})` : place,
        label: `${zoneLabel(tz)} ${offset}` };
    });
    this.filterTimeZones();
  }

  /** List the zones matching the search box (the current zone always stays listed, first when filtered). */
  filterTimeZones() {
    const query = this.tzSearch.value.trim();
    const shown = this.zoneOptions.filter((z) => !query || zoneMatches(z.label, query));
    const current = this.zoneOptions.find((z) => z.tz === this.tz);
    const list = current && !shown.includes(current) ? [current, ...shown] : shown;
    const frag = document.createDocumentFragment();
    let group = null;
    for (const z of list) {
      if (!group || group.label !== (z.area || "Other")) {
        group = el("optgroup", { label: z.area || "Other" });
        frag.append(group);
      }
      group.append(el("option", { value: z.tz, selected: z.tz === this.tz, title: zoneLabel(z.tz) }, z.text));
    }
    this.tzSelect.textContent = "";
    this.tzSelect.append(frag);
    this.tzSelect.value = this.tz;
    if (query) this.announce(`${shown.length} ${shown.length === 1 ? "time zone matches" : "time zones match"}.`);
  }

  setStep(step) {
    this.root.dataset.state = step;
    this.pickStep.hidden = step !== "pick";
    if (step === "details" && this.detailsStep.hidden) this.detailsShownAt = Date.now();
    this.detailsStep.hidden = step !== "details";
    this.doneStep.hidden = step !== "done";
  }

  // ---------------------------------------------------------------- calendar header
  renderCalendar(calendar) {
    if (!calendar) return;
    this.calendar = calendar;
    if (calendar.name && !this.fixedTitle) {
      this.title.textContent = calendar.name;
      if (this.isPage) document.title = `${calendar.name} - Book a time`;
    }
    const names = hostNames(calendar.hosts);
    const initials = names.length ? names[0].split(/\s+/).filter(Boolean).map((w) => w[0]).join("") : "";
    this.avatar.textContent = (initials.length > 2 ? initials[0] + initials[initials.length - 1] : initials)
      .toUpperCase();
    this.avatar.hidden = !initials;
    this.hostsLine.hidden = !names.length;
    this.hostsLine.textContent = names.length ? `with ${joinNames(names, this.locale)}` : "";
    this.facts.textContent = "";
    if (calendar.duration_minutes) {
      const mins = Number(calendar.duration_minutes);
      const text = mins % 60 === 0 && mins >= 60 ? `${mins / 60} h` : mins > 60 ? `${Math.floor(mins / 60)} h ${mins % 60} min` : `${mins} min`;
      this.facts.append(el("li", { class: "bb-fact bb-fact-duration" },
        el("span", { class: "bb-visually-hidden" }, "Duration: "), text));
    }
    this.facts.hidden = !this.facts.childElementCount;
  }

  get maxDate() {
    const days = this.calendar && Number(this.calendar.max_days_ahead);
    return days > 0 ? addDays(this.today, days) : null;
  }

  get minMonth() {
    return this.today.slice(0, 7);
  }

  get maxMonth() {
    const max = this.maxDate;
    return max ? max.slice(0, 7) : addMonths(this.minMonth, 12);
  }

  // ---------------------------------------------------------------- loading slots
  async loadMonth(month) {
    const key = `${this.tz}|${month}`;
    if (this.cache.has(key)) return { byDate: this.cache.get(key) };
    const first = `${month}-01`;
    const last = `${month}-${pad(daysInMonth(month))}`;
    const start = first < this.today ? this.today : first;
    let end = last;
    if (this.maxDate && end > this.maxDate) end = this.maxDate;
    if (start > end) {
      const empty = new Map();
      this.cache.set(key, empty);
      return { byDate: empty };
    }
    let res;
    try {
      res = await this.request(`calendars/${encodeURIComponent(this.slug)}/slots`,
        { params: { start, end, timezone: this.tz } });
    } catch {
      return { error: await this.unreachableText() };
    }
    if (res.status === 404) return { error: this.notFoundText(), notFound: true };
    if (res.status === 422) {
      const err = (res.data && res.data.error) || {};
      if (err.field === "timezone") return { error: "badTimeZone" };
      return { error: err.message || TEXT.failed };
    }
    if (res.status === 429 || res.status === 503) return { error: TEXT.busy };
    if (!res.ok || !res.data) return { error: TEXT.failed };
    this.renderCalendar(res.data.calendar);
    this.humanCheck = res.data.human_check || null;
    const byDate = new Map();
    for (const slot of Array.isArray(res.data.slots) ? res.data.slots : []) {
      if (!slot || !slot.start) continue;
      const day = zoned(new Date(slot.start), this.tz).date;
      if (!byDate.has(day)) byDate.set(day, []);
      byDate.get(day).push(slot);
    }
    for (const list of byDate.values()) list.sort((a, b) => Date.parse(a.start) - Date.parse(b.start));
    this.cache.set(key, byDate);
    return { byDate };
  }

  /** Say on screen (not only to screen readers) that empty months were skipped to reach this one. */
  renderSkipNote(month) {
    const from = this.skippedFrom;
    this.skippedFrom = null;
    this.skipNote.hidden = !from;
    if (!from) return;
    const skipped = from === addMonths(month, -1) ? this.monthText(from)
      : `${this.monthText(from)} to ${this.monthText(addMonths(month, -1))}`;
    this.skipNote.textContent = this.byDate.size
      ? `No available times in ${skipped}: showing ${this.monthText(month)}, the first month with times.`
      : `No available times in ${skipped} or ${this.monthText(month)}.`;
  }

  async showMonth(month, { initial = false, focusDate = null, advancing = false } = {}) {
    if (!advancing && this.skipNote) {
      this.skipNote.hidden = true;
      this.skippedFrom = null;
    }
    if (month < this.minMonth) month = this.minMonth;
    if (month > this.maxMonth) month = this.maxMonth;
    this.month = month;
    this.byDate = null;
    if (focusDate) this.focusDate = focusDate;
    this.renderGrid();
    this.renderSlots();
    const seq = ++this.loadSeq;
    this.grid.setAttribute("aria-busy", "true");
    this.root.classList.add("bb-loading");
    if (initial) this.announce(TEXT.loading);
    const result = await this.loadMonth(month);
    if (seq !== this.loadSeq) return;
    this.grid.removeAttribute("aria-busy");
    this.root.classList.remove("bb-loading");
    if (result.error === "badTimeZone" && this.tz !== "UTC") {
      this.showAlert(`The time zone ${this.tz} is not supported here; times are shown in UTC.`);
      this.changeTimeZone("UTC", { keepAlert: true });
      return;
    }
    if (result.error) {
      this.byDate = new Map();
      this.root.dataset.error = result.notFound ? "not-found" : "load";
      if (result.notFound) {
        this.title.textContent = this.isPage ? "Page not found" : `No calendar with slug "${this.slug}"`;
        this.pickStep.hidden = true;
      }
      this.showAlert(result.error);
      this.renderGrid();
      this.renderSlots(result.notFound ? "" : result.error);
      return;
    }
    delete this.root.dataset.error;
    this.byDate = result.byDate;
    // keep a selection inside this month when possible, else the first day with times
    if (!this.selectedDate || this.selectedDate.slice(0, 7) !== month || !this.byDate.has(this.selectedDate)) {
      const days = [...this.byDate.keys()].sort();
      this.selectedDate = days.length ? days[0] : null;
    }
    if (!this.byDate.size && this.autoAdvance > 0 && month < this.maxMonth) {
      this.autoAdvance -= 1;
      this.skippedFrom = this.skippedFrom || month;
      this.showMonth(addMonths(month, 1), { initial, advancing: true });
      return;
    }
    this.autoAdvance = 0;
    this.renderSkipNote(month);
    this.renderGrid();
    this.renderSlots();
    const count = this.byDate.size;
    this.announce(count
      ? `${this.monthText(month)}: ${count} ${count === 1 ? "day" : "days"} with available times.`
      : `No available times in ${this.monthText(month)}.`);
  }

  changeTimeZone(tz, { keepAlert = false } = {}) {
    tz = currentZoneName(tz);
    if (!isValidTimeZone(tz)) return;
    this.tz = tz;
    if (this.tzSelect.value !== tz) this.tzSelect.value = tz;
    this.formats.clear();
    this.today = zoned(new Date(), tz).date;
    if (!keepAlert) this.showAlert("");
    this.showMonth(this.month);
  }

  // ---------------------------------------------------------------- month grid
  renderGrid() {
    const month = this.month;
    this.monthLabel.textContent = this.monthText(month);
    this.prevButton.disabled = month <= this.minMonth;
    this.nextButton.disabled = month >= this.maxMonth;
    const first = `${month}-01`;
    const lead = (isoWeekday(first) - this.weekStart + 7) % 7;
    const total = daysInMonth(month);
    const focus = this.rovingDate();
    const rows = [];
    let row = el("tr");
    for (let i = 0; i < lead; i += 1) row.append(el("td", { role: "gridcell", class: "bb-empty-cell" }));
    for (let d = 1; d <= total; d += 1) {
      const day = `${month}-${pad(d)}`;
      const slots = this.byDate ? this.byDate.get(day) : null;
      const count = slots ? slots.length : 0;
      const selected = day === this.selectedDate;
      const past = day < this.today;
      let label = this.dateText(day);
      if (this.byDate) label += count ? `, ${count} ${count === 1 ? "time" : "times"} available` : ", no available times";
      const button = el("button", {
        type: "button", class: "bb-day", "data-date": day, tabindex: day === focus ? "0" : "-1",
        "aria-label": label, "aria-disabled": count ? null : "true", "aria-current": day === this.today ? "date" : null,
        "aria-pressed": count ? String(selected) : null,
      }, String(d));
      if (count) button.classList.add("bb-has-slots");
      if (past) button.classList.add("bb-past");
      if (selected) button.classList.add("bb-selected");
      row.append(el("td", { role: "gridcell", "aria-selected": selected ? "true" : null }, button));
      if (row.childElementCount === 7) {
        rows.push(row);
        row = el("tr");
      }
    }
    if (row.childElementCount) {
      while (row.childElementCount < 7) row.append(el("td", { role: "gridcell", class: "bb-empty-cell" }));
      rows.push(row);
    }
    this.gridBody.textContent = "";
    this.gridBody.append(...rows);
  }

  rovingDate() {
    const month = this.month;
    for (const candidate of [this.focusDate, this.selectedDate, this.today]) {
      if (candidate && candidate.slice(0, 7) === month) return candidate;
    }
    if (this.byDate && this.byDate.size) return [...this.byDate.keys()].sort()[0];
    return `${month}-01`;
  }

  dayButton(day) {
    return this.gridBody.querySelector(`button[data-date="${day}"]`);
  }

  onGridClick(event) {
    const button = event.target.closest("button.bb-day");
    if (!button || !this.gridBody.contains(button)) return;
    const day = button.dataset.date;
    this.focusDate = day;
    if (!this.byDate || !this.byDate.has(day)) {
      this.renderGrid();
      this.dayButton(day)?.focus();
      this.announce(`No available times on ${this.dateText(day)}.`);
      return;
    }
    this.selectDate(day);
  }

  selectDate(day) {
    this.selectedDate = day;
    this.focusDate = day;
    this.renderGrid();
    this.renderSlots();
    this.dayButton(day)?.focus();
    const count = this.byDate.get(day).length;
    this.announce(`${count} ${count === 1 ? "time" : "times"} available on ${this.dateText(day)}.`);
  }

  onGridKey(event) {
    const button = event.target.closest("button.bb-day");
    if (!button) return;
    const day = button.dataset.date;
    const weekday = (isoWeekday(day) - this.weekStart + 7) % 7; // 0 = first column
    let target = null;
    switch (event.key) {
      case "ArrowLeft": target = addDays(day, -1); break;
      case "ArrowRight": target = addDays(day, 1); break;
      case "ArrowUp": target = addDays(day, -7); break;
      case "ArrowDown": target = addDays(day, 7); break;
      case "Home": target = addDays(day, -weekday); break;
      case "End": target = addDays(day, 6 - weekday); break;
      case "PageUp": target = this.sameDayInMonth(day, -1); break;
      case "PageDown": target = this.sameDayInMonth(day, 1); break;
      default: return;
    }
    event.preventDefault();
    this.moveFocus(target);
  }

  sameDayInMonth(day, delta) {
    const month = addMonths(day.slice(0, 7), delta);
    const d = Math.min(parseYmd(day).d, daysInMonth(month));
    return `${month}-${pad(d)}`;
  }

  async moveFocus(day) {
    const month = day.slice(0, 7);
    if (month < this.minMonth || month > this.maxMonth) return;
    this.focusDate = day;
    if (month !== this.month) {
      const pending = this.showMonth(month, { focusDate: day });
      this.dayButton(day)?.focus();
      await pending;
    } else {
      this.renderGrid();
    }
    this.dayButton(day)?.focus();
  }

  // ---------------------------------------------------------------- slots of the day
  renderSlots(errorText) {
    const box = this.slotsBox;
    box.textContent = "";
    this.dayNote.textContent = `Times in ${zoneLabel(this.tz)}`;
    box.removeAttribute("role");
    const day = this.selectedDate && this.selectedDate.slice(0, 7) === this.month ? this.selectedDate : null;
    if (!this.byDate) {
      this.dayHeading.textContent = "Available times";
      box.append(el("p", { class: "bb-muted bb-loading-text" }, TEXT.loading));
      return;
    }
    if (errorText !== undefined) {
      this.dayHeading.textContent = "Available times";
      if (errorText) { // the reason is in the alert above: said once, with a way to try again here
        box.append(el("button", { type: "button", class: "bb-button bb-secondary", onclick: () => {
            this.showAlert("");
            this.showMonth(this.month);
          } }, "Try again"));
      }
      return;
    }
    if (!day || !this.byDate.has(day)) {
      this.dayHeading.textContent = this.byDate.size ? "Choose a date" : "No available times";
      if (!this.byDate.size) {
        box.append(el("p", { class: "bb-empty" }, `There are no available times in ${this.monthText(this.month)}.`));
        if (this.month < this.maxMonth) {
          box.append(el("button", { type: "button", class: "bb-button bb-secondary bb-next-month",
            onclick: () => this.showMonth(addMonths(this.month, 1)) }, "Show next month"));
        }
      } else {
        box.append(el("p", { class: "bb-muted" }, "Pick a highlighted date to see its times."));
      }
      return;
    }
    this.dayHeading.textContent = this.dateText(day);
    const slots = this.byDate.get(day);
    const grid = el("div", { class: "bb-slot-grid", role: "group", "aria-labelledby": `${this.id}-day` });
    slots.forEach((slot, index) => {
      const label = `${this.timeText(slot.start)}`;
      grid.append(el("button", {
        type: "button", class: "bb-slot", "data-start": slot.start, "data-end": slot.end || "",
        "data-index": String(index), // every time is its own Tab stop (arrow keys work too)
        "aria-label": slot.end ? `${label} to ${this.timeText(slot.end)}` : label,
        onclick: () => this.chooseSlot(slot),
      }, label));
    });
    box.append(grid);
  }

  onSlotKey(event) {
    const button = event.target.closest("button.bb-slot");
    if (!button) return;
    const buttons = [...this.slotsBox.querySelectorAll("button.bb-slot")];
    const index = buttons.indexOf(button);
    const columns = Math.max(1, getComputedStyle(button.parentElement).gridTemplateColumns.split(" ").length);
    let next = index;
    switch (event.key) {
      case "ArrowLeft": next = index - 1; break;
      case "ArrowRight": next = index + 1; break;
      case "ArrowUp": next = index - columns; break;
      case "ArrowDown": next = index + columns; break;
      case "Home": next = 0; break;
      case "End": next = buttons.length - 1; break;
      default: return;
    }
    event.preventDefault();
    next = Math.min(Math.max(next, 0), buttons.length - 1);
    buttons[next].focus();
  }

  // ---------------------------------------------------------------- details
  chooseSlot(slot) {
    this.slot = slot;
    this.showAlert("");
    this.clearErrors();
    const end = slot.end || new Date(Date.parse(slot.start) + (Number(this.calendar?.duration_minutes) || 0) * 60000).toISOString();
    if (this.onChoose) {
      this.onChoose({ start: slot.start, end }, this);
      return;
    }
    this.summary.textContent = "";
    this.summary.append(el("span", { class: "bb-summary-when" }, this.whenText(slot.start, end)),
      el("span", { class: "bb-summary-tz" }, zoneLabel(this.tz)));
    this.setStep("details");
    this.detailsHeading.focus();
    this.showChallenge();
  }

  /** Render the human check (Turnstile) into the form once, when the calendar asks for one. */
  showChallenge() {
    const check = this.humanCheck;
    if (!check || check.provider !== "turnstile" || !check.site_key) return;
    this.challengeBox.hidden = false;
    if (this.challenge) return;
    this.challenge = loadTurnstile().then((turnstile) => turnstile.render(this.challengeBox, {
      sitekey: check.site_key,
      callback: (token) => {
        this.humanToken = token;
      },
      "expired-callback": () => {
        this.humanToken = null;
      },
      "error-callback": () => {
        this.humanToken = null;
      },
    })).catch(() => {
      this.challenge = null;
      this.formProblem(TEXT.challengeFailed);
    });
  }

  /** A token is good for one request: ask the challenge for a new one. */
  resetChallenge() {
    this.humanToken = null;
    if (!this.challenge) return;
    this.challenge.then((id) => {
      if (id !== undefined && id !== null && window.turnstile) window.turnstile.reset(id);
    });
  }

  backToPick({ focusSlot = true } = {}) {
    this.setStep("pick");
    this.showAlert("");
    const slotButton = focusSlot && this.slot
      ? [...this.slotsBox.querySelectorAll("button.bb-slot")].find((b) => b.dataset.start === this.slot.start)
      : null;
    if (slotButton) slotButton.focus();
    else this.dayButton(this.rovingDate())?.focus();
  }

  clearErrors() {
    for (const f of Object.values(this.fields)) {
      f.error.hidden = true;
      f.error.textContent = "";
      f.input.removeAttribute("aria-invalid");
      f.wrap.classList.remove("bb-invalid");
    }
    this.formError.hidden = true;
    this.formError.textContent = "";
  }

  fieldError(name, reason) {
    const f = this.fields[name];
    if (!f) return false;
    f.error.textContent = reason;
    f.error.hidden = false;
    f.input.setAttribute("aria-invalid", "true");
    f.wrap.classList.add("bb-invalid");
    return true;
  }

  focusFirstInvalid() {
    for (const f of Object.values(this.fields)) {
      if (f.input.getAttribute("aria-invalid") === "true") {
        f.input.focus();
        return true;
      }
    }
    return false;
  }

  setBusy(busy) {
    this.submitButton.disabled = busy;
    this.form.setAttribute("aria-busy", String(busy));
    this.submitButton.textContent = busy ? "Booking…" : "Confirm booking";
  }

  async submit(event) {
    event.preventDefault();
    if (this.submitButton.disabled || !this.slot) return;
    this.clearErrors();
    const name = this.fields.name.input.value.trim();
    const email = this.fields.email.input.value.trim();
    const notes = this.fields.notes.input.value.trim();
    if (!name) this.fieldError("name", "Please enter your name.");
    if (!email) this.fieldError("email", "Please enter your email address.");
    if (this.focusFirstInvalid()) {
      this.announce("Please correct the highlighted fields.");
      return;
    }
    if (this.challenge && !this.humanToken) {
      this.formProblem(TEXT.challengeNeeded);
      return;
    }
    const payload = { start: this.slot.start, name, email, timezone: this.tz, time_format: this.timeFormat() };
    if (notes) payload.notes = notes;
    const text = JSON.stringify(payload);
    if (!this.attempt || this.attempt.payload !== text) this.attempt = { payload: text, key: randomKey() };
    this.setBusy(true);
    this.announce("Booking…");
    let res;
    try {
      const signals = { fill_ms: Math.max(0, Date.now() - this.detailsShownAt) };
      if (this.trap.value) signals.website = this.trap.value;
      if (this.humanToken) signals.human_check_token = this.humanToken;
      res = await this.request(`calendars/${encodeURIComponent(this.slug)}/bookings`,
        { method: "POST", body: { ...payload, ...signals }, headers: { "Idempotency-Key": this.attempt.key } });
    } catch {
      this.setBusy(false);
      this.formProblem(await this.unreachableText());
      return;
    }
    this.setBusy(false);
    if (this.challenge) this.resetChallenge();
    if (res.status === 201 || res.status === 200) {
      this.attempt = null;
      this.showDone(res.data || {}, payload);
      return;
    }
    if (res.status === 409) {
      this.slotTaken(TEXT.taken);
      return;
    }
    if (res.status === 422 || res.status === 400) {
      this.showValidation((res.data && res.data.error) || {});
      return;
    }
    if (res.status === 404) {
      this.formProblem(this.notFoundText());
      return;
    }
    this.formProblem(res.status === 429 || res.status === 503 ? TEXT.busy : TEXT.failed);
  }

  formProblem(text) {
    this.formError.textContent = text;
    this.formError.hidden = false;
    this.showAlert(text);
  }

  showValidation(error) {
    const list = Array.isArray(error.errors) && error.errors.length
      ? error.errors
      : [{ field: error.field || "body", reason: error.reason || error.message || TEXT.failed }];
    const other = [];
    let slotGone = null;
    for (const item of list) {
      const name = String(item.field || "").split(".").pop();
      const reason = String(item.reason || "is not valid").replace(/^Value error,\s*/i, "");
      if (name === "start") slotGone = reason;
      else if (!this.fieldError(name, reason.charAt(0).toUpperCase() + reason.slice(1))) other.push(reason);
    }
    if (slotGone !== null) {
      this.slotTaken(TEXT.startGone);
      return;
    }
    if (other.length) this.formProblem(other.join(" "));
    if (!this.focusFirstInvalid() && other.length) this.formError.focus();
    this.announce("Please correct the highlighted fields.");
  }

  slotTaken(text) {
    // forget what we knew about this month and list it again
    this.cache.delete(`${this.tz}|${this.month}`);
    this.slot = null;
    this.setStep("pick");
    this.showAlert(text, { focus: true });
    const keep = this.selectedDate;
    this.showMonth(this.month).then(() => {
      if (keep && this.byDate && this.byDate.has(keep) && this.selectedDate !== keep) {
        this.selectedDate = keep;
        this.renderGrid();
        this.renderSlots();
      }
    });
  }

  // ---------------------------------------------------------------- confirmation
  showDone(booking, payload) {
    this.booking = booking;
    const start = booking.start || payload.start;
    const end = booking.end || (this.slot && this.slot.end) || start;
    this.doneIntro.textContent = `A confirmation has been sent to ${payload.email}.`;
    this.doneWhen.textContent = "";
    this.doneWhen.append(el("span", {}, this.whenText(start, end)), el("span", { class: "bb-muted bb-tz-note" },
      ` (${zoneLabel(this.tz)})`));
    const names = hostNames(booking.hosts);
    const fallback = this.calendar ? hostNames(this.calendar.hosts) : [];
    const shown = names.length ? names : fallback;
    this.doneWith.textContent = joinNames(shown, this.locale);
    this.doneWithRow.forEach((n) => { n.hidden = !shown.length; });
    this.root.dataset.bookingId = booking.id || "";
    this.renderManageLink(booking);
    this.setStep("done");
    this.doneHeading.focus();
    this.renderLink(booking);
    this.startedPolling = Date.now();
    this.pollIndex = 0;
    this.maybePoll(booking);
  }

  renderManageLink(booking) {
    this.doneManage.textContent = "";
    this.doneManage.hidden = !(booking.id && booking.manage_token);
    if (this.doneManage.hidden) return;
    const href = this.url(`manage/${encodeURIComponent(booking.id)}`, { token: booking.manage_token });
    this.doneManage.append(el("a", { class: "bb-manage-link", href, target: this.isPage ? null : "_blank",
      rel: this.isPage ? null : "noopener" }, "Manage your booking"),
    " (reschedule or cancel; the link is also in your confirmation email)");
  }

  linkStatus(booking) {
    return booking.link_status || booking.link_state || "not_applicable";
  }

  renderLink(booking) {
    const status = this.linkStatus(booking);
    const url = booking.meeting_url;
    this.doneLink.textContent = "";
    this.doneLink.dataset.status = status;
    let show = true;
    if (url && HTTP_URL.test(url)) {
      this.doneLink.append(el("a", { href: url, class: "bb-join", target: "_blank", rel: "noopener noreferrer" },
        "Join the meeting"), el("span", { class: "bb-url" }, url));
    } else if (status === "pending") {
      this.doneLink.append(el("span", { class: "bb-spinner", "aria-hidden": "true" }), TEXT.linkPending);
    } else if (status === "awaiting_connection") {
      this.doneLink.append(TEXT.linkByEmail);
    } else if (status === "failed") {
      this.doneLink.append(TEXT.linkFailed);
    } else {
      show = false;
    }
    this.doneLinkRow.forEach((n) => { n.hidden = !show; });
  }

  maybePoll(booking) {
    window.clearTimeout(this.pollTimer);
    if (this.linkStatus(booking) !== "pending" || booking.meeting_url) return;
    if (!booking.id || !booking.manage_token) return;
    if (Date.now() - this.startedPolling > LINK_POLL_LIMIT_MS) {
      this.doneLink.textContent = TEXT.linkByEmail;
      this.doneLink.dataset.status = "timeout";
      return;
    }
    const delay = LINK_POLL_DELAYS_MS[Math.min(this.pollIndex, LINK_POLL_DELAYS_MS.length - 1)];
    this.pollIndex += 1;
    this.pollTimer = window.setTimeout(() => this.poll(booking), delay);
  }

  async poll(booking) {
    if (this.booking !== booking || this.root.dataset.state !== "done") return;
    let res = null;
    try {
      res = await this.request(`bookings/${encodeURIComponent(booking.id)}`, { params: { token: booking.manage_token } });
    } catch {
      res = null;
    }
    if (this.booking !== booking) return;
    if (res && res.ok && res.data) {
      const fresh = res.data.booking && typeof res.data.booking === "object" ? res.data.booking : res.data;
      const merged = { ...booking, ...fresh, manage_token: booking.manage_token, id: booking.id };
      this.booking = merged;
      this.renderLink(merged);
      this.maybePoll(merged);
      return;
    }
    this.maybePoll(booking);
  }

  bookAnother() {
    window.clearTimeout(this.pollTimer);
    this.booking = null;
    this.slot = null;
    this.form.reset();
    this.clearErrors();
    this.cache.clear();
    this.setStep("pick");
    this.showMonth(this.month).then(() => this.dayButton(this.rovingDate())?.focus());
  }

  destroy() {
    window.clearTimeout(this.pollTimer);
    this.loadSeq += 1;
    this.container.textContent = "";
  }
}
