// The console's shell: the key in use, the navigation and hash routes (#/assets?source=template),
// so each page has a URL of its own and reload, back and forward work.

import { ApiError, call, keys, loadSpec } from "./api.js";
import { button, errorNotice, h, notice, prose, replace } from "./dom.js";
import assets from "./page-assets.js";
import configs from "./page-configs.js";
import faults from "./page-faults.js";
import idleVideo from "./page-idle-video.js";
import jobs from "./page-jobs.js";
import overview from "./page-overview.js";
import requests from "./page-requests.js";
import state from "./page-state.js";
import variants from "./page-variants.js";

const PAGES = [overview, variants, configs, assets, idleVideo, jobs, requests, faults, state];
const main = document.getElementById("page");
const nav = document.getElementById("nav");
const who = document.getElementById("whoami");

let whoami = null; // {organization_id, user_id, admin} of the key in use
let keyProblem = null; // why the key form shows: an ApiError, or null
let askingForKey = false;
let cleanup = null;
let generation = 0;

export function href(path, params = {}) {
  const query = new URLSearchParams(Object.entries(params).filter(([, v]) => v !== undefined && v !== null && v !== ""));
  const text = query.toString();
  return `#/${path}${text ? `?${text}` : ""}`;
}

function current() {
  const raw = location.hash.replace(/^#\/?/, "");
  const [pathPart, queryPart = ""] = raw.split("?");
  const segments = pathPart.split("/").filter(Boolean).map(decodeURIComponent);
  const page = PAGES.find((p) => p.path === segments[0]) || (segments.length ? null : overview);
  return { page, segments: segments.slice(1), params: new URLSearchParams(queryPart) };
}

function drawNav(active) {
  const item = (page) =>
    h("li", {}, h("a", { href: href(page.path), "aria-current": page === active ? "page" : undefined }, page.title));
  replace(
    nav,
    h("li", { class: "nav-group" }, h("span", { class: "nav-heading", "aria-hidden": "true" }, "API"), h("ul", {}, PAGES.filter((p) => !p.admin).map(item))),
    h("li", { class: "nav-group" }, h("span", { class: "nav-heading", "aria-hidden": "true" }, "Test tools · admin key"), h("ul", {}, PAGES.filter((p) => p.admin).map(item))),
  );
}

function drawWho() {
  if (!whoami) {
    replace(who, h("span", { class: "who-none" }, "No API key in use"));
    return;
  }
  replace(
    who,
    h(
      "div",
      { class: "who", "aria-label": "API key in use" },
      h("span", { class: "who-avatar", "aria-hidden": "true" }, whoami.organization_id.replace(/^org_/, "").slice(0, 2).toUpperCase()),
      h(
        "span",
        { class: "who-text" },
        h("strong", { class: "who-org" }, whoami.organization_id),
        h("span", { class: "who-user" }, whoami.user_id, keys.usingDev() ? " · development key" : " · key from this session"),
      ),
      whoami.admin ? h("span", { class: "badge badge-info" }, "admin") : h("span", { class: "badge badge-plain" }, "not admin"),
    ),
    button("Change key", () => {
      askingForKey = true;
      keyProblem = null;
      render();
    }),
  );
}

function keyForm() {
  const input = h("input", { id: "api-key", type: "password", autocomplete: "off", spellcheck: "false", class: "mono", required: true });
  const message = h("div", { class: "key-message" });
  const refused = keyProblem;
  const form = h(
    "form",
    {
      class: "key-form",
      on: {
        submit: async (event) => {
          event.preventDefault();
          const key = input.value.trim();
          if (!key) return;
          try {
            whoami = await call("GET", "/_ojin/whoami", { key });
          } catch (error) {
            replace(message, refusal(error));
            input.select();
            return;
          }
          keys.remember(key);
          keyProblem = null;
          askingForKey = false;
          render();
        },
      },
    },
    h("label", { for: "api-key" }, "API key"),
    h("div", { class: "key-row" }, input, h("button", { type: "submit", class: "btn btn-primary" }, "Use key")),
    h("p", { class: "hint" }, "Sent as X-API-Key with every request. Kept for this browser session only (sessionStorage), never saved elsewhere."),
    message,
  );
  if (refused) replace(message, refusal(refused));
  return h(
    "section",
    { class: "card key-card" },
    h("h1", {}, whoami ? "Change the API key" : "An API key is needed"),
    h(
      "p",
      {},
      keys.dev()
        ? "The development key is in use; enter another key to act as another organization."
        : prose("This server does not offer its development key here (other keys exist, or this page was not opened over a loopback address). Enter a key from the config file's `[[api_keys]]` or from `ojin-local keys create`."),
    ),
    form,
    h(
      "div",
      { class: "key-actions" },
      whoami ? button("Cancel", () => { askingForKey = false; render(); }) : null,
      keys.typed()
        ? button(keys.dev() ? "Forget it, use the development key" : "Forget the session's key", async () => {
            keys.forget();
            askingForKey = false;
            await identify();
            render();
          })
        : null,
    ),
  );
}

function refusal(error) {
  if (error.status === 401) {
    return notice("error", h("strong", {}, "Key refused (401). "), error.message || "The server does not know this key.");
  }
  return errorNotice(error, "Could not check the key");
}

async function identify() {
  const key = keys.current();
  whoami = null;
  if (!key) return;
  try {
    whoami = await call("GET", "/_ojin/whoami");
  } catch (error) {
    keyProblem = error;
  }
}

function adminOnly(page) {
  return h(
    "section",
    { class: "card" },
    h("h1", {}, page.title),
    notice(
      "warn",
      h("strong", {}, "This page needs an admin key. "),
      `The key in use (${whoami.organization_id} / ${whoami.user_id}) is not an admin key, so the server answers 403 to the routes behind this page.`,
    ),
    button("Change key", () => { askingForKey = true; render(); }),
  );
}

async function render() {
  if (cleanup) cleanup();
  cleanup = null;
  const mine = ++generation;
  const { page, segments, params } = current();
  drawNav(page);
  drawWho();
  if (!page) {
    document.title = "Not found · ojin-local";
    replace(main, h("section", { class: "card" }, h("h1", {}, "No such page"), h("p", {}, "Pick a page on the left.")));
    return;
  }
  document.title = `${page.title} · ojin-local`;
  if (!whoami || askingForKey) {
    replace(main, keyForm());
    main.querySelector("#api-key")?.focus();
    return;
  }
  if (page.admin && !whoami.admin) {
    replace(main, adminOnly(page));
    return;
  }
  const container = h("div", { class: "page" });
  replace(main, container);
  const view = {
    container,
    segments,
    params,
    whoami,
    href,
    alive: () => mine === generation,
    go: (target) => {
      location.hash = target;
    },
    refresh: () => render(),
  };
  try {
    const stop = await page.render(view);
    if (mine === generation) cleanup = typeof stop === "function" ? stop : null;
    else if (typeof stop === "function") stop();
  } catch (error) {
    if (mine !== generation) return;
    replace(container, errorNotice(error instanceof ApiError ? error : new ApiError(0, "CONSOLE_ERROR", String(error))));
  }
}

window.addEventListener("hashchange", () => {
  render();
  main.focus({ preventScroll: true });
});
window.addEventListener("ojin:unauthorized", (event) => {
  if (!whoami) return; // the key form shows the refusal itself
  whoami = null;
  keyProblem = event.detail;
  render();
});

async function boot() {
  try {
    await loadSpec();
  } catch (error) {
    replace(main, errorNotice(error));
    return;
  }
  await identify();
  render();
}

boot();
