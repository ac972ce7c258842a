// One job's page: status and live progress, the timeline of its steps, what
// the conversion read (dialect, skipped lines, columns and their profile),
// the first rows of the result, the rejects, and download, trace, cancel
// and delete.

import { ApiProblem, followEvents, getJson, postJson, remove, send } from "/ui/api.js";
import { fill, formatBytes, formatNumber, formatSeconds, formatTime, formatValue, h, notice, ProgressLine, character, skippedLines, statusBadge, table } from "/ui/dom.js";

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
    const heading = h("h1", { tabindex: "-1" }, job.input.filename || "Job", " ", statusBadge(job.status));
    document.title = `${job.input.filename || "Job"} (${job.status}) — Parquetry`;
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
        // The button pressed is gone: the keyboard goes to the heading, which says the new status.
        this.main.querySelector("h1").focus();
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
          const left = data.seconds_left == null ? null : `about ${formatSeconds(data.seconds_left)} left`;
          this.progress.set(data.percent, [data.stage, percent == null ? null : `${percent} %`, data.rows == null ? null : `${formatNumber(data.rows)} rows`, left].filter(Boolean).join(" · "));
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
    if (job.result) parts.push(report(job.result));
    // The rows left out come before the (long) first rows, where they are seen.
    if (job.status !== "queued" && job.status !== "running" && job.options.on_error === "skip") {
      const rejects = h("section", {}, h("h2", {}, "Rejected rows"));
      parts.push(rejects);
      loadRejects(job, rejects);
    }
    if (job.result) {
      const preview = h("section", { "aria-busy": "true" }, h("h2", {}, "First rows of the result"));
      parts.push(preview);
      loadPreview(job, preview);
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
  // Each step is named by its `stage` (received, queued, claimed, …, the final status).
  const rows = job.timeline.map((step) => [step.stage ?? step.step, formatTime(step.started_at), formatSeconds(step.seconds)]);
  return h("section", {}, h("h2", {}, "Timeline"), table("Steps of the job", ["Step", "Started", "Took"], rows));
}

/// What the conversion read: the dialect, the lines it skipped, and per
/// column the type, where it came from and the profile of its values.
function report(result) {
  const dialect = result.dialect;
  const skipped = result.skipped || {};
  const facts = [
    `encoding ${dialect.encoding}`,
    `delimiter ${character(dialect.delimiter)}`,
    `header ${dialect.header ? "yes" : "no"}`,
    `decimal separator ${character(dialect.decimal_separator)}`,
    `input ${dialect.input_compression === "none" ? "not compressed" : dialect.input_compression}`,
    skipped.before_table ? `${skipped.before_table} line(s) above the header skipped` : null,
    skipped.footer ? `${skipped.footer} footer line(s) dropped` : null,
  ].filter(Boolean);
  let rows = result.columns.map((column) => {
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
  // Columns that say nothing for any column (no distinct counts, no notes) are left out.
  let headings = ["Column", "Type", "Type from", "Decimal", "Nulls", "Min", "Max", "Distinct", "Note"];
  const shown = headings.map((_, i) => i < 3 || rows.some((row) => row[i] !== "" && row[i] !== "–"));
  headings = headings.filter((_, i) => shown[i]);
  rows = rows.map((row) => row.filter((_, i) => shown[i]));
  return h(
    "section",
    {},
    h("h2", {}, "What was read"),
    h("p", { class: "facts" }, facts.join(" · ")),
    skippedLines(skipped),
    result.sample_cut ? notice("warning", result.sample_cut) : null,
    table("Columns and their profile", headings, rows),
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
    const response = await send(`/v1/jobs/${job.id}/rejects`, { headers: { Accept: "text/csv" } });
    const text = await response.text();
    const [heading, ...records] = parseCsv(text);
    const total = (job.result && job.result.rows_rejected) || records.length;
    if (!heading || !records.length) {
      section.append(h("p", {}, "No row was rejected."));
      return;
    }
    const shown = records.slice(0, REJECT_LINES);
    const caption = shown.length < total ? `First ${shown.length} of ${formatNumber(total)} rejected rows` : `${formatNumber(total)} rejected ${total === 1 ? "row" : "rows"}`;
    section.append(table(caption, heading, shown.map((record) => record.map((cell, i) => (heading[i] === "raw" ? h("code", {}, cell) : cell)))));
    const save = () => {
      const url = URL.createObjectURL(new Blob([text], { type: "text/csv" }));
      const anchor = h("a", { href: url, download: `${baseName(job.input.filename)}.rejects.csv`, hidden: true });
      document.body.append(anchor);
      anchor.click();
      anchor.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10_000);
    };
    section.append(h("div", { class: "buttons" }, h("button", { type: "button", onclick: save }, "Download the rejected rows (CSV)")));
  } catch (error) {
    section.append(notice("error", error.message));
  }
}

/// The rows of a CSV text (RFC 4180: quoted fields, doubled quotes, line
/// breaks inside quotes), as the rejects file is written.
function parseCsv(text) {
  const records = [];
  let record = [];
  let field = "";
  let quoted = false;
  for (let i = 0; i < text.length; i += 1) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') (field += '"'), (i += 1);
      else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ",") record.push(field), (field = "");
    else if (c === "\n" || c === "\r") {
      if (c === "\r" && text[i + 1] === "\n") i += 1;
      record.push(field);
      records.push(record);
      (record = []), (field = "");
    } else field += c;
  }
  if (field || record.length) record.push(field), records.push(record);
  return records;
}
