// The job list: newest first, filtered by status, refreshed while shown
// (every job of every client appears; running jobs show their progress).

import { query, getJson } from "/ui/api.js";
import { fill, formatBytes, formatNumber, formatTime, h, notice, statusBadge } from "/ui/dom.js";

const STATUSES = ["queued", "running", "succeeded", "failed", "canceled"];
const PAGE_SIZE = 25;
/// How often the list is asked again while it is on screen.
const REFRESH_MILLISECONDS = 2000;

export function renderJobs(main, signal, status) {
  const select = h(
    "select",
    { id: "status-filter", onchange: () => (location.hash = select.value ? `#/jobs?status=${select.value}` : "#/jobs") },
    h("option", { value: "" }, "all"),
    STATUSES.map((value) => h("option", { value, selected: value === status }, value)),
  );
  const body = h("tbody", {});
  const message = h("div", { "aria-live": "polite" });
  const more = h("button", { type: "button", hidden: true }, "Show more");
  const list = new JobList(body, message, more, status);
  more.addEventListener("click", () => list.loadMore());
  fill(
    main,
    h("h1", {}, "Jobs"),
    h("div", { class: "toolbar" }, h("label", { for: "status-filter" }, "Status "), select),
    message,
    h(
      "div",
      { class: "table-wrap", tabindex: "0", role: "region", "aria-label": "Jobs" },
      h(
        "table",
        { class: "jobs" },
        h("caption", {}, status ? `Jobs ${status}, newest first` : "Jobs, newest first"),
        h("thead", {}, h("tr", {}, ["File", "Status", "Created", "Size", "Rows", "Progress"].map((t) => h("th", { scope: "col" }, t)))),
        body,
      ),
    ),
    more,
  );
  list.refreshWhileShown(signal);
}

class JobList {
  constructor(body, message, more, status) {
    this.body = body;
    this.message = message;
    this.more = more;
    this.status = status;
    this.pages = 1;
    this.cursor = null;
  }

  async refreshWhileShown(signal) {
    while (!signal.aborted) {
      await this.refresh();
      await new Promise((resolve) => {
        const timer = setTimeout(resolve, REFRESH_MILLISECONDS);
        signal.addEventListener("abort", () => (clearTimeout(timer), resolve()), { once: true });
      });
    }
  }

  /// The first `pages` pages again, so a refresh keeps what "Show more" added.
  async refresh() {
    try {
      let jobs = [];
      let cursor = null;
      for (let page = 0; page < this.pages; page += 1) {
        const answer = await getJson(`/v1/jobs${query({ status: this.status, limit: PAGE_SIZE, cursor })}`);
        jobs = jobs.concat(answer.jobs);
        cursor = answer.next_cursor;
        if (!cursor) break;
      }
      this.cursor = cursor;
      this.more.hidden = !cursor;
      fill(this.message, jobs.length ? null : h("p", {}, "No job yet. ", h("a", { href: "#/" }, "Convert a file.")));
      fill(this.body, jobs.map(jobRow));
    } catch (error) {
      fill(this.message, notice("error", error.message));
    }
  }

  async loadMore() {
    this.pages += 1;
    await this.refresh();
  }
}

function jobRow(job) {
  const progress = job.progress && job.progress.percent != null ? `${Math.floor(job.progress.percent)} % ${job.progress.stage}` : "";
  return h(
    "tr",
    {},
    h("td", {}, h("a", { href: `#/jobs/${job.id}` }, job.input.filename || job.id)),
    h("td", {}, statusBadge(job.status)),
    h("td", {}, formatTime(job.created_at)),
    h("td", {}, formatBytes(job.input.bytes)),
    h("td", {}, job.result ? formatNumber(job.result.rows) : ""),
    h("td", {}, progress),
  );
}
