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
        h("thead", {}, h("tr", {}, ["File", "Status", "Created", "Size", "Rows", "Progress or error"].map((t) => h("th", { scope: "col" }, t)))),
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
    /// What was last shown, so a refresh that changes nothing touches nothing
    /// (a link being focused or read by a screen reader stays where it is).
    this.shown = null;
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
      if (this.more.hidden !== !cursor) {
        // The last page is shown: keep the keyboard in the list, not on a hidden button.
        if (!cursor && document.activeElement === this.more) this.body.closest(".table-wrap").focus();
        this.more.hidden = !cursor;
      }
      const empty = this.status ? `No ${this.status} job. ` : "No job yet. ";
      const key = JSON.stringify(jobs.map((job) => [job.id, job.status, job.progress, job.result && job.result.rows, job.error && job.error.code]));
      if (key === this.shown) return;
      this.shown = key;
      fill(this.message, jobs.length ? null : h("p", {}, empty, h("a", { href: "#/" }, "Convert a file.")));
      const focused = this.body.contains(document.activeElement) ? document.activeElement.getAttribute("href") : null;
      fill(this.body, jobs.map(jobRow));
      if (focused) this.body.querySelector(`a[href="${CSS.escape(focused)}"]`)?.focus();
    } catch (error) {
      this.shown = null;
      fill(this.message, notice("error", error.message));
    }
  }

  async loadMore() {
    this.pages += 1;
    await this.refresh();
  }
}

function jobRow(job) {
  let progress = job.progress && job.progress.percent != null ? `${Math.floor(job.progress.percent)} % ${job.progress.stage}` : "";
  if (job.error) progress = `${job.error.code}${job.error.line != null ? `, line ${job.error.line}` : ""}`;
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
