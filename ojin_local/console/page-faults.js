import { ApiError, call, get, spec } from "./api.js";
import { button, errorNotice, h, mono, notice, pageHeader, prose, replace, section, table, when } from "./dom.js";
import { schemaForm } from "./schema-form.js";

const FAULTS = "/_ojin/faults";

function matchOf(rule) {
  if (rule.operation_id) return mono(rule.operation_id);
  return mono([rule.method, rule.path].filter(Boolean).join(" "));
}

function effectOf(rule) {
  const said = [];
  if (rule.latency_ms) said.push(`wait ${rule.latency_ms} ms`);
  if (rule.drop_connection) said.push("drop the connection");
  if (rule.status) said.push(`answer ${rule.status} ${rule.code || ""}`.trim());
  return said.join(", then ");
}

export default {
  path: "faults",
  title: "Faults",
  admin: true,
  async render(view) {
    const schema = spec.schema("OjinFaultRule");
    // Fault rules act on the API's own routes (/v1): offer those operations by name.
    const operations = spec.operations().filter((op) => op.path.startsWith("/v1/"));
    const listing = h("div", {});
    const problems = h("div", {});
    const draw = async () => {
      const rules = (await get(FAULTS)).data;
      if (!view.alive()) return;
      replace(
        listing,
        table(
          [
            { title: "Matches", cell: matchOf },
            { title: "Effect", cell: effectOf },
            { title: "Probability", class: "num", cell: (r) => (r.probability ?? 1).toString() },
            { title: "Times left", class: "num", cell: (r) => (r.times ?? "∞").toString() },
            { title: "Hits", class: "num", cell: (r) => String(r.hits ?? 0) },
            { title: "Added", cell: (r) => when(r.created_at) },
            {
              title: "",
              cell: (r) =>
                button("Remove", async () => {
                  try {
                    await call("DELETE", `${FAULTS}/${r.fault_id}`);
                  } catch (error) {
                    replace(problems, errorNotice(error));
                  }
                  await draw();
                }, { "aria-label": `Remove the rule on ${r.operation_id || r.path || r.method}` }),
            },
          ],
          rules,
          { empty: "No fault rules: every request is answered normally.", label: "Fault rules" },
        ),
      );
    };
    const form = schemaForm(schema, {
      controls: {
        operation_id: (field) => {
          const control = h(
            "select",
            { id: field.id, name: field.name, "aria-describedby": field["aria-describedby"] },
            h("option", { value: "" }, "— any (match by method and path) —"),
            operations.map((op) => h("option", { value: op.operationId }, `${op.operationId} · ${op.method} ${op.path}`)),
          );
          return { control, read: () => control.value || undefined };
        },
      },
    });
    const added = h("div", {});
    const add = async (event) => {
      event.preventDefault();
      replace(added);
      form.showErrors({});
      try {
        const rule = await call("POST", FAULTS, { body: form.read() });
        replace(added, notice("success", "Rule added: ", matchOf(rule), ` → ${effectOf(rule)}.`));
        await draw();
      } catch (error) {
        if (!(error instanceof ApiError)) throw error;
        const unplaced = form.showErrors(error.fieldErrors());
        replace(added, errorNotice(error, "Not added"), Object.keys(unplaced).length ? h("ul", { class: "unplaced" }, Object.entries(unplaced).map(([f, m]) => h("li", {}, mono(f), ` ${m}`))) : null);
      }
    };
    replace(
      view.container,
      pageHeader(
        "Faults",
        "Rules that make /v1 requests fail, wait or hang up, to see how a client copes.",
        button("Remove all", async () => {
          await call("DELETE", FAULTS);
          await draw();
        }),
      ),
      problems,
      section("Rules", listing),
      h(
        "form",
        { class: "card form", novalidate: true, on: { submit: add }, "aria-label": "Add a fault rule" },
        h("h2", {}, "Add a rule"),
        h("p", { class: "muted" }, prose(schema.description)),
        form.element,
        added,
        h("div", { class: "form-actions" }, h("button", { type: "submit", class: "btn btn-primary" }, "Add rule")),
      ),
    );
    await draw();
  },
};
