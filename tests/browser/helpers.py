"""Helpers of the browser tests: finding dates and slots in the booking flow (page or widget)."""
from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

# Playwright's CSS engine pierces open shadow roots, so these selectors work for the widget too.
SLOT = "button.bb-slot"
DAY = "button.bb-day"
DONE = ".bb-step-done:not([hidden])"
DETAILS = ".bb-step-details:not([hidden])"
PICK = ".bb-step-pick:not([hidden])"
ALERT = ".bb-alert:not([hidden])"


def parse_utc(value: str) -> datetime:
    """An ISO-8601 UTC instant from the API."""
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def local_day_and_time(instant: str, tz: str) -> tuple[str, str]:
    """``("YYYY-MM-DD", "H:MM")`` of an instant in ``tz`` (hours without a leading zero)."""
    local = parse_utc(instant).astimezone(ZoneInfo(tz))
    return local.date().isoformat(), f"{local.hour}:{local.minute:02d}"


def normalise_time(text: str) -> str:
    """``"09:00"`` / ``"9:00"`` -> ``"9:00"`` (locales differ on the leading zero)."""
    text = text.strip()
    return text[1:] if len(text) == 5 and text.startswith("0") else text


def open_date(scope: Any, day: str, *, max_months: int = 3) -> None:
    """Show the month of ``day`` (clicking "Next month" as needed) and select that date."""
    button = scope.locator(f"{DAY}[data-date='{day}']")
    for _ in range(max_months):
        if button.count():
            break
        scope.locator("button.bb-nav[aria-label='Next month']").click()
    button.wait_for()
    scope.locator(f"{DAY}.bb-has-slots[data-date='{day}']").wait_for()
    button.click()
    scope.locator(f"{DAY}.bb-selected[data-date='{day}']").wait_for()


def slot_button(scope: Any, start: str) -> Any:
    """The slot button of an instant."""
    return scope.locator(f"{SLOT}[data-start='{start}']")


def fill_details(scope: Any, name: str, email: str, notes: str | None = None) -> None:
    """Fill the details form (the details step must be showing)."""
    scope.locator(DETAILS).wait_for()
    scope.locator("input[name='name']").fill(name)
    scope.locator("input[name='email']").fill(email)
    if notes is not None:
        scope.locator("textarea[name='notes']").fill(notes)


def future_day(days: int, tz: str = "Europe/London") -> str:
    """The date ``days`` after today in ``tz``."""
    return (datetime.now(ZoneInfo(tz)).date() + timedelta(days=days)).isoformat()


def shot(page: Any, folder: Path, name: str, **options: Any) -> Path:
    """Write a full-page screenshot ``<name>.png`` and return its path."""
    path = folder / f"{name}.png"
    page.screenshot(path=str(path), full_page=True, **options)
    return path


def active_element(page: Any) -> dict[str, Any]:
    """Tag, name, class, data-date/data-start and text of the focused element (through shadow roots)."""
    return page.evaluate(
        """() => {
          let el = document.activeElement;
          while (el && el.shadowRoot && el.shadowRoot.activeElement) el = el.shadowRoot.activeElement;
          if (!el) return {};
          return {tag: el.tagName.toLowerCase(), name: el.getAttribute('name'), cls: el.className,
                  date: el.dataset.date || null, start: el.dataset.start || null,
                  text: (el.textContent || '').trim(), invalid: el.getAttribute('aria-invalid')};
        }"""
    )


CONTRAST_JS = """
(selectors) => {
  const parse = (c) => (c.match(/[\\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => {
    const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const find = (sel) => {
    const walk = (root) => {
      const hit = root.querySelector(sel);
      if (hit) return hit;
      for (const el of root.querySelectorAll('*')) {
        if (el.shadowRoot) { const h = walk(el.shadowRoot); if (h) return h; }
      }
      return null;
    };
    return walk(document);
  };
  const background = (el) => {
    for (let n = el; n; n = n.parentElement || (n.getRootNode() && n.getRootNode().host)) {
      const c = parse(getComputedStyle(n).backgroundColor);
      if (c.length >= 3 && (c.length < 4 || c[3] > 0.99)) return c.slice(0, 3);
    }
    return [255, 255, 255];
  };
  const out = {};
  for (const sel of selectors) {
    const el = find(sel);
    if (!el) { out[sel] = null; continue; }
    const fg = parse(getComputedStyle(el).color).slice(0, 3);
    const l1 = lum(fg), l2 = lum(background(el));
    out[sel] = Math.round(((Math.max(l1, l2) + 0.05) / (Math.min(l1, l2) + 0.05)) * 100) / 100;
  }
  return out;
}
"""


def contrast_ratios(page: Any, selectors: list[str]) -> dict[str, float | None]:
    """WCAG contrast ratio of each selector's first element (text colour against its opaque background)."""
    return page.evaluate(CONTRAST_JS, selectors)


AXE_SCRIPT = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"


def axe_violations(page: Any) -> list[dict[str, Any]]:
    """axe-core's WCAG 2.x A/AA violations of the page as it is now (shadow roots included).

    axe-core is the npm package from ``package.json`` (never a CDN). The page's CSP allows only its own
    scripts, so the page must come from a context made with ``bypass_csp=True``.
    """
    assert AXE_SCRIPT.is_file(), f"{AXE_SCRIPT} is missing: run `make setup` (npm ci installs axe-core)"
    # Judge the settled page: a grid dimmed while its month loads, or mid-transition, is not what stays on screen
    # (on a loaded machine the scan would otherwise catch the dimmed state and fail on contrast).
    page.wait_for_function(
        """() => {
          const roots = [document, ...[...document.querySelectorAll('*')].filter(e => e.shadowRoot)
                                                                     .map(e => e.shadowRoot)];
          const loading = roots.some(r => r.querySelector('.bb-loading'));
          const moving = document.getAnimations().some(a => a instanceof CSSTransition && a.playState === 'running');
          return !loading && !moving;
        }""")
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE_SCRIPT))
    result = page.evaluate(
        """async () => {
          const r = await axe.run(document, {runOnly: {type: 'tag',
            values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']}});
          return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
            nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 5)}));
        }"""
    )
    return list(result)


def confirmation_text(stack: Any, address: str, timeout: float = 60.0) -> str:
    """Plain text and subject of the confirmation the SMTP sink received for ``address`` (polls the outbox)."""
    import email
    import time
    from email import policy

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for path in sorted(stack.smtp.outbox_dir.glob("*.eml")):
            msg = email.message_from_bytes(path.read_bytes(), policy=policy.default)
            if address in str(msg["To"]) and str(msg["Subject"]).startswith("Confirmed"):
                return str(msg.get_body(("plain",)).get_content()) + "\n" + str(msg["Subject"])
        time.sleep(0.25)
    raise AssertionError(f"no confirmation for {address} arrived")
