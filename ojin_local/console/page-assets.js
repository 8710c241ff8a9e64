import { API, call, downloadUrl, get, spec } from "./api.js";
import {
  badge, button, confirmDialog, errorNotice, formatBytes, h, pageHeader, pager, replace,
  sourceTabs, when,
} from "./dom.js";
import { guessCategory, uploadFile } from "./upload.js";

const PAGE_SIZE = 24;

/** What a browser can show of an asset, from its pre-signed URL (Range requests for media). */
export function preview(asset, url, { controls = true } = {}) {
  if (!url) return h("div", { class: "thumb-icon" }, asset.category);
  if (asset.category === "image" || asset.content_type.startsWith("image/")) {
    return h("img", { src: url, alt: asset.name, loading: "lazy" });
  }
  if (asset.category === "video" || asset.content_type.startsWith("video/")) {
    return h("video", { src: url, controls, muted: true, loop: true, preload: "metadata", playsinline: true, "aria-label": asset.name });
  }
  if (asset.category === "audio" || asset.content_type.startsWith("audio/")) {
    return h("audio", { src: url, controls: true, preload: "none", "aria-label": asset.name });
  }
  return h("div", { class: "thumb-icon" }, asset.category);
}

const SHOWN = new Set(["image", "video", "audio"]);

async function download(asset) {
  const url = await downloadUrl(asset.asset_id);
  // The pre-signed URL names the file (Content-Disposition), so following it downloads.
  const anchor = h("a", { href: url, download: asset.name, hidden: true });
  document.body.append(anchor);
  anchor.click();
  anchor.remove();
}

function card(asset, url, { own, onDelete, onError }) {
  const mediaKind = SHOWN.has(asset.category) ? asset.category : "file";
  return h(
    "article",
    { class: "asset-card", "data-asset-id": asset.asset_id, "aria-label": asset.name },
    h("div", { class: `thumb thumb-${mediaKind}` }, preview(asset, url)),
    h(
      "div",
      { class: "asset-body" },
      h("h3", { class: "asset-name", title: asset.name }, asset.name),
      h("div", { class: "asset-meta" }, badge(asset.category, "plain"), h("span", {}, formatBytes(asset.size_bytes)), h("span", { class: "muted" }, asset.content_type)),
      h("div", { class: "asset-meta muted" }, when(asset.created_at)),
      h(
        "div",
        { class: "asset-actions" },
        button("Download", () => download(asset).catch(onError), { kind: "secondary", "aria-label": `Download ${asset.name}` }),
        own ? button("Delete", onDelete, { kind: "danger-ghost" }) : null,
      ),
    ),
  );
}

function uploader(view, categories, uploads, onDone) {
  const chooser = h("input", { type: "file", multiple: true, hidden: true, id: "upload-files", "aria-label": "Files to upload" });
  const category = h(
    "select",
    { id: "upload-category" },
    h("option", { value: "" }, "Automatic (from the file's type)"),
    categories.map((c) => h("option", { value: c }, c)),
  );
  const start = (files) => {
    for (const file of files) {
      const chosen = category.value || guessCategory(file, categories);
      const bar = h("div", { class: "bar-fill" });
      const track = h("div", { class: "bar", role: "progressbar", "aria-label": `Upload of ${file.name}`, "aria-valuemin": "0", "aria-valuemax": "100", "aria-valuenow": "0" }, bar);
      const status = h("span", { class: "upload-status" }, "Waiting");
      const item = h(
        "li",
        { class: "upload", "data-name": file.name },
        h("div", { class: "upload-head" }, h("strong", { class: "upload-name" }, file.name), h("span", { class: "muted" }, `${chosen} · ${formatBytes(file.size)}`), status),
        track,
      );
      uploads.prepend(item);
      uploadFile(file, chosen, (sent, total, text) => {
        const percent = total ? Math.round((sent / total) * 100) : 100;
        bar.style.width = `${percent}%`;
        track.setAttribute("aria-valuenow", String(percent));
        replace(status, `${text} · ${percent}%`);
      })
        .then((asset) => {
          item.classList.add("upload-done");
          item.dataset.assetId = asset.asset_id;
          replace(status, "Uploaded");
          onDone();
        })
        .catch((error) => {
          item.classList.add("upload-failed");
          replace(status, "Failed");
          item.append(errorNotice(error));
        });
    }
  };
  chooser.addEventListener("change", () => {
    start([...chooser.files]);
    chooser.value = "";
  });
  return {
    start,
    controls: h(
      "div",
      { class: "upload-controls" },
      h("label", { for: "upload-category" }, "Category"),
      category,
      chooser,
      h("button", { type: "button", class: "btn btn-primary", on: { click: () => chooser.click() } }, "Upload"),
    ),
  };
}

export default {
  path: "assets",
  title: "Assets",
  async render(view) {
    const source = view.params.get("source") || "org";
    const name = view.params.get("name") || "";
    const category = view.params.get("category") || "";
    const offset = Number(view.params.get("offset") || 0);
    const categories = spec.enum("AssetInitiateUploadRequest", "category");
    const at = (params) => view.href("assets", { source, name, category, ...params });
    const grid = h("div", { class: "asset-grid", "aria-busy": "true" });
    const problems = h("div", {});
    const uploads = h("ul", { class: "uploads", "aria-label": "Uploads" });
    const own = source === "org";

    const load = async () => {
      let page;
      try {
        page = await get(`${API}/assets`, { source, name, category, limit: PAGE_SIZE, offset });
      } catch (error) {
        replace(problems, errorNotice(error, "The list could not be read"));
        return;
      }
      replace(problems);
      const urls = await Promise.all(
        page.data.map((a) => (SHOWN.has(a.category) ? downloadUrl(a.asset_id).catch(() => null) : null)),
      );
      if (!view.alive()) return;
      const onError = (error) => replace(problems, errorNotice(error));
      grid.removeAttribute("aria-busy");
      replace(
        grid,
        page.data.length
          ? page.data.map((asset, index) =>
              card(asset, urls[index], {
                own,
                onError,
                onDelete: async () => {
                  const yes = await confirmDialog({ title: `Delete ${asset.name}?`, text: "Its bytes are removed from storage.", action: "Delete" });
                  if (!yes) return;
                  try {
                    await call("DELETE", `${API}/assets/${asset.asset_id}`);
                    await load();
                  } catch (error) {
                    onError(error);
                  }
                },
              }),
            )
          : h("div", { class: "empty" }, own && !name && !category ? "No assets yet: upload files, or drop them on this page." : "No assets match."),
      );
      replace(pagerSlot, pager(page.pagination, (value) => at({ offset: value })));
    };
    const pagerSlot = h("div", {});
    const upload = uploader(view, categories, uploads, () => {
      if (own) load();
    });

    const nameInput = h("input", { type: "search", id: "asset-name", value: name, placeholder: "part of a name", autocomplete: "off" });
    const categorySelect = h(
      "select",
      { id: "asset-category" },
      h("option", { value: "" }, "All"),
      categories.map((c) => h("option", { value: c, selected: c === category }, c)),
    );
    const filters = h(
      "form",
      {
        class: "filters",
        role: "search",
        on: {
          submit: (event) => {
            event.preventDefault();
            view.go(at({ name: nameInput.value, category: categorySelect.value, offset: undefined }));
          },
        },
      },
      h("label", { for: "asset-name" }, "Name"),
      nameInput,
      h("label", { for: "asset-category" }, "Category"),
      categorySelect,
      h("button", { type: "submit", class: "btn btn-secondary" }, "Filter"),
    );
    categorySelect.addEventListener("change", () => filters.requestSubmit());

    const drop = h("div", { class: "drop-overlay", "aria-hidden": "true" }, h("div", {}, "Drop files to upload them"));
    const page = h(
      "div",
      { class: "drop-target", "aria-label": "Assets; drop files here to upload them" },
      pageHeader("Assets", "Images, videos, audio and weights, stored through pre-signed URLs.", upload.controls),
      h("div", { class: "dropzone-hint muted" }, "Drop files anywhere on this page to upload them (multipart, in parallel parts)."),
      uploads,
      h("div", { class: "toolbar" }, sourceTabs(source, (value) => view.href("assets", { source: value, name, category })), filters),
      problems,
      grid,
      pagerSlot,
      drop,
    );
    let depth = 0;
    page.addEventListener("dragenter", (event) => {
      event.preventDefault();
      depth += 1;
      page.classList.add("dragging");
    });
    page.addEventListener("dragleave", () => {
      depth = Math.max(0, depth - 1);
      if (!depth) page.classList.remove("dragging");
    });
    page.addEventListener("dragover", (event) => event.preventDefault());
    page.addEventListener("drop", (event) => {
      event.preventDefault();
      depth = 0;
      page.classList.remove("dragging");
      const files = [...(event.dataTransfer?.files || [])];
      if (files.length) upload.start(files);
    });
    replace(view.container, page);
    await load();
  },
};
