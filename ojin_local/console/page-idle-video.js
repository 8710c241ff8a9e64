import { API, all, downloadUrl, get, post, spec } from "./api.js";
import { badge, errorNotice, every, facts, h, mono, notice, pageHeader, replace, section, when } from "./dom.js";
import { preview } from "./page-assets.js";

const GENERATE = `${API}/assets/generate/ojin/oris-1.0-idle-video-generator`;
const FINISHED = new Set(["succeeded", "failed"]);

/** A job's card, redrawn as its status changes; polls until it ends. */
export function jobWatcher(jobId, href) {
  const body = h("div", { class: "job-live", "aria-live": "polite" }, h("p", { class: "muted" }, "Reading the job…"));
  let shownResult = false;
  const draw = async () => {
    const job = await get(`${API}/jobs/${jobId}`);
    const steps = ["queued", "running", job.status === "failed" ? "failed" : "succeeded"];
    const reached = steps.indexOf(job.status);
    const timeline = h(
      "ol",
      { class: "steps", "aria-label": "Job progress" },
      steps.map((step, index) =>
        h("li", { class: index < reached ? "step done" : index === reached ? `step current step-${job.status}` : "step" }, step),
      ),
    );
    const summary = h(
      "div",
      { class: "job-summary" },
      h("div", { class: "job-status" }, "Status ", h("span", { "data-testid": "job-status" }, badge(job.status))),
      timeline,
      facts([
        ["Job", h("a", { href: href(`jobs/${job.job_id}`) }, mono(job.job_id))],
        ["Template", job.parameters.reference_template],
        ["Attempts", String(job.attempts)],
        ["Created", when(job.created_at)],
        ["Started", when(job.started_at)],
        ["Finished", when(job.finished_at)],
      ]),
    );
    if (job.status === "failed") {
      replace(
        body,
        summary,
        notice("error", h("strong", { class: "job-error-code" }, job.error?.code || "FAILED"), h("div", { class: "notice-message job-error-message" }, job.error?.message || "")),
      );
    } else if (job.status === "succeeded" && !shownResult) {
      shownResult = true;
      const video = await get(`${API}/assets/${job.result.asset_id}`);
      const url = await downloadUrl(video.asset_id);
      replace(
        body,
        summary,
        h(
          "figure",
          { class: "result" },
          preview(video, url),
          h("figcaption", {}, video.name, " · ", h("a", { href: href("assets") }, "in your assets")),
        ),
      );
      body.querySelector("video")?.setAttribute("autoplay", "");
      body.querySelector("video")?.play().catch(() => {});
    } else if (!shownResult) {
      replace(body, summary);
    }
    return job;
  };
  let stop = () => {};
  const start = async () => {
    try {
      const job = await draw();
      if (FINISHED.has(job.status)) return;
    } catch (error) {
      replace(body, errorNotice(error));
      return;
    }
    stop = every(500, async () => {
      const job = await draw();
      if (FINISHED.has(job.status)) stop();
    });
  };
  start();
  return { element: body, stop: () => stop() };
}

export default {
  path: "idle-video",
  title: "Idle video",
  async render(view) {
    const templates = spec.enum("IdleVideoGenerationRequest", "reference_template");
    const fallback = spec.property("IdleVideoGenerationRequest", "reference_template").default;
    const [own, template] = await Promise.all([
      all(`${API}/assets`, { source: "org", category: "image" }),
      all(`${API}/assets`, { source: "template", category: "image" }),
    ]);
    const chosen = view.params.get("source") || own[0]?.asset_id || template[0]?.asset_id || "";
    const select = h(
      "select",
      { id: "idle-source", required: true },
      [
        ["Your images", own],
        ["Template images", template],
      ].map(([label, items]) =>
        items.length ? h("optgroup", { label }, items.map((a) => h("option", { value: a.asset_id, selected: a.asset_id === chosen }, a.name))) : null,
      ),
    );
    const thumb = h("div", { class: "source-preview" });
    const showSource = async () => {
      const asset = [...own, ...template].find((a) => a.asset_id === select.value);
      if (!asset) return replace(thumb, h("div", { class: "empty" }, "No image assets: upload one on the Assets page."));
      replace(thumb, preview(asset, await downloadUrl(asset.asset_id).catch(() => null)));
    };
    select.addEventListener("change", showSource);
    const radios = h(
      "fieldset",
      { class: "templates" },
      h("legend", {}, "Reference template"),
      templates.map((name) =>
        h(
          "label",
          { class: "radio-card" },
          h("input", { type: "radio", name: "reference_template", value: name, checked: name === (view.params.get("template") || fallback) }),
          h("span", { class: "radio-title" }, name),
        ),
      ),
    );
    const problems = h("div", {});
    const jobSlot = h("div", {});
    let watcher = null;
    const watch = (jobId) => {
      watcher?.stop();
      watcher = jobWatcher(jobId, view.href);
      replace(jobSlot, section("The job", watcher.element));
    };
    const form = h(
      "form",
      {
        class: "card form idle-form",
        on: {
          submit: async (event) => {
            event.preventDefault();
            replace(problems);
            const reference = form.querySelector('input[name="reference_template"]:checked')?.value;
            try {
              const started = await post(GENERATE, { source_asset_id: select.value, reference_template: reference });
              history.replaceState(null, "", view.href("idle-video", { source: select.value, template: reference, job: started.job_id }));
              watch(started.job_id);
            } catch (error) {
              replace(problems, errorNotice(error, "Not started"));
            }
          },
        },
      },
      h("div", { class: "idle-grid" }, h("div", {}, h("div", { class: "field" }, h("label", { for: "idle-source" }, "Source image"), select), radios), thumb),
      problems,
      h("div", { class: "form-actions" }, h("button", { type: "submit", class: "btn btn-primary", disabled: !own.length && !template.length }, "Generate idle video")),
    );
    replace(
      view.container,
      pageHeader("Idle video", "Turn a still portrait into a looping idle video with the oris-1.0 idle-video generator: the job runs on this server's consumer."),
      form,
      jobSlot,
    );
    showSource();
    const shown = view.params.get("job");
    if (shown) watch(shown);
    return () => watcher?.stop();
  },
};
