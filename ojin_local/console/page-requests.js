import { call, get, spec } from "./api.js";
import { button, errorNotice, every, h, mono, pageHeader, replace, statusBadge, table, timeOf } from "./dom.js";

const JOURNAL = "/_ojin/requests";
const FILTERS = ["method", "path", "operation_id", "status", "organization_id"];
const METHODS = ["GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS"];

export default {
  path: "requests",
  title: "Requests",
  admin: true,
  async render(view) {
    const chosen = Object.fromEntries(FILTERS.map((name) => [name, view.params.get(name) || ""]));
    const limit = spec.parameter("ojinListRequests", "limit").default;
    const operations = [...new Set(spec.operations().map((op) => op.operationId))].sort();
    const input = (name, label, control) => h("span", { class: "filter" }, h("label", { for: `journal-${name}` }, label), control);
    const select = (name, values) =>
      h("select", { id: `journal-${name}`, name }, h("option", { value: "" }, "Any"), values.map((v) => h("option", { value: v, selected: v === chosen[name] }, v)));
    const text = (name, placeholder, type = "text") =>
      h("input", { id: `journal-${name}`, name, type, value: chosen[name], placeholder, autocomplete: "off" });
    const form = h(
      "form",
      {
        class: "filters wrap",
        role: "search",
        on: {
          submit: (event) => {
            event.preventDefault();
            const data = new FormData(form);
            view.go(view.href("requests", Object.fromEntries(FILTERS.map((n) => [n, data.get(n)]))));
          },
        },
      },
      input("method", "Method", select("method", METHODS)),
      input("path", "Path (glob)", text("path", "/v1/assets*")),
      input("operation_id", "Operation", select("operation_id", operations)),
      input("status", "Status", text("status", "404", "number")),
      input("organization_id", "Organization", text("organization_id", "org_…")),
      h("button", { type: "submit", class: "btn btn-secondary" }, "Filter"),
    );
    const live = h("input", { type: "checkbox", id: "journal-live", checked: true });
    const count = h("span", { class: "muted" });
    const problems = h("div", {});
    const listing = h("div", { "aria-live": "off" });
    const draw = async () => {
      let entries;
      try {
        entries = (await get(JOURNAL, { ...chosen, limit })).data;
      } catch (error) {
        replace(problems, errorNotice(error, "The journal could not be read"));
        return;
      }
      if (!view.alive()) return;
      replace(problems);
      replace(count, `${entries.length} request${entries.length === 1 ? "" : "s"} (newest first, at most ${limit})`);
      replace(
        listing,
        table(
          [
            { title: "Time", class: "nowrap", cell: (e) => h("time", { datetime: e.time, title: e.time }, timeOf(e.time)) },
            { title: "Method", cell: (e) => h("span", { class: `method method-${e.method.toLowerCase()}` }, e.method) },
            { title: "Path", cell: (e) => [mono(e.path), e.query ? h("span", { class: "muted mono query", title: `?${e.query}` }, `?${e.query}`) : null] },
            { title: "Operation", cell: (e) => (e.operation_id ? mono(e.operation_id) : "—") },
            { title: "Status", cell: (e) => statusBadge(e.status) },
            { title: "Duration", class: "num nowrap", cell: (e) => `${e.duration_ms.toFixed(1)} ms` },
            { title: "Organization", cell: (e) => e.organization_id || "—" },
            { title: "Request id", cell: (e) => mono(e.request_id.slice(0, 12), { title: e.request_id, class: "mono muted" }) },
          ],
          entries,
          { empty: "No request matches (yet).", label: "Request journal" },
        ),
      );
    };
    replace(
      view.container,
      pageHeader(
        "Requests",
        "The request journal: every /v1 call and pre-signed storage request this server answered, whoever made it.",
        h("label", { class: "switch", for: "journal-live" }, live, " Live"),
        button("Clear journal", async () => {
          try {
            await call("DELETE", JOURNAL);
            await draw();
          } catch (error) {
            replace(problems, errorNotice(error));
          }
        }),
      ),
      h("div", { class: "toolbar" }, form),
      h("div", { class: "list-head" }, count),
      problems,
      listing,
    );
    await draw();
    return every(1000, async () => {
      if (live.checked) await draw();
    });
  },
};
