import { call } from "./api.js";
import { confirmDialog, errorNotice, facts, formatBytes, h, json, mono, notice, pageHeader, replace, section } from "./dom.js";

const STATE = "/_ojin/state";

function fileNameOf(response) {
  const header = response.headers.get("Content-Disposition") || "";
  return /filename="([^"]+)"/.exec(header)?.[1] || "ojin-local-state.tar.gz";
}

export default {
  path: "state",
  title: "State",
  admin: true,
  async render(view) {
    const resetAnswer = h("div", { "aria-live": "polite" });
    const exportAnswer = h("div", { "aria-live": "polite" });
    const importAnswer = h("div", { "aria-live": "polite" });
    const reset = async () => {
      const yes = await confirmDialog({
        title: "Reset to the seed?",
        text: "Every configuration, asset, job, fault rule and journal entry goes; the demo seed is loaded again. API keys stay.",
        action: "Reset",
      });
      if (!yes) return;
      replace(resetAnswer, notice("info", "Resetting…"));
      try {
        await call("POST", "/_ojin/reset");
        replace(resetAnswer, notice("success", "Reset: the server is back to its seed state (204)."));
      } catch (error) {
        replace(resetAnswer, errorNotice(error, "Not reset"));
      }
    };
    const exportState = async () => {
      replace(exportAnswer, notice("info", "Exporting…"));
      try {
        const response = await call("GET", STATE, { raw: true });
        const blob = await response.blob();
        const name = fileNameOf(response);
        const url = URL.createObjectURL(blob);
        const anchor = h("a", { href: url, download: name, hidden: true });
        document.body.append(anchor);
        anchor.click();
        anchor.remove();
        setTimeout(() => URL.revokeObjectURL(url), 60_000);
        replace(exportAnswer, notice("success", "Exported ", mono(name), ` (${formatBytes(blob.size)}).`));
      } catch (error) {
        replace(exportAnswer, errorNotice(error, "Not exported"));
      }
    };
    const chooser = h("input", { type: "file", id: "snapshot-file", accept: ".tar.gz,.tgz,application/gzip" });
    const importState = async (event) => {
      event.preventDefault();
      const file = chooser.files[0];
      if (!file) {
        replace(importAnswer, notice("warn", "Choose a snapshot file first."));
        return;
      }
      const yes = await confirmDialog({
        title: `Import ${file.name}?`,
        text: "The whole state is replaced by the snapshot's, if the server finds it usable; otherwise nothing changes.",
        action: "Import",
      });
      if (!yes) return;
      replace(importAnswer, notice("info", `Importing ${formatBytes(file.size)}…`));
      try {
        const answer = await call("PUT", STATE, { body: file, contentType: "application/gzip" });
        replace(
          importAnswer,
          notice("success", "Imported: the server now holds the snapshot's state."),
          facts(Object.entries(answer.imported || {}).map(([key, value]) => [key, typeof value === "object" ? json(value) : String(value)])),
        );
      } catch (error) {
        replace(importAnswer, errorNotice(error, "Not imported"));
      }
    };
    replace(
      view.container,
      pageHeader("State", "The whole state of this server (database and objects) as one snapshot: reset it, save it, bring it back."),
      h(
        "div",
        { class: "state-grid" },
        section(
          "Reset to the seed",
          h("p", {}, "Back to a fresh start: the demo seed's templates, nothing else. API keys stay."),
          h("button", { type: "button", class: "btn btn-danger", on: { click: reset } }, "Reset"),
          resetAnswer,
        ),
        section(
          "Export a snapshot",
          h("p", {}, "Download the state as a gzipped tar (manifest, database, objects), to import here or on another server."),
          h("button", { type: "button", class: "btn btn-primary", on: { click: exportState } }, "Export snapshot"),
          exportAnswer,
        ),
        section(
          "Import a snapshot",
          h("p", {}, "Replace the state with an exported snapshot. A corrupt, foreign or newer archive is refused and nothing changes."),
          h(
            "form",
            { on: { submit: importState }, class: "import-form" },
            h("label", { for: "snapshot-file" }, "Snapshot file"),
            chooser,
            h("button", { type: "submit", class: "btn btn-secondary" }, "Import"),
          ),
          importAnswer,
        ),
      ),
    );
  },
};
