// Building the page. Everything from the API goes in as text nodes (never as markup), so a
// name like `<img src=x onerror=alert(1)>.png` shows those characters and runs nothing.

const PROPERTIES = new Set(["value", "checked", "disabled", "selected", "hidden", "open", "multiple"]);

/** An element: `props` sets attributes (class, aria-*, data-*, ...), `on` listeners;
 * children are nodes or strings (made text nodes), arrays of them, or null (skipped). */
export function h(tag, props = {}, ...children) {
  const element = tag.startsWith("svg:")
    ? document.createElementNS("http://www.w3.org/2000/svg", tag.slice(4))
    : document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "on") {
      for (const [event, listener] of Object.entries(value)) element.addEventListener(event, listener);
    } else if (PROPERTIES.has(name)) {
      element[name] = value;
    } else {
      element.setAttribute(name, value === true ? "" : String(value));
    }
  }
  append(element, children);
  return element;
}

function append(element, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(element, child);
    else element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function replace(element, ...children) {
  element.replaceChildren();
  append(element, children);
  return element;
}

export function formatBytes(bytes) {
  if (bytes === null || bytes === undefined) return "—";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${unit === 0 ? value : value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

const DATE = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "medium" });
const TIME = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23" });

function formatDate(iso) {
  if (!iso) return "—";
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : DATE.format(date);
}

export function timeOf(iso) {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return `${TIME.format(date)}.${String(date.getMilliseconds()).padStart(3, "0")}`;
}

/** A time element showing the date, with the exact ISO time as its tooltip. */
export function when(iso) {
  return h("time", { datetime: iso || undefined, title: iso || undefined }, formatDate(iso));
}

export function shortId(id) {
  return id ? `${id.slice(0, 8)}…` : "—";
}

/** Text with `code` spans (as the spec's descriptions write them), each made a code element. */
export function prose(text) {
  return String(text || "")
    .split("`")
    .map((part, index) => (index % 2 ? h("code", {}, part) : part));
}

export function mono(text, props = {}) {
  return h("code", { class: "mono", ...props }, text);
}

const TONES = {
  ok: "good", succeeded: "good", public: "good", running: "info", queued: "wait",
  preview: "info", deprecated: "warn", failed: "bad", error: "bad", degraded: "warn",
  disabled: "wait",
};

export function badge(text, tone = TONES[text] || "plain") {
  return h("span", { class: `badge badge-${tone}` }, text);
}

export function statusBadge(status) {
  const tone = status >= 500 ? "bad" : status >= 400 ? "warn" : status >= 300 ? "info" : "good";
  return badge(String(status), tone);
}

export function chips(values) {
  return h("span", { class: "chips" }, values.map((value) => h("span", { class: "chip" }, value)));
}

/** A table; each column is {title, cell(row) -> node or text, class?}. */
export function table(columns, rows, { empty = "Nothing here yet.", label, rowProps } = {}) {
  if (!rows.length) return h("div", { class: "empty" }, empty);
  return h(
    "div",
    { class: "table-wrap" },
    h(
      "table",
      { "aria-label": label },
      h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col", class: c.class }, c.title)))),
      h(
        "tbody",
        {},
        rows.map((row) =>
          h("tr", rowProps ? rowProps(row) : {}, columns.map((c) => h("td", { class: c.class }, c.cell(row)))),
        ),
      ),
    ),
  );
}

export function notice(kind, ...children) {
  return h("div", { class: `notice notice-${kind}`, role: kind === "error" ? "alert" : "status" }, ...children);
}

/** What went wrong, as the API said it: code, message and the details. */
export function errorNotice(error, prefix = "") {
  const details = error.details && Object.keys(error.details).length ? error.details : null;
  return notice(
    "error",
    h("strong", {}, prefix ? `${prefix}: ` : "", error.code || "ERROR"),
    error.status ? ` (HTTP ${error.status})` : "",
    h("div", { class: "notice-message" }, error.message || String(error)),
    details ? h("details", {}, h("summary", {}, "Details"), h("pre", { class: "json" }, JSON.stringify(details, null, 2))) : null,
  );
}

export function json(value) {
  return h("pre", { class: "json" }, JSON.stringify(value, null, 2));
}

export function section(title, ...children) {
  return h("section", { class: "card" }, title ? h("h2", {}, title) : null, ...children);
}

export function pageHeader(title, subtitle, ...actions) {
  return h(
    "header",
    { class: "page-header" },
    h("div", {}, h("h1", {}, title), subtitle ? h("p", { class: "subtitle" }, subtitle) : null),
    actions.length ? h("div", { class: "actions" }, ...actions) : null,
  );
}

export function button(text, onClick, { kind = "secondary", ...props } = {}) {
  return h("button", { type: "button", class: `btn btn-${kind}`, on: { click: onClick }, ...props }, text);
}

/** Key-value rows. */
export function facts(pairs) {
  return h(
    "dl",
    { class: "facts" },
    pairs.filter(Boolean).map(([key, value]) => [h("dt", {}, key), h("dd", {}, value ?? "—")]),
  );
}

/** Own / template tabs as links, so each is a URL of its own. */
export function sourceTabs(current, hrefOf) {
  return h(
    "nav",
    { class: "tabs", "aria-label": "Source" },
    [
      ["org", "Own"],
      ["template", "Templates"],
    ].map(([value, text]) =>
      h("a", { href: hrefOf(value), class: "tab", "aria-current": value === current ? "page" : undefined }, text),
    ),
  );
}

/** Prev / next over a page of a list with `pagination`. */
export function pager(pagination, hrefAt) {
  const { limit, offset, total_items: total } = pagination;
  const last = Math.min(offset + limit, total);
  return h(
    "nav",
    { class: "pager", "aria-label": "Pages" },
    h("span", { class: "muted" }, total ? `${offset + 1}–${last} of ${total}` : "0 items"),
    h("a", { class: "btn btn-secondary", href: offset > 0 ? hrefAt(Math.max(0, offset - limit)) : undefined, "aria-disabled": offset > 0 ? undefined : "true" }, "Previous"),
    h("a", { class: "btn btn-secondary", href: last < total ? hrefAt(offset + limit) : undefined, "aria-disabled": last < total ? undefined : "true" }, "Next"),
  );
}

/** A modal question; resolves true when the action is confirmed. */
export function confirmDialog({ title, text, action, danger = true }) {
  return new Promise((resolve) => {
    const dialog = h(
      "dialog",
      { class: "dialog", "aria-labelledby": "dialog-title" },
      h(
        "form",
        { method: "dialog" },
        h("h2", { id: "dialog-title" }, title),
        h("p", {}, text),
        h(
          "div",
          { class: "dialog-actions" },
          h("button", { value: "cancel", class: "btn btn-secondary" }, "Cancel"),
          h("button", { value: "confirm", class: `btn ${danger ? "btn-danger" : "btn-primary"}` }, action),
        ),
      ),
    );
    dialog.addEventListener("close", () => {
      dialog.remove();
      resolve(dialog.returnValue === "confirm");
    });
    document.body.append(dialog);
    dialog.showModal();
  });
}

/** Starts `work` every `ms` while the page shows; returns the function that stops it. */
export function every(ms, work) {
  let timer = null;
  let stopped = false;
  const tick = async () => {
    if (stopped) return;
    if (!document.hidden) {
      try {
        await work();
      } catch {
        // the next tick tries again; `work` shows its own errors
      }
    }
    if (!stopped) timer = setTimeout(tick, ms);
  };
  timer = setTimeout(tick, ms);
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
