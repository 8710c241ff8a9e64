import { API, get, spec } from "./api.js";
import { badge, every, h, json, mono, pageHeader, pager, replace, section, shortId, table, when } from "./dom.js";
import { jobWatcher } from "./page-idle-video.js";

const PAGE_SIZE = 20;

function duration(job) {
  if (!job.started_at || !job.finished_at) return "—";
  const ms = new Date(job.finished_at) - new Date(job.started_at);
  return ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(1)} s`;
}

async function detail(view, id) {
  const job = await get(`${API}/jobs/${id}`);
  const watcher = jobWatcher(id, view.href);
  replace(
    view.container,
    h("nav", { class: "crumbs" }, h("a", { href: view.href("jobs") }, "Jobs"), " / ", shortId(id)),
    pageHeader("Job", job.type),
    section("Status", watcher.element),
    h("div", { class: "columns" }, section("Parameters", json(job.parameters)), section("As the API answers it", json(job))),
  );
  return watcher.stop;
}

export default {
  path: "jobs",
  title: "Jobs",
  async render(view) {
    if (view.segments.length) return detail(view, view.segments[0]);
    const status = view.params.get("status") || "";
    const type = view.params.get("type") || "";
    const offset = Number(view.params.get("offset") || 0);
    const at = (params) => view.href("jobs", { status, type, ...params });
    const select = (id, label, values, value, key) =>
      h(
        "span",
        { class: "filter" },
        h("label", { for: id }, label),
        h(
          "select",
          { id, on: { change: (event) => view.go(at({ [key]: event.target.value, offset: undefined })) } },
          h("option", { value: "" }, "All"),
          values.map((v) => h("option", { value: v, selected: v === value }, v)),
        ),
      );
    const listing = h("div", {});
    const draw = async () => {
      const page = await get(`${API}/jobs`, { status, type, limit: PAGE_SIZE, offset });
      if (!view.alive()) return page;
      replace(
        listing,
        table(
          [
            { title: "Job", cell: (j) => h("a", { href: view.href(`jobs/${j.job_id}`), class: "mono" }, shortId(j.job_id)) },
            { title: "Status", cell: (j) => badge(j.status) },
            { title: "Type", cell: (j) => mono(j.type) },
            { title: "Source", cell: (j) => (j.parameters.source_asset_id ? [mono(shortId(j.parameters.source_asset_id)), h("span", { class: "muted" }, ` ${j.parameters.reference_template || ""}`)] : "—") },
            { title: "Result", cell: (j) => (j.result?.asset_id ? mono(shortId(j.result.asset_id)) : j.error ? h("span", { class: "error-text" }, j.error.code) : "—") },
            { title: "Created", cell: (j) => when(j.created_at) },
            { title: "Took", class: "num", cell: duration },
          ],
          page.data,
          { empty: status || type ? "No jobs match." : "No jobs yet: generate an idle video.", label: "Jobs" },
        ),
        pager(page.pagination, (value) => at({ offset: value })),
      );
      return page;
    };
    replace(
      view.container,
      pageHeader("Jobs", "Your organization's asset jobs, newest first; the list follows running jobs live."),
      h(
        "div",
        { class: "toolbar" },
        h(
          "div",
          { class: "filters" },
          select("job-status", "Status", spec.enum("OjinJobStatus"), status, "status"),
          select("job-type", "Type", spec.enum("OjinJobType"), type, "type"),
        ),
      ),
      listing,
    );
    await draw();
    return every(2000, draw);
  },
};
