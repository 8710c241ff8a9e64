import { API, ApiError, all, call, get } from "./api.js";
import {
  button, confirmDialog, errorNotice, facts, h, json, mono, notice, pageHeader, pager, replace,
  section, sourceTabs, table, when,
} from "./dom.js";
import { schemaForm } from "./schema-form.js";

const PAGE_SIZE = 20;

async function list(view) {
  const source = view.params.get("source") || "org";
  const variant = view.params.get("variant") || "";
  const offset = Number(view.params.get("offset") || 0);
  const [page, variants] = await Promise.all([
    get(`${API}/model-configs`, { source, model_variant_id: variant, limit: PAGE_SIZE, offset }),
    all(`${API}/model-variants`),
  ]);
  const at = (params) => view.href("configs", { source, variant, ...params });
  const filter = h(
    "select",
    {
      id: "variant-filter",
      on: { change: (event) => view.go(at({ variant: event.target.value, offset: undefined })) },
    },
    h("option", { value: "" }, "All variants"),
    variants.map((v) => h("option", { value: v.model_variant_id, selected: v.model_variant_id === variant }, v.title)),
  );
  replace(
    view.container,
    pageHeader(
      "Model configurations",
      "Your organization's configurations, and the template organization's, which every organization may read.",
      h("a", { class: "btn btn-primary", href: view.href("configs/new") }, "New configuration"),
    ),
    view.params.get("deleted") ? notice("success", `Deleted ${view.params.get("deleted")}.`) : null,
    h(
      "div",
      { class: "toolbar" },
      sourceTabs(source, (value) => view.href("configs", { source: value, variant })),
      h("div", { class: "filters" }, h("label", { for: "variant-filter" }, "Variant"), filter),
    ),
    table(
      [
        { title: "Title", cell: (c) => h("a", { href: view.href(`configs/${c.model_config_id}`), class: "strong" }, c.title) },
        { title: "Variant", cell: (c) => mono(c.model_variant_id) },
        { title: "Fields set", class: "num", cell: (c) => String(Object.keys(c.model_configurations || {}).length) },
        { title: "Updated", cell: (c) => when(c.updated_at) },
        { title: "Id", cell: (c) => mono(c.model_config_id, { class: "mono muted" }) },
      ],
      page.data,
      { empty: source === "org" ? "No configurations yet: create one from a variant." : "No template configurations.", label: "Model configurations" },
    ),
    pager(page.pagination, (value) => at({ offset: value })),
  );
}

async function assetsForPickers() {
  const [own, template] = await Promise.all([
    all(`${API}/assets`, { source: "org" }),
    all(`${API}/assets`, { source: "template" }),
  ]);
  return { own, template };
}

/** The create and edit form: title, variant (create only), and the variant's schema. */
async function editor(view, existing) {
  const variants = await all(`${API}/model-variants`);
  const assets = await assetsForPickers();
  const chosen = existing?.model_variant_id || view.params.get("variant") || variants[0]?.model_variant_id;
  const variant = variants.find((v) => v.model_variant_id === chosen) || (await get(`${API}/model-variants/${encodeURIComponent(chosen)}`));
  const form = schemaForm(variant.configuration_schema || {}, {
    prefix: "model_configurations",
    value: existing?.model_configurations,
    assets,
  });
  const titleError = h("div", { class: "field-error", id: "title-error", hidden: true });
  const title = h("input", { id: "config-title", type: "text", "aria-required": "true", value: existing?.title || "", autocomplete: "off", "aria-describedby": "title-error" });
  const problems = h("div", { class: "form-problems" });
  const variantSelect = h(
    "select",
    {
      id: "config-variant",
      disabled: Boolean(existing),
      on: { change: (event) => view.go(view.href("configs/new", { variant: event.target.value })) },
    },
    variants.map((v) => h("option", { value: v.model_variant_id, selected: v.model_variant_id === variant.model_variant_id }, `${v.title} (${v.model_variant_id})`)),
  );
  const showTitleError = (message) => {
    titleError.hidden = !message;
    replace(titleError, message || "");
    title.closest(".field").classList.toggle("has-error", Boolean(message));
  };
  const submit = async (event) => {
    event.preventDefault();
    replace(problems);
    showTitleError(null);
    form.showErrors({});
    const body = { title: title.value, model_configurations: form.read() };
    try {
      const saved = existing
        ? await call("PUT", `${API}/model-configs/${existing.model_config_id}`, { body })
        : await call("POST", `${API}/model-configs`, { body: { ...body, model_variant_id: variant.model_variant_id } });
      view.go(view.href(`configs/${saved.model_config_id}`, { saved: existing ? "updated" : "created" }));
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      const errors = error.fieldErrors();
      if (errors.title) showTitleError(errors.title);
      if (error.code === "CONFLICT" && !errors.title) showTitleError(error.message);
      delete errors.title;
      const unplaced = form.showErrors(errors);
      replace(problems, errorNotice(error, existing ? "Not saved" : "Not created"));
      if (Object.keys(unplaced).length) {
        problems.append(h("ul", { class: "unplaced" }, Object.entries(unplaced).map(([field, message]) => h("li", {}, mono(field), ` ${message}`))));
      }
      view.container.querySelector(".has-error input, .has-error select, .has-error textarea")?.focus();
    }
  };
  const heading = existing ? `Edit ${existing.title}` : "New configuration";
  replace(
    view.container,
    h(
      "nav",
      { class: "crumbs" },
      h("a", { href: view.href("configs") }, "Model configurations"),
      " / ",
      existing ? [h("a", { href: view.href(`configs/${existing.model_config_id}`) }, existing.title), " / Edit"] : "New",
    ),
    pageHeader(heading, `Fields from the configuration_schema of ${variant.title}.`),
    h(
      "form",
      { class: "card form", novalidate: true, on: { submit }, "aria-label": heading },
      h(
        "div",
        { class: "schema-fields" },
        h("div", { class: "field", "data-field": "title" }, h("div", { class: "label-row" }, h("label", { for: "config-title" }, "Title"), h("span", { class: "required", title: "required" }, "*")), title, titleError),
        h("div", { class: "field" }, h("label", { for: "config-variant" }, "Model variant"), variantSelect),
      ),
      h("h2", {}, "Configuration"),
      form.element,
      problems,
      h(
        "div",
        { class: "form-actions" },
        h("button", { type: "submit", class: "btn btn-primary" }, existing ? "Save" : "Create configuration"),
        h("a", { class: "btn btn-secondary", href: existing ? view.href(`configs/${existing.model_config_id}`) : view.href("configs") }, "Cancel"),
      ),
    ),
  );
}

async function detail(view, id) {
  const config = await get(`${API}/model-configs/${id}`);
  const own = config.organization_id === view.whoami.organization_id;
  const publicView = h("div", {}, h("p", { class: "muted" }, "Loading…"));
  const problems = h("div", {});
  const saved = view.params.get("saved");
  const remove = async () => {
    const yes = await confirmDialog({ title: `Delete ${config.title}?`, text: "The configuration is removed for good.", action: "Delete" });
    if (!yes) return;
    try {
      await call("DELETE", `${API}/model-configs/${id}`);
      view.go(view.href("configs", { deleted: config.title }));
    } catch (error) {
      const references = error.details?.referenced_by;
      replace(
        problems,
        errorNotice(error, "Not deleted"),
        Array.isArray(references) && references.length
          ? section(
              "Referenced by",
              h("p", {}, "These agent configurations use it; remove their references first:"),
              h("ul", { class: "references" }, references.map((ref) => h("li", {}, mono(typeof ref === "string" ? ref : JSON.stringify(ref))))),
            )
          : null,
      );
    }
  };
  replace(
    view.container,
    h("nav", { class: "crumbs" }, h("a", { href: view.href("configs", { source: own ? "org" : "template" }) }, "Model configurations"), " / ", config.title),
    pageHeader(
      config.title,
      own ? "A configuration of your organization." : `A template configuration (${config.organization_id}): read-only.`,
      own ? h("a", { class: "btn btn-primary", href: view.href(`configs/${id}/edit`) }, "Edit") : null,
      own ? button("Delete", remove, { kind: "danger" }) : null,
    ),
    saved ? notice("success", `Configuration ${saved}.`) : null,
    problems,
    h(
      "div",
      { class: "columns" },
      section(
        "Details",
        facts([
          ["Id", mono(config.model_config_id)],
          ["Variant", h("a", { href: view.href(`variants/${encodeURIComponent(config.model_variant_id)}`) }, config.model_variant_id)],
          ["Model", mono(config.model_id)],
          ["Organization", mono(config.organization_id)],
          ["Created by", mono(config.created_by)],
          ["Created", when(config.created_at)],
          ["Updated", when(config.updated_at)],
        ]),
      ),
      section("Configuration", json(config.model_configurations)),
    ),
    section(
      "Public view",
      h("p", { class: "muted" }, "What GET /v1/public/model-configs/{id} shows anyone, without a key (the widget's view):"),
      publicView,
    ),
  );
  try {
    replace(publicView, json(await call("GET", `${API}/public/model-configs/${id}`, { key: null })));
  } catch (error) {
    replace(publicView, errorNotice(error));
  }
}

export default {
  path: "configs",
  title: "Model configurations",
  async render(view) {
    const [id, action] = view.segments;
    if (!id) return list(view);
    if (id === "new") return editor(view, null);
    if (action === "edit") return editor(view, await get(`${API}/model-configs/${id}`));
    return detail(view, id);
  },
};
