// A form generated from a JSON Schema (a variant's `configuration_schema`, or a schema of the
// served spec): types, enums, defaults, bounds and required fields come from the schema. It does
// not validate: the server does, and its VALIDATION_ERROR details are shown beside the fields
// they name (`model_configurations.background.color`).

import { downloadUrl } from "./api.js";
import { h, prose, replace } from "./dom.js";

let counter = 0;

/**
 * `schema`: an object schema. `prefix`: the field path the server names errors under.
 * `value`: initial values (else the schema's defaults). `assets`: {own, template} lists for
 * asset id fields. `controls`: {name: (field) -> element} overrides by property name.
 * Returns {element, read(), showErrors({path: message}) -> unplaced errors}.
 */
export function schemaForm(schema, { prefix = "", value, assets, controls = {} } = {}) {
  const fields = new Map();
  // A new form starts from the schema's defaults; an edit shows only what is stored.
  const defaults = value === undefined;
  const context = { assets, controls, fields, defaults, required: true };
  const root = objectFields(schema, prefix, defaults ? schema.default : value, context);
  return {
    element: root.element,
    read: () => root.read() ?? {},
    showErrors(errors) {
      for (const field of fields.values()) field.setError(null);
      const unplaced = {};
      for (const [path, message] of Object.entries(errors)) {
        const field = fields.get(path) || closest(fields, path);
        if (field) field.setError(message);
        else unplaced[path] = message;
      }
      return unplaced;
    },
  };
}

function closest(fields, path) {
  let at = path;
  while (at.includes(".")) {
    at = at.slice(0, at.lastIndexOf("."));
    if (fields.has(at)) return fields.get(at);
  }
  return null;
}

function objectFields(schema, path, value, context) {
  const properties = Object.entries(schema.properties || {}).filter(([, s]) => !s.readOnly);
  const required = new Set(schema.required || []);
  const children = properties.map(([name, child]) =>
    field(name, child, path ? `${path}.${name}` : name, value?.[name] ?? (context.defaults ? child.default : undefined), required.has(name), context),
  );
  const element = h("div", { class: "schema-fields" }, children.map((c) => c.element));
  return {
    element,
    read() {
      const result = {};
      for (const [index, [name]] of properties.entries()) {
        const read = children[index].read();
        if (read !== undefined) result[name] = read;
      }
      return Object.keys(result).length || context.required ? result : undefined;
    },
  };
}

function field(name, schema, path, value, required, context) {
  const id = `field-${++counter}`;
  const hintId = `${id}-hint`;
  const errorId = `${id}-error`;
  const error = h("div", { class: "field-error", id: errorId, hidden: true });
  const setError = (message) => {
    error.hidden = !message;
    replace(error, message || "");
    wrapper.classList.toggle("has-error", Boolean(message));
  };
  let control;
  let read;
  let wrapper;
  if (schema.type === "object" && schema.properties) {
    const nested = objectFields(schema, path, value, { ...context, required });
    wrapper = h(
      "fieldset",
      { class: "field field-group", "data-field": path },
      h("legend", {}, name, required ? h("span", { class: "required", title: "required", "aria-hidden": "true" }, " *") : null),
      schema.description ? h("p", { class: "hint" }, prose(schema.description)) : null,
      nested.element,
      error,
    );
    context.fields.set(path, { setError });
    return { element: wrapper, read: nested.read };
  }
  const described = [schema.description ? hintId : null, errorId].filter(Boolean).join(" ");
  const common = { id, name: path, "aria-describedby": described, "aria-required": required ? "true" : undefined };
  const custom = context.controls[name];
  if (custom) {
    ({ control, read } = custom({ ...common, value, required, schema }));
  } else if (Array.isArray(schema.enum)) {
    ({ control, read } = enumControl(schema.enum, value, required, common));
  } else if (schema.type === "boolean") {
    ({ control, read } = enumControl([true, false], value, required, common));
  } else if (schema.type === "integer" || schema.type === "number") {
    ({ control, read } = numberControl(schema, value, common));
  } else if (schema.type === "string" && /(^|_)asset_id$/.test(name) && context.assets) {
    ({ control, read } = assetControl(schema, value, required, common, context.assets));
  } else if (schema.type === "string") {
    control = h("input", { ...common, type: "text", value: value ?? "", placeholder: schema.examples?.[0] ?? schema.example ?? undefined, autocomplete: "off" });
    read = () => (control.value === "" ? undefined : control.value);
  } else {
    control = h("textarea", { ...common, rows: 3, class: "mono", placeholder: "JSON" }, value === undefined ? "" : JSON.stringify(value, null, 2));
    read = () => {
      if (control.value.trim() === "") return undefined;
      try {
        return JSON.parse(control.value);
      } catch {
        return control.value; // sent as it is: the server says what is wrong with it
      }
    };
  }
  wrapper = h(
    "div",
    { class: "field", "data-field": path },
    h("div", { class: "label-row" }, h("label", { for: id }, name), required ? h("span", { class: "required", title: "required" }, "*") : null),
    control,
    h("p", { class: "hint", id: hintId }, prose(schema.description), constraints(schema)),
    error,
  );
  context.fields.set(path, { setError });
  return { element: wrapper, read };
}

function constraints(schema) {
  const said = [];
  if (schema.type) said.push(schema.format ? `${schema.type} (${schema.format})` : schema.type);
  if (schema.minimum !== undefined) said.push(`≥ ${schema.minimum}`);
  if (schema.maximum !== undefined) said.push(`≤ ${schema.maximum}`);
  if (schema.pattern) said.push(`pattern ${schema.pattern}`);
  if (schema.default !== undefined && typeof schema.default !== "object") said.push(`default ${schema.default}`);
  return said.length ? h("span", { class: "constraints" }, ` ${said.join(" · ")}`) : null;
}

function enumControl(values, value, required, common) {
  const control = h(
    "select",
    common,
    required && value !== undefined ? null : h("option", { value: "" }, "— not set —"),
    values.map((item, index) => h("option", { value: String(index), selected: item === value }, String(item))),
  );
  return { control, read: () => (control.value === "" ? undefined : values[Number(control.value)]) };
}

function numberControl(schema, value, common) {
  const control = h("input", {
    ...common,
    type: "number",
    inputmode: schema.type === "integer" ? "numeric" : "decimal",
    step: schema.type === "integer" ? "1" : "any",
    min: schema.minimum,
    max: schema.maximum,
    value: value ?? "",
  });
  return { control, read: () => (control.value === "" ? undefined : Number(control.value)) };
}

/** Assets by name (own first, then the templates'), narrowed to the category the field's
 * description names ("(category image)"), with a thumbnail of the one chosen. */
function assetControl(schema, value, required, common, assets) {
  const category = /\(category (\w+)\)/.exec(schema.description || "")?.[1];
  const fits = (asset) => !category || asset.category === category;
  const groups = [
    ["Your assets", assets.own.filter(fits)],
    ["Templates", assets.template.filter(fits)],
  ];
  const known = [...assets.own, ...assets.template].some((a) => a.asset_id === value);
  const control = h(
    "select",
    common,
    h("option", { value: "" }, "— none —"),
    value && !known ? h("option", { value, selected: true }, `${value} (not found)`) : null,
    groups.map(([label, items]) =>
      items.length
        ? h("optgroup", { label }, items.map((a) => h("option", { value: a.asset_id, selected: a.asset_id === value }, a.name)))
        : null,
    ),
  );
  const thumb = h("div", { class: "picker-thumb", "aria-hidden": "true" });
  const show = async () => {
    const chosen = [...assets.own, ...assets.template].find((a) => a.asset_id === control.value);
    if (!chosen || chosen.category !== "image") {
      replace(thumb, chosen ? h("span", { class: "muted" }, chosen.category) : "");
      return;
    }
    try {
      replace(thumb, h("img", { src: await downloadUrl(chosen.asset_id), alt: "" }));
    } catch {
      replace(thumb, "");
    }
  };
  control.addEventListener("change", show);
  show();
  return {
    control: h("div", { class: "picker" }, control, thumb),
    read: () => (control.value === "" ? undefined : control.value),
  };
}
