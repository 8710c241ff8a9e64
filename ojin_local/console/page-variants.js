import { API, all, get } from "./api.js";
import { badge, chips, facts, h, json, mono, pageHeader, replace, section, table } from "./dom.js";

/** A JSON Schema as rows, nested properties indented: name, type, rules, description. */
function schemaTable(schema) {
  const rows = [];
  const walk = (node, depth, required) => {
    for (const [name, property] of Object.entries(node.properties || {})) {
      rows.push({ name, property, depth, required: required.has(name) });
      if (property.type === "object" && property.properties) {
        walk(property, depth + 1, new Set(property.required || []));
      }
    }
  };
  walk(schema, 0, new Set(schema.required || []));
  const rules = (p) => {
    const said = [];
    if (p.enum) said.push(h("span", {}, "one of ", chips(p.enum.map(String))));
    if (p.minimum !== undefined) said.push(`minimum ${p.minimum}`);
    if (p.maximum !== undefined) said.push(`maximum ${p.maximum}`);
    if (p.minLength !== undefined) said.push(`at least ${p.minLength} characters`);
    if (p.maxLength !== undefined) said.push(`at most ${p.maxLength} characters`);
    if (p.pattern) said.push(h("span", {}, "pattern ", mono(p.pattern)));
    if (p.default !== undefined) said.push(h("span", {}, "default ", mono(JSON.stringify(p.default))));
    return h("div", { class: "rules" }, said.map((s) => h("div", {}, s)));
  };
  return table(
    [
      {
        title: "Field",
        cell: (r) =>
          h(
            "span",
            { class: "schema-name", "data-depth": r.depth },
            mono(r.name),
            r.required ? h("span", { class: "required", title: "required" }, " required") : null,
          ),
      },
      { title: "Type", cell: (r) => [r.property.type || "any", r.property.format ? h("span", { class: "muted" }, ` (${r.property.format})`) : null] },
      { title: "Rules", cell: (r) => rules(r.property) },
      { title: "Description", cell: (r) => r.property.description || "" },
    ],
    rows,
    { empty: "This variant takes no configuration.", label: "Configuration schema" },
  );
}

async function detail(view, id) {
  const variant = await get(`${API}/model-variants/${encodeURIComponent(id)}`);
  const schema = variant.configuration_schema || {};
  replace(
    view.container,
    h("nav", { class: "crumbs" }, h("a", { href: view.href("variants") }, "Model variants"), " / ", variant.title),
    pageHeader(
      variant.title,
      variant.model_variant_id,
      h("a", { class: "btn btn-primary", href: view.href("configs/new", { variant: variant.model_variant_id }) }, "New configuration"),
    ),
    section(
      "About",
      facts([
        ["Status", badge(variant.status)],
        ["Model", mono(variant.model_id)],
        ["Tags", chips(variant.tags || [])],
        ...Object.entries(variant.description || {}).map(([key, text]) => [key, text]),
        ["Preview", variant.preview_media_url ? mono(variant.preview_media_url) : "—"],
        ["Created", variant.created_at || "—"],
      ]),
    ),
    section(
      "Configuration schema",
      schema.description ? h("p", {}, schema.description) : null,
      schemaTable(schema),
      h("details", { class: "raw" }, h("summary", {}, "The schema as JSON"), json(schema)),
    ),
  );
}

export default {
  path: "variants",
  title: "Model variants",
  async render(view) {
    if (view.segments.length) return detail(view, view.segments.join("/"));
    const found = await all(`${API}/model-variants`);
    replace(
      view.container,
      pageHeader("Model variants", "What a configuration can be made of. Each variant's configuration_schema shapes its configurations."),
      table(
        [
          {
            title: "Variant",
            cell: (v) => [
              h("a", { href: view.href(`variants/${encodeURIComponent(v.model_variant_id)}`), class: "strong" }, v.title),
              h("div", {}, mono(v.model_variant_id, { class: "mono muted" })),
            ],
          },
          { title: "Status", cell: (v) => badge(v.status) },
          { title: "Tags", cell: (v) => chips(v.tags || []) },
          { title: "Description", cell: (v) => v.description?.summary || Object.values(v.description || {})[0] || "" },
          { title: "Fields", class: "num", cell: (v) => String(Object.keys(v.configuration_schema?.properties || {}).length) },
        ],
        found,
        { label: "Model variants" },
      ),
    );
  },
};
