// One job's page: status and live progress, the timeline of its steps, what
// the conversion read (dialect, skipped lines, columns and their profile),
// the first rows of the result, the rejects, and download, trace, cancel
// and delete.

import { ApiProblem, followEvents, getJson, postJson, remove, send } from "/ui/api.js";
import { fill, formatBytes, formatNumber, formatSeconds, formatTime, formatValue, h, notice, ProgressLine, statusBadge, table } from "/ui/dom.js";

const PREVIEW_ROWS = 50;
/// Rejected lines shown on the page; the whole file is a download away.
const REJECT_LINES = 50;
const ACTIVE = ["queued", "running"];

/// The result, downloaded by the browser itself (no copy in the page's
/// memory): through a share link, which needs no key header.
export async function downloadResult(job) {
  const link = await postJson(`/v1/jobs/${job.id}/links`, { expires_in: 300 });
  const anchor = h("a", { href: link.url, download: `${baseName(job.input.filename)}.parquet`, hidden: true });
  document.body.append(anchor);
  anchor.click();
  anchor.remove();
}

function baseName(filename) {
  return (filename || "result").replace(/\.(csv|tsv|txt|gz|zst|zip)$/gi, "").replace(/\.(csv|tsv|txt)$/i, "") || "result";
}

/// A failed job's error in words: message, code and line.
export function describeJobError(error) {
  const place = error.line != null ? ` (line ${error.line}${error.column ? `, column ${error.column}` : ""})` : "";
  return `${error.message}${error.message.includes(`line ${error.line}`) ? "" : place} — ${error.code}`;
}

export async function renderJob(main, id, signal) {
  fill(main, h("h1", {}, "Job"), h("p", { "aria-busy": "true" }, "Loading…"));
  let job;
  try {
    job = await getJson(`/v1/jobs/${encodeURIComponent(id)}`);
  } catch (error) {
    fill(main, h("h1", {}, "Job"), notice("error", error.message), h("p", {}, h("a", { href: "#/jobs" }, "Back to the jobs")));
    return;
  }
  const page = new JobPage(main, job);
  page.render();
  if (ACTIVE.includes(job.status)) page.follow(signal);
}

class JobPage {
  constructor(main, job) {
    this.main = main;
    this.job = job;
    this.progress = new ProgressLine("Conversion progress");
    this.sections = h("div", {});
    this.message = h("div", { "aria-live": "polite" });
  }

  render() {
    const job = this.job;
    const heading = h("h1", {}, job.input.filename || "Job", " ", statusBadge(job.status));
    fill(this.main, heading, this.actions(), this.message, this.sections);
    this.renderSections();
  }

  actions() {
    const job = this.job;
    const buttons = [];
    if (job.status === "succeeded") {
      buttons.push(h("button", { type: "button", class: "primary", onclick: () => this.act(() => downloadResult(job)) }, "Download Parquet"));
    }
    if (job.links.trace) buttons.push(h("a", { href: job.links.trace, target: "_blank", rel: "noopener" }, "Open the trace"));
    const active = ACTIVE.includes(job.status);
    buttons.push(
      h("button", { type: "button", class: "danger", onclick: () => this.removeJob(active) }, active ? "Cancel the job" : "Delete the job"),
    );
    return h("div", { class: "buttons" }, buttons, h("a", { href: "#/jobs" }, "All jobs"));
  }

  async act(action) {
    try {
      await action();
    } catch (error) {
      fill(this.message, notice("error", error.message));
    }
  }

  async removeJob(active) {
    const question = active ? "Cancel this job?" : "Delete this job and its files?";
    if (!window.confirm(question)) return;
    await this.act(async () => {
      await remove(`/v1/jobs/${this.job.id}`);
      if (active) {
        this.job = await getJson(`/v1/jobs/${this.job.id}`);
        this.render();
      } else {
        location.hash = "#/jobs";
      }
    });
  }

  follow(signal) {
    followEvents(
      this.job.links.events,
      (event, data) => {
        if (event === "progress") {
          const percent = data.percent == null ? null : Math.floor(data.percent);
          this.progress.set(data.percent, [data.stage, percent == null ? null : `${percent} %`, data.rows == null ? null : `${formatNumber(data.rows)} rows`].filter(Boolean).join(" · "));
        } else if (event === "status") {
          const changed = data.status !== this.job.status;
          this.job = data;
          if (changed) this.render();
        }
      },
      signal,
    ).catch((error) => {
      if (!signal.aborted) fill(this.message, notice("error", error.message));
    });
  }

  renderSections() {
    const job = this.job;
    const parts = [this.summary()];
    if (ACTIVE.includes(job.status)) parts.push(h("section", {}, h("h2", {}, "Progress"), this.progress.element));
    if (job.error) parts.push(notice("error", describeJobError(job.error)));
    parts.push(timeline(job));
    if (job.result) {
      parts.push(report(job.result));
      const preview = h("section", { "aria-busy": "true" }, h("h2", {}, "First rows of the result"));
      parts.push(preview);
      loadPreview(job, preview);
    }
    if (job.status !== "queued" && job.status !== "running" && job.options.on_error === "skip") {
      const rejects = h("section", {}, h("h2", {}, "Rejected rows"));
      parts.push(rejects);
      loadRejects(job, rejects);
    }
    fill(this.sections, parts);
  }

  summary() {
    const job = this.job;
    const result = job.result;
    const facts = [
      ["Status", statusBadge(job.status)],
      ["File", `${job.input.filename} (${formatBytes(job.input.bytes)})`],
      ["Created", formatTime(job.created_at)],
      ["Finished", formatTime(job.finished_at)],
      result ? ["Rows", formatNumber(result.rows)] : null,
      result && result.rows_rejected ? ["Rows rejected", formatNumber(result.rows_rejected)] : null,
      result ? ["Parquet", `${formatBytes(result.bytes)}, ${result.row_groups} row group(s), ${result.compression}`] : null,
      ["Options", Object.keys(job.options).length ? h("code", {}, Object.entries(job.options).map(([k, v]) => `${k}=${v}`).join(" ")) : "none (all detected)"],
      ["Attempts", `${job.attempts} of ${job.max_attempts}`],
      ["Expires", formatTime(job.expires_at)],
      ["Job id", h("code", {}, job.id)],
    ].filter(Boolean);
    return h("dl", { class: "facts" }, facts.map(([term, value]) => [h("dt", {}, term), h("dd", {}, value)]));
  }
}

function timeline(job) {
  const rows = job.timeline.map((step) => [step.step, formatTime(step.started_at), formatSeconds(step.seconds)]);
  return h("section", {}, h("h2", {}, "Timeline"), table("Steps of the job", ["Step", "Started", "Took"], rows));
}

/// What the conversion read: the dialect, the lines it skipped, and per
/// column the type, where it came from and the profile of its values.
function report(result) {
  const dialect = result.dialect;
  const skipped = result.skipped || {};
  const facts = [
    `encoding ${dialect.encoding}`,
    `delimiter ${dialect.delimiter === "\t" ? "tab" : dialect.delimiter}`,
    `header ${dialect.header ? "yes" : "no"}`,
    `decimal separator ${dialect.decimal_separator}`,
    `input ${dialect.input_compression === "none" ? "not compressed" : dialect.input_compression}`,
    skipped.before_table ? `${skipped.before_table} line(s) above the header skipped` : null,
    skipped.footer ? `${skipped.footer} footer line(s) dropped` : null,
  ].filter(Boolean);
  const rows = result.columns.map((column) => {
    const profile = column.profile || {};
    return [
      column.name,
      column.arrow_type,
      column.type_source,
      column.decimal_separator || "",
      formatNumber(profile.null_count),
      profile.min == null ? "" : String(profile.min),
      profile.max == null ? "" : String(profile.max),
      profile.distinct_count == null ? "" : formatNumber(profile.distinct_count),
      column.note || "",
    ];
  });
  return h(
    "section",
    {},
    h("h2", {}, "What was read"),
    h("p", { class: "facts" }, facts.join(" · ")),
    result.sample_cut ? notice("warning", result.sample_cut) : null,
    table("Columns and their profile", ["Column", "Type", "Type from", "Decimal", "Nulls", "Min", "Max", "Distinct", "Note"], rows),
  );
}

async function loadPreview(job, section) {
  try {
    const preview = await getJson(`/v1/jobs/${job.id}/preview?limit=${PREVIEW_ROWS}`);
    const headings = preview.columns.map((column) => h("span", {}, column.name, h("small", { class: "type" }, column.arrow_type)));
    const rows = preview.rows.map((row) => row.map(formatValue));
    section.append(table(`First ${rows.length} of ${formatNumber(preview.rows_total)} rows`, headings, rows, { class: "rows" }));
  } catch (error) {
    section.append(notice("error", error instanceof ApiProblem ? error.message : String(error)));
  } finally {
    section.removeAttribute("aria-busy");
  }
}

async function loadRejects(job, section) {
  try {
    const text = await (await send(`/v1/jobs/${job.id}/rejects`, { headers: { Accept: "text/csv" } })).text();
    const lines = text.split("\n").filter(Boolean);
    if (lines.length <= 1) {
      section.append(h("p", {}, "No row was rejected."));
      return;
    }
    section.append(h("p", {}, `${lines.length - 1} rejected row(s); the first ${Math.min(REJECT_LINES, lines.length - 1)}:`));
    section.append(h("pre", { class: "rejects", tabindex: "0" }, lines.slice(0, REJECT_LINES + 1).join("\n")));
  } catch (error) {
    section.append(notice("error", error.message));
  }
}
