// The convert view: files dropped or chosen become cards; each may be
// inspected (see inspect.js), then uploaded with a progress bar for the
// bytes sent and followed on the job's event stream to its end.

import { ApiProblem, followEvents, upload } from "/ui/api.js";
import { fill, formatBytes, formatNumber, formatSeconds, h, notice, ProgressLine, SKIPPABLE } from "/ui/dom.js";
import { Inspector } from "/ui/inspect.js";
import { downloadResult, describeJobError } from "/ui/job.js";

/// Uploads sent at once; the rest wait their turn.
const PARALLEL_UPLOADS = 2;

let cardCount = 0;
const cards = [];
const uploadQueue = [];
let uploading = 0;
/// "Convert all", shown once there are several files.
let toolbar = null;
/// The cards' list of the convert view on screen, if it is.
let currentList = null;

// A file dropped beside the zone would make the browser open it in place
// of this page, and every card would be lost: a drop anywhere is taken
// (as files to convert while the convert view shows, else ignored).
window.addEventListener("dragover", (event) => event.preventDefault());
// Leaving or reloading the page stops the uploads under way: ask first.
window.addEventListener("beforeunload", (event) => {
  if (uploading > 0) event.preventDefault();
});
window.addEventListener("drop", (event) => {
  event.preventDefault();
  if (currentList && currentList.isConnected && event.dataTransfer) addFiles(event.dataTransfer.files, currentList);
});

function showToolbar() {
  if (toolbar) toolbar.hidden = cards.length < 2;
}

export function renderConvert(main) {
  const input = h("input", { id: "files", type: "file", multiple: true, class: "visually-hidden", onchange: () => addFiles(input.files, list) });
  const drop = h(
    "label",
    { for: "files", class: "drop" },
    h("strong", {}, "Drop CSV files here"),
    h("span", {}, " or choose files"),
    h("small", {}, "CSV, TSV or text; gzip, zstd and zip archives too. Nothing leaves this server."),
  );
  const list = h("div", { class: "cards" });
  for (const card of cards) list.append(card.element);
  const convertAll = h("button", { type: "button", class: "primary", onclick: () => cards.forEach((card) => card.convert()) }, "Convert all");
  toolbar = h("div", { class: "toolbar", hidden: cards.length < 2 }, convertAll);
  drop.addEventListener("dragover", (event) => {
    event.preventDefault();
    drop.classList.add("over");
  });
  // Leaving for one of its own children is not leaving the zone.
  drop.addEventListener("dragleave", (event) => {
    if (!drop.contains(event.relatedTarget)) drop.classList.remove("over");
  });
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    event.stopPropagation();
    drop.classList.remove("over");
    addFiles(event.dataTransfer.files, list);
  });
  currentList = list;
  fill(
    main,
    h("h1", {}, "Convert CSV to Parquet"),
    h("p", { class: "lead" }, "Look at a file first to check its delimiter, decimal separator and column types, or convert it straight away."),
    input,
    drop,
    toolbar,
    list,
  );
}

function addFiles(files, list) {
  for (const file of files) {
    const card = new FileCard(file, `file${++cardCount}`);
    cards.push(card);
    list.append(card.element);
  }
  showToolbar();
}

class FileCard {
  constructor(file, id) {
    this.file = file;
    this.id = id;
    this.state = "ready";
    this.inspector = new Inspector(file, id);
    // Options changed after a conversion: it may be converted again with them.
    this.inspector.onChange = () => {
      if (this.state !== "done") return;
      this.state = "ready";
      this.convertButton.disabled = false;
    };
    this.inspectButton = h("button", { type: "button", "aria-expanded": "false", "aria-controls": `${id}-inspect`, onclick: () => this.toggleInspect() }, "Inspect");
    this.convertButton = h("button", { type: "button", class: "primary", onclick: () => this.convert() }, "Convert");
    this.removeButton = h("button", { type: "button", class: "quiet", onclick: () => this.remove() }, "Remove");
    this.jobLink = h("a", { href: "#/jobs", hidden: true }, "Open the job page");
    this.inspector.element.id = `${id}-inspect`;
    this.inspector.element.hidden = true;
    this.uploadProgress = new ProgressLine(`Upload of ${file.name}`);
    this.convertProgress = new ProgressLine(`Conversion of ${file.name}`);
    this.outcome = h("div", { class: "outcome", "aria-live": "polite" });
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
      this.jobLink,
    );
  }

  toggleInspect() {
    const open = this.inspector.element.hidden;
    this.inspector.element.hidden = !open;
    this.inspectButton.setAttribute("aria-expanded", String(open));
    if (open && !this.inspector.inspection) this.inspector.refresh();
  }

  remove() {
    if (this.state === "uploading") {
      // While its bytes go up, this button stops the upload.
      this.uploadAbort.abort();
      return;
    }
    if (this.state === "waiting") uploadQueue.splice(uploadQueue.indexOf(this), 1);
    cards.splice(cards.indexOf(this), 1);
    this.element.remove();
    showToolbar();
  }

  convert() {
    if (this.state !== "ready" && this.state !== "failed") return;
    this.state = "waiting";
    // The keyboard goes on to "Stop upload", not to the page's start.
    const hadFocus = this.element.contains(document.activeElement);
    this.convertButton.disabled = true;
    if (hadFocus) this.removeButton.focus();
    this.progress.hidden = false;
    this.jobLink.hidden = true;
    fill(this.outcome);
    this.uploadProgress.set(0, "waiting to upload");
    this.convertProgress.set(0, "");
    this.convertProgress.element.hidden = false;
    uploadQueue.push(this);
    pumpUploads();
  }

  async send() {
    if (!cards.includes(this)) return;
    this.state = "uploading";
    this.uploadAbort = new AbortController();
    this.removeButton.textContent = "Stop upload";
    const started = performance.now();
    const options = this.inspector.chosenOptions();
    try {
      const job = await upload(
        this.file,
        options,
        (sent, total) => {
          const seconds = (performance.now() - started) / 1000;
          const rate = seconds > 0 ? ` · ${formatBytes(sent / seconds)}/s` : "";
          this.uploadProgress.set((sent / total) * 100, `uploaded ${formatBytes(sent)} of ${formatBytes(total)}${rate}`);
        },
        this.uploadAbort.signal,
      );
      this.uploadProgress.set(100, `uploaded ${formatBytes(this.file.size)} in ${formatSeconds((performance.now() - started) / 1000)}`);
      this.state = "converting";
      this.removeButton.textContent = "Remove";
      const hadFocus = document.activeElement === this.removeButton;
      this.removeButton.disabled = true;
      this.jobLink.href = `#/jobs/${job.id}`;
      this.jobLink.hidden = false;
      if (hadFocus) this.jobLink.focus();
      this.follow(job);
    } catch (error) {
      this.removeButton.textContent = "Remove";
      this.uploadProgress.set(0, error.code === "upload-stopped" ? "upload stopped" : "upload refused");
      this.convertProgress.element.hidden = true;
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
    const hadFocus = document.activeElement === this.jobLink;
    this.removeButton.disabled = false;
    this.jobLink.hidden = true;
    const jobLink = h("a", { href: `#/jobs/${job.id}` }, "Open the job page");
    if (job.status === "succeeded") {
      this.state = "done";
      const result = job.result;
      this.convertProgress.set(100, `converted: 100 %`);
      fill(
        this.outcome,
        notice("success", `Converted ${formatNumber(result.rows)} rows into ${formatBytes(result.bytes)} of Parquet.`),
        h("div", { class: "buttons" }, h("button", { type: "button", class: "primary", onclick: () => this.download(job) }, "Download Parquet"), jobLink),
      );
    } else {
      this.convertProgress.set(0, job.status);
      const words = job.error ? describeJobError(job.error) : `The job was ${job.status}.`;
      fill(this.outcome, notice("error", words, this.skipButton(job.error)), h("div", { class: "buttons" }, jobLink));
      this.convertButton.disabled = false;
      this.state = "failed";
    }
    if (hadFocus) this.outcome.querySelector("a, button")?.focus();
  }

  async download(job) {
    try {
      await downloadResult(job);
    } catch (error) {
      this.outcome.append(notice("error", `The download could not start: ${error.message}`));
    }
  }

  fail(error) {
    this.state = "failed";
    this.convertButton.disabled = false;
    this.removeButton.disabled = false;
    const words = error instanceof ApiProblem ? error.message : `Something went wrong: ${error.message}`;
    // A code only for what the server said (not for a stopped upload or a lost connection).
    const code = error.status ? [" ", h("code", {}, error.code)] : null;
    fill(this.outcome, notice(error.code === "upload-stopped" ? "warning" : "error", words, code));
  }

  /// For a row that could not be read: one button to set "Bad rows" to skip
  /// them (they go to the rejects file) and send the file again.
  skipButton(error) {
    if (!error || !SKIPPABLE.includes(error.code) || this.inspector.options.on_error === "skip") return null;
    const retry = () => {
      this.inspector.options.on_error = "skip";
      if (this.inspector.inspection || !this.inspector.element.hidden) this.inspector.refresh();
      this.convert();
    };
    return h("div", { class: "buttons" }, h("button", { type: "button", onclick: retry }, "Skip bad rows and retry"));
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
