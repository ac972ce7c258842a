// The page's routes, kept in the address's fragment so the server serves
// one page: `#/` converts files, `#/jobs` lists jobs, `#/jobs/ID` shows one.

import { currentKey, forgetKey, keyWasDeclined, promptForKey } from "/ui/api.js";
import { renderConvert } from "/ui/convert.js";
import { renderJob } from "/ui/job.js";
import { renderJobs } from "/ui/jobs.js";

const main = document.getElementById("main");
/// Stops the streams and refreshes of the view being left.
let leaving = new AbortController();

function route() {
  leaving.abort();
  leaving = new AbortController();
  const [path, search] = (location.hash.slice(1) || "/").split("?");
  const parameters = new URLSearchParams(search || "");
  const job = path.match(/^\/jobs\/([0-9a-fA-F-]{36})$/);
  let section = "convert";
  if (job) {
    section = "jobs";
    renderJob(main, job[1], leaving.signal);
    document.title = "Job — Parquetry";
  } else if (path === "/jobs") {
    section = "jobs";
    renderJobs(main, leaving.signal, parameters.get("status") || "");
    document.title = "Jobs — Parquetry";
  } else {
    renderConvert(main);
    document.title = "Parquetry — CSV to Parquet";
  }
  for (const link of document.querySelectorAll("[data-nav]")) {
    if (link.dataset.nav === section) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  // A new view: move the keyboard and screen readers to it.
  if (document.activeElement !== document.body) main.focus({ preventScroll: true });
}

/// The header's key button: "Forget API key" while one is kept, "Enter API
/// key" after the dialog was closed without one (so it can be typed later).
function showKeyButton() {
  const button = document.getElementById("key-button");
  button.hidden = !currentKey() && !keyWasDeclined();
  button.textContent = currentKey() ? "Forget API key" : "Enter API key";
}

document.getElementById("key-button").addEventListener("click", async () => {
  if (currentKey()) {
    forgetKey();
    return;
  }
  // Shown again with the key, so what was refused is asked again.
  if (await promptForKey()) route();
});
document.addEventListener("parquetry:key", showKeyButton);
window.addEventListener("hashchange", route);
showKeyButton();
route();
