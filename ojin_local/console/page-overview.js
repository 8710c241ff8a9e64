import { API, get } from "./api.js";
import { badge, every, facts, h, mono, pageHeader, replace, section } from "./dom.js";

function component(title, part, rows) {
  return h(
    "div",
    { class: "health-card", "aria-label": title },
    h("div", { class: "health-head" }, h("h3", {}, title), badge(part.status || "unknown")),
    facts(rows),
    part.detail ? h("p", { class: "hint" }, part.detail) : null,
  );
}

function healthCards(health) {
  const { database: db, storage, jobs } = health;
  return h(
    "div",
    { class: "health-grid" },
    component("Database", db, [
      ["Engine", "SQLite"],
      ["Schema version", db.schema_version === undefined ? "—" : String(db.schema_version)],
      ["File", db.path ? mono(db.path) : "—"],
    ]),
    component("Storage", storage, [
      ["Backend", storage.backend],
      storage.bucket ? ["Bucket", mono(storage.bucket)] : null,
      storage.endpoint ? ["Endpoint", mono(storage.endpoint)] : null,
      storage.root ? ["Folder", mono(storage.root)] : null,
    ]),
    component("Queue", { status: jobs.status }, [
      ["Queue", jobs.queue],
      ["Waiting jobs", jobs.queue_depth === undefined ? "—" : String(jobs.queue_depth)],
    ]),
    component("Consumer", jobs, [
      ["Runs", jobs.consumer || "—"],
      ["Workers", jobs.workers === undefined ? "—" : String(jobs.workers)],
    ]),
  );
}

async function total(path, query) {
  return (await get(path, { ...query, limit: 1 })).pagination.total_items;
}

function count(label, value, target, hint) {
  return h(
    "a",
    { class: "stat", href: target },
    h("span", { class: "stat-value" }, String(value)),
    h("span", { class: "stat-label" }, label),
    hint ? h("span", { class: "stat-hint" }, hint) : null,
  );
}

export default {
  path: "overview",
  title: "Overview",
  async render(view) {
    const base = `${location.origin}${API}`;
    const [health, ownConfigs, templateConfigs, ownAssets, templateAssets, jobs] = await Promise.all([
      get("/_ojin/health"),
      total(`${API}/model-configs`, { source: "org" }),
      total(`${API}/model-configs`, { source: "template" }),
      total(`${API}/assets`, { source: "org" }),
      total(`${API}/assets`, { source: "template" }),
      total(`${API}/jobs`, {}),
    ]);
    const status = h("span", {}, badge(health.status));
    const cards = h("div", {}, healthCards(health));
    const refresh = async () => {
      const fresh = await get("/_ojin/health");
      if (!view.alive()) return;
      replace(status, badge(fresh.status));
      replace(cards, healthCards(fresh));
    };
    replace(
      view.container,
      pageHeader("Overview", `ojin-local ${health.version}: an offline stand-in for the Ojin REST API.`),
      h(
        "div",
        { class: "stats" },
        count("Configurations", ownConfigs, view.href("configs"), `${templateConfigs} templates`),
        count("Assets", ownAssets, view.href("assets"), `${templateAssets} templates`),
        count("Jobs", jobs, view.href("jobs"), "of this organization"),
      ),
      section(h("span", {}, "Health ", status), cards),
      section(
        "Point a client here",
        facts([
          ["Base URL", mono(base, { "data-testid": "base-url" })],
          ["Header", mono("X-API-Key: <your key>")],
          ["Spec", h("a", { href: "/openapi.json" }, "/openapi.json")],
          ["API docs", h("a", { href: "/docs" }, "/docs")],
        ]),
        h("p", {}, "A client of the Ojin API changes only its base URL (https://api.ojin.ai/v1 becomes the one above):"),
        h(
          "pre",
          { class: "code" },
          `export OJIN_BASE_URL=${base}\nexport OJIN_API_KEY=<your key>\ncurl -H "X-API-Key: $OJIN_API_KEY" "$OJIN_BASE_URL/model-configs?source=template"`,
        ),
      ),
    );
    return every(5000, refresh);
  },
};
