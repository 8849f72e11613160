/*
 * bookbridge embeddable booking widget. On any site:
 *
 *   <script src="https://<app>/api/widget.js" data-calendar="<calendar slug>" async></script>
 *
 * Optional attributes: data-target="<CSS selector>" (render into that element instead of right after
 * the script tag), data-timezone="Area/City" (initial time zone instead of the visitor's).
 * The widget renders the same booking flow as the booking page (booking.js, an ES module) inside a
 * shadow root, so the site's styles and ours never mix. The API's base URL is derived from this
 * script's own src: ".../api/widget.js" -> ".../api/". The API answers the site's origin with CORS
 * when it is listed in the app setting CORS_ALLOWED_ORIGINS.
 */
(function () {
  "use strict";
  var VERSION = "__BOOKBRIDGE_ASSET_VERSION__";
  var script = document.currentScript;
  if (!script || !script.src) {
    return;
  }
  var slug = script.getAttribute("data-calendar");
  if (!slug) {
    if (window.console) window.console.error("bookbridge widget: add data-calendar=\"<calendar slug>\" to the script tag");
    return;
  }
  var apiBase = new URL("./", new URL(script.src, document.baseURI)).href;
  var host = document.createElement("div");
  host.className = "bookbridge-widget";
  host.setAttribute("data-calendar", slug);
  var targetSelector = script.getAttribute("data-target");
  var target = targetSelector ? document.querySelector(targetSelector) : null;
  if (target) {
    target.appendChild(host);
  } else {
    script.parentNode.insertBefore(host, script.nextSibling);
  }
  if (!host.attachShadow) {
    host.textContent = "This browser cannot show the booking widget.";
    return;
  }
  var shadow = host.attachShadow({ mode: "open" });
  var stylesheet = document.createElement("link");
  stylesheet.rel = "stylesheet";
  stylesheet.href = apiBase + "static/booking.css?v=" + VERSION;
  var mount = document.createElement("div");
  mount.className = "bb-widget";
  mount.setAttribute("lang", "en");
  mount.textContent = "Loading the booking calendar…";
  shadow.appendChild(stylesheet);
  shadow.appendChild(mount);
  var styled = new Promise(function (resolve) {
    stylesheet.addEventListener("load", resolve);
    stylesheet.addEventListener("error", resolve);
  });
  Promise.all([import(apiBase + "static/booking.js?v=" + VERSION), styled]).then(function (loaded) {
    host.bookbridge = loaded[0].mountBooking(mount, {
      slug: slug,
      apiBase: apiBase,
      headingLevel: 2,
      timezone: script.getAttribute("data-timezone") || undefined,
    });
  }).catch(function () {
    mount.textContent = "The booking calendar could not be loaded. Please try again later.";
  });
})();
