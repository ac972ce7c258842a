// The convert view: files dropped or chosen become cards; each may be
// inspected (see inspect.js), then uploaded with a progress bar for the
// bytes sent and followed on the job's event stream to its end.

import { ApiProblem, followEvents, upload } from "/ui/api.js";
import { fill, formatBytes, formatNumber, formatSeconds, h, notice, ProgressLine } from "/ui/dom.js";
import { Inspector } from "/ui/inspect.js";
import { downloadResult, describeJobError } from "/ui/job.js";

/// Uploads sent at once; the rest wait their turn.
const PARALLEL_UPLOADS = 2;

let cardCount = 0;
const cards = [];
const uploadQueue = [];
let uploading = 0;

export function renderConvert(main) {
  const input = h("input", { id: "files", type: "file", multiple: true, class: "visually-hidden", onchange: () => addFiles(input.files, list) });
  const drop = h(
    "label",
    { for: "files", class: "drop" },
    h("strong", {}, "Drop CSV files here"),
    h("span", {}, " or choose files"),
    h("small", {}, "CSV, TSV or text; gzip, zstd and zip archives too. Nothing leaves this server."),
  );
  const list = h("div", { class: "cards", "aria-live": "polite" });
  for (const card of cards) list.append(card.element);
  const convertAll = h("button", { type: "button", class: "primary", onclick: () => cards.forEach((card) => card.convert()) }, "Convert all");
  drop.addEventListener("dragover", (event) => {
    event.preventDefault();
    drop.classList.add("over");
  });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    drop.classList.remove("over");
    addFiles(event.dataTransfer.files, list);
  });
  fill(
    main,
    h("h1", {}, "Convert CSV to Parquet"),
    h("p", { class: "lead" }, "Look at a file first to check its delimiter, decimal separator and column types, or convert it straight away."),
    input,
    drop,
    h("div", { class: "toolbar" }, convertAll),
    list,
  );
}

function addFiles(files, list) {
  for (const file of files) {
    const card = new FileCard(file, `file${++cardCount}`);
    cards.push(card);
    list.append(card.element);
  }
}

class FileCard {
  constructor(file, id) {
    this.file = file;
    this.id = id;
    this.state = "ready";
    this.inspector = new Inspector(file, id);
    this.inspectButton = h("button", { type: "button", "aria-expanded": "false", "aria-controls": `${id}-inspect`, onclick: () => this.toggleInspect() }, "Inspect");
    this.convertButton = h("button", { type: "button", class: "primary", onclick: () => this.convert() }, "Convert");
    this.removeButton = h("button", { type: "button", class: "quiet", onclick: () => this.remove() }, "Remove");
    this.inspector.element.id = `${id}-inspect`;
    this.inspector.element.hidden = true;
    this.uploadProgress = new ProgressLine(`Upload of ${file.name}`);
    this.convertProgress = new ProgressLine(`Conversion of ${file.name}`);
    this.outcome = h("div", { class: "outcome" });
    this.progress = h("div", { class: "card-progress", hidden: true }, this.uploadProgress.element, this.convertProgress.element);
    this.element = h(
      "article",
      { class: "card", "aria-labelledby": `${id}-name` },
      h(
        "header",
        {},
        h("h2", { id: `${id}-name` }, file.name),
        h("span", { class: "muted" }, formatBytes(file.size)),
        h("div", { class: "buttons" }, this.inspectButton, this.convertButton, this.removeButton),
      ),
      this.inspector.element,
      this.progress,
      this.outcome,
    );
  }

  toggleInspect() {
    const open = this.inspector.element.hidden;
    this.inspector.element.hidden = !open;
    this.inspectButton.setAttribute("aria-expanded", String(open));
    if (open && !this.inspector.inspection) this.inspector.refresh();
  }

  remove() {
    if (this.state === "uploading") return;
    cards.splice(cards.indexOf(this), 1);
    this.element.remove();
  }

  convert() {
    if (this.state !== "ready" && this.state !== "failed") return;
    this.state = "waiting";
    this.convertButton.disabled = true;
    this.removeButton.disabled = true;
    this.progress.hidden = false;
    fill(this.outcome);
    this.uploadProgress.set(0, "waiting to upload");
    this.convertProgress.set(0, "");
    uploadQueue.push(this);
    pumpUploads();
  }

  async send() {
    this.state = "uploading";
    const started = performance.now();
    const options = this.inspector.chosenOptions();
    try {
      const job = await upload(this.file, options, (sent, total) => {
        const seconds = (performance.now() - started) / 1000;
        const rate = seconds > 0 ? `${formatBytes(sent / seconds)}/s` : "";
        this.uploadProgress.set((sent / total) * 100, `uploaded ${formatBytes(sent)} of ${formatBytes(total)} ${rate}`);
      });
      this.uploadProgress.set(100, `uploaded ${formatBytes(this.file.size)} in ${formatSeconds((performance.now() - started) / 1000)}`);
      this.state = "converting";
      this.follow(job);
    } catch (error) {
      this.fail(error);
    }
  }

  async follow(job) {
    this.convertProgress.set(null, `${job.status}: waiting for a worker`);
    const controller = new AbortController();
    let final = job;
    try {
      await followEvents(
        job.links.events,
        (event, data) => {
          if (event === "progress") this.showProgress(data);
          else if (event === "status") {
            final = data;
            if (data.status === "queued") this.convertProgress.set(null, "queued: waiting for a worker");
          }
        },
        controller.signal,
      );
    } catch (error) {
      this.fail(error);
      return;
    }
    this.finish(final);
  }

  showProgress(progress) {
    const parts = [progress.stage];
    if (progress.percent != null) parts.push(`${Math.floor(progress.percent)} %`);
    if (progress.rows != null) parts.push(`${formatNumber(progress.rows)} rows`);
    if (progress.seconds_left != null) parts.push(`about ${formatSeconds(progress.seconds_left)} left`);
    this.convertProgress.set(progress.percent, parts.join(" · "));
  }

  finish(job) {
    this.removeButton.disabled = false;
    const jobLink = h("a", { href: `#/jobs/${job.id}` }, "Open the job page");
    if (job.status === "succeeded") {
      this.state = "done";
      const result = job.result;
      this.convertProgress.set(100, `converted: 100 %`);
      fill(
        this.outcome,
        notice("success", `Converted ${formatNumber(result.rows)} rows into ${formatBytes(result.bytes)} of Parquet.`),
        h("div", { class: "buttons" }, h("button", { type: "button", class: "primary", onclick: () => downloadResult(job) }, "Download Parquet"), jobLink),
      );
    } else {
      this.state = job.status === "failed" ? "failed" : "done";
      this.convertProgress.set(0, job.status);
      const words = job.error ? describeJobError(job.error) : `The job was ${job.status}.`;
      fill(this.outcome, notice("error", words), jobLink);
      this.convertButton.disabled = false;
    }
  }

  fail(error) {
    this.state = "failed";
    this.convertButton.disabled = false;
    this.removeButton.disabled = false;
    const words = error instanceof ApiProblem ? error.message : `Something went wrong: ${error.message}`;
    fill(this.outcome, notice("error", words, error.code ? h("code", {}, ` ${error.code}`) : null));
  }
}

function pumpUploads() {
  while (uploading < PARALLEL_UPLOADS && uploadQueue.length) {
    const card = uploadQueue.shift();
    uploading += 1;
    card.send().finally(() => {
      uploading -= 1;
      pumpUploads();
    });
  }
}
