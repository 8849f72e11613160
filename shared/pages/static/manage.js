/*
 * bookbridge manage page: the invitee sees a booking, reschedules it (the booking flow's slot picker from
 * booking.js) or cancels it after a confirmation step. Mounted into <main id="bookbridge-manage"
 * data-booking="<id>">; the manage token comes from the page's own URL (?token=...). Talks to the public
 * API only: GET bookings/{id}, POST bookings/{id}/reschedule, POST bookings/{id}/cancel (token in ?token=).
 * Loaded as a module (no inline script: CSP script-src 'self'); the DOM is built with el() only.
 */
const here = new URL(import.meta.url);
const flowModule = await import(new URL(`./booking.js${here.search}`, here).href);
const {
  el, mountBooking, requestJson, formatWhen, zoneLabel, hostNames, joinNames, detectTimeZone, isValidTimeZone,
} = flowModule;

const HTTP_URL = /^https?:\/\//i;
const TEXT = {
  invalid: "This link is not valid. Use the \u201cManage your booking\u201d link in your most recent email " +
    "about this booking.",
  unreachable: "The booking service could not be reached. Check your connection and try again.",
  failed: "Something went wrong. Please try again in a moment.",
  taken: "Sorry, that time is no longer available. Please choose another time.",
};

class ManagePage {
  constructor(root, { apiBase, id, token }) {
    this.root = root;
    this.apiBase = apiBase;
    this.id = id;
    this.token = token;
    this.locale = navigator.language || "en";
    this.booking = null;
    this.flow = null;
    this.newSlot = null;
  }

  url(path) {
    const url = new URL(path, this.apiBase);
    url.searchParams.set("token", this.token);
    return url.href;
  }

  call(path, method = "GET", body) {
    return requestJson(this.url(path), { method, body });
  }

  // ---------------------------------------------------------------- skeleton
  start() {
    this.root.textContent = "";
    this.heading = el("h1", { class: "bb-title", id: "bb-manage-title", tabindex: "-1" }, "Your booking");
    this.state = el("p", { class: "bb-manage-state", hidden: true });
    this.status = el("div", { class: "bb-visually-hidden", role: "status", "aria-live": "polite" });
    this.alert = el("div", { class: "bb-alert", role: "alert", tabindex: "-1", hidden: true });
    this.details = el("dl", { class: "bb-details-list bb-manage-details" });
    this.actions = el("div", { class: "bb-actions bb-manage-actions", hidden: true },
      this.rescheduleButton = el("button", { type: "button", class: "bb-button bb-primary",
        onclick: () => this.openReschedule() }, "Reschedule"),
      this.cancelButton = el("button", { type: "button", class: "bb-button bb-secondary bb-danger",
        onclick: () => this.openCancel() }, "Cancel booking"));
    this.bookAgain = el("p", { class: "bb-manage-again", hidden: true });

    this.cancelHeading = el("h2", { class: "bb-step-heading", id: "bb-manage-cancel", tabindex: "-1" },
      "Cancel this booking?");
    this.cancelText = el("p", {});
    this.confirmCancelButton = el("button", { type: "button", class: "bb-button bb-primary bb-danger",
      onclick: () => this.cancel() }, "Yes, cancel my booking");
    this.cancelStep = el("section", { class: "bb-manage-step bb-manage-cancel", hidden: true,
      "aria-labelledby": "bb-manage-cancel" }, this.cancelHeading, this.cancelText,
    el("div", { class: "bb-actions" }, this.confirmCancelButton,
      el("button", { type: "button", class: "bb-button bb-secondary", onclick: () => this.closeSteps() },
        "Keep my booking")));

    this.moveHeading = el("h2", { class: "bb-step-heading", id: "bb-manage-move", tabindex: "-1" },
      "Move your booking?");
    this.moveText = el("dl", { class: "bb-details-list" });
    this.confirmMoveButton = el("button", { type: "button", class: "bb-button bb-primary",
      onclick: () => this.reschedule() }, "Confirm new time");
    this.moveStep = el("section", { class: "bb-manage-step bb-manage-move", hidden: true,
      "aria-labelledby": "bb-manage-move" }, this.moveHeading, this.moveText,
    el("div", { class: "bb-actions" }, this.confirmMoveButton,
      el("button", { type: "button", class: "bb-button bb-secondary", onclick: () => this.backToPicker() },
        "Choose another time")));

    this.card = el("div", { class: "bb bb-card bb-manage", lang: "en", "data-state": "loading" },
      this.heading, this.state, this.status, this.alert, this.details, this.actions, this.bookAgain,
      this.cancelStep, this.moveStep);
    this.pickerIntro = el("div", { class: "bb bb-manage-picker-head", hidden: true },
      el("button", { type: "button", class: "bb-link-button bb-back", onclick: () => this.closeSteps() },
        el("span", { "aria-hidden": "true" }, "← "), "Keep the current time"));
    this.picker = el("div", { class: "bb-manage-picker", hidden: true });
    this.root.append(this.card, this.pickerIntro, this.picker);
    this.root.classList.add("bb-mounted");
    this.load();
  }

  announce(text) {
    this.status.textContent = "";
    window.setTimeout(() => { this.status.textContent = text; }, 30);
  }

  showAlert(text, { tone = "error", focus = false } = {}) {
    this.alert.textContent = text;
    this.alert.hidden = !text;
    this.alert.dataset.tone = tone;
    if (text && focus) this.alert.focus();
  }

  // ---------------------------------------------------------------- the booking
  async load() {
    let res;
    try {
      res = this.token ? await this.call(`bookings/${encodeURIComponent(this.id)}`) : { status: 404 };
    } catch {
      this.fail(TEXT.unreachable);
      return;
    }
    if (res.status === 404) {
      this.heading.textContent = "Booking not found";
      this.fail(TEXT.invalid);
      return;
    }
    if (!res.ok || !res.data) {
      this.fail(TEXT.failed);
      return;
    }
    this.render(res.data);
  }

  fail(text) {
    this.card.dataset.state = "error";
    this.details.hidden = true;
    this.showAlert(text);
  }

  get tz() {
    const tz = this.booking && this.booking.invitee && this.booking.invitee.timezone;
    return isValidTimeZone(tz) ? tz : detectTimeZone();
  }

  when(start, end) {
    return formatWhen(start, end, this.tz, this.locale);
  }

  render(booking) {
    this.booking = booking;
    const cancelled = booking.status === "cancelled";
    const upcoming = Date.parse(booking.start) > Date.now();
    const name = (booking.calendar && booking.calendar.name) || "Your booking";
    this.heading.textContent = name;
    document.title = `${name} - Your booking`;
    this.card.dataset.state = cancelled ? "cancelled" : "confirmed";
    this.state.hidden = false;
    this.state.className = `bb-manage-state bb-manage-${cancelled ? "cancelled" : "confirmed"}`;
    this.state.textContent = cancelled ? "Cancelled" : upcoming ? "Confirmed" : "Confirmed (already started)";
    this.details.hidden = false;
    this.details.textContent = "";
    const row = (label, ...value) => this.details.append(el("dt", {}, label), el("dd", {}, ...value));
    row("When", el("span", { class: "bb-manage-when" }, this.when(booking.start, booking.end)),
      el("span", { class: "bb-muted bb-tz-note" }, ` (${zoneLabel(this.tz)})`));
    const names = hostNames(booking.hosts);
    if (names.length) row("With", joinNames(names, this.locale));
    if (!cancelled && booking.meeting_url && HTTP_URL.test(booking.meeting_url)) {
      row("Meeting link", el("a", { href: booking.meeting_url, class: "bb-join", target: "_blank",
        rel: "noopener noreferrer" }, "Join the meeting"), el("span", { class: "bb-url" }, booking.meeting_url));
    } else if (!cancelled && ["pending", "awaiting_connection", "failed"].includes(booking.link_status)) {
      row("Meeting link", "Your meeting link will arrive by email.");
    }
    if (booking.invitee && booking.invitee.name) row("Booked by", booking.invitee.name);
    if (booking.notes) row("Notes", el("span", { class: "bb-notes" }, booking.notes));
    this.actions.hidden = cancelled || !upcoming;
    this.bookAgain.textContent = "";
    this.bookAgain.hidden = !cancelled;
    if (cancelled && booking.calendar && booking.calendar.slug) {
      this.bookAgain.append("Need another time? ", el("a", {
        href: new URL(`book/${encodeURIComponent(booking.calendar.slug)}`, this.apiBase).href }, "Book again"));
    }
    this.closeSteps({ focus: false });
  }

  // ---------------------------------------------------------------- steps
  closeSteps({ focus = true } = {}) {
    this.cancelStep.hidden = true;
    this.moveStep.hidden = true;
    this.picker.hidden = true;
    this.pickerIntro.hidden = true;
    if (this.flow) {
      this.flow.destroy();
      this.flow = null;
    }
    const cancelled = this.booking && this.booking.status === "cancelled";
    this.actions.hidden = cancelled || !this.booking || !(Date.parse(this.booking.start) > Date.now());
    if (focus && !this.actions.hidden) this.rescheduleButton.focus();
  }

  openCancel() {
    this.showAlert("");
    this.actions.hidden = true;
    const names = joinNames(hostNames(this.booking.hosts), this.locale);
    const when = this.when(this.booking.start, this.booking.end);
    this.cancelText.textContent = `${when}${names ? ` with ${names}` : ""}. ` +
      "The host will be told, and you will get an email confirming the cancellation.";
    this.cancelStep.hidden = false;
    this.cancelHeading.focus();
  }

  async cancel() {
    this.confirmCancelButton.disabled = true;
    let res;
    try {
      res = await this.call(`bookings/${encodeURIComponent(this.id)}/cancel`, "POST");
    } catch {
      res = null;
    }
    this.confirmCancelButton.disabled = false;
    if (res && res.ok && res.data) {
      this.render(res.data);
      this.showAlert("Your booking has been cancelled.", { tone: "ok" });
      this.heading.focus();
      this.announce("Your booking has been cancelled.");
      return;
    }
    const message = res && res.data && res.data.error && res.data.error.message;
    this.showAlert(res ? message || TEXT.failed : TEXT.unreachable, { focus: true });
  }

  openReschedule() {
    this.showAlert("");
    this.actions.hidden = true;
    this.picker.hidden = false;
    this.pickerIntro.hidden = false;
    const slug = this.booking.calendar && this.booking.calendar.slug;
    this.flow = mountBooking(this.picker, {
      slug, apiBase: this.apiBase, headingLevel: 2, timezone: this.tz, title: "Choose a new time",
      onChoose: (slot) => this.chooseNewTime(slot),
    });
    this.picker.querySelector(".bb-title")?.setAttribute("tabindex", "-1");
    this.picker.querySelector(".bb-title")?.focus();
  }

  chooseNewTime(slot) {
    this.newSlot = slot;
    this.moveText.textContent = "";
    this.moveText.append(el("dt", {}, "New time"),
      el("dd", { class: "bb-manage-new" }, this.when(slot.start, slot.end)),
      el("dt", {}, "Currently"), el("dd", {}, this.when(this.booking.start, this.booking.end)));
    this.picker.hidden = true;
    this.pickerIntro.hidden = true;
    this.moveStep.hidden = false;
    this.moveHeading.focus();
  }

  backToPicker() {
    this.moveStep.hidden = true;
    this.picker.hidden = false;
    this.pickerIntro.hidden = false;
    if (this.flow) this.flow.backToPick();
  }

  async reschedule() {
    this.confirmMoveButton.disabled = true;
    let res;
    try {
      res = await this.call(`bookings/${encodeURIComponent(this.id)}/reschedule`, "POST",
        { start: this.newSlot.start });
    } catch {
      res = null;
    }
    this.confirmMoveButton.disabled = false;
    if (res && res.ok && res.data) {
      this.render(res.data);
      const text = `Your booking has been moved to ${this.when(res.data.start, res.data.end)}.`;
      this.showAlert(text, { tone: "ok" });
      this.heading.focus();
      this.announce(text);
      return;
    }
    const error = (res && res.data && res.data.error) || {};
    if (res && (res.status === 409 || (res.status === 422 && error.field === "start"))) {
      this.moveStep.hidden = true;
      this.picker.hidden = false;
      this.pickerIntro.hidden = false;
      if (this.flow) this.flow.slotTaken(TEXT.taken);
      return;
    }
    this.showAlert(res ? error.message || TEXT.failed : TEXT.unreachable, { focus: true });
  }
}

const root = document.getElementById("bookbridge-manage");
if (root && root.dataset.booking) {
  const token = new URLSearchParams(window.location.search).get("token") || "";
  new ManagePage(root, { apiBase: new URL("../", here).href, id: root.dataset.booking, token }).start();
}
