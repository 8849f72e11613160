/*
 * bookbridge booking page: mounts the booking flow (booking.js) into <main id="bookbridge">.
 * Loaded as <script type="module" src=".../static/page.js?v=..."> (no inline script: CSP script-src 'self').
 * Optional query parameters of the page: ?date=YYYY-MM-DD&timezone=Area/City.
 */
const here = new URL(import.meta.url);
const { mountBooking } = await import(new URL(`./booking.js${here.search}`, here).href);

const root = document.getElementById("bookbridge");
if (root && root.dataset.calendar) {
  const params = new URLSearchParams(window.location.search);
  mountBooking(root, {
    slug: root.dataset.calendar,
    apiBase: new URL("../", here).href,
    headingLevel: 1,
    page: true,
    date: params.get("date") || undefined,
    timezone: params.get("timezone") || undefined,
  });
}
