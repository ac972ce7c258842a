// The page's client of the public API: every request goes through here,
// with the API key the user typed (kept in this tab's session storage) and
// problem+json answers turned into errors that say what went wrong.

const KEY_ITEM = "parquetry.api-key";
/// Event streams open at once: a browser gives a server about six
/// connections, and uploads and page loads need some of them.
const MAX_STREAMS = 3;

export class ApiProblem extends Error {
  constructor(status, problem) {
    super(describeProblem(status, problem));
    this.status = status;
    this.problem = problem || {};
    this.code = this.problem.code || `http-${status}`;
  }
}

/// The problem's words: its detail, its code, and for a CSV its line.
export function describeProblem(status, problem) {
  if (!problem) return `The server answered ${status}.`;
  const parts = [problem.detail || problem.title || `The server answered ${status}.`];
  if (problem.line != null && !String(problem.detail || "").includes(`line ${problem.line}`)) {
    parts.push(`(line ${problem.line}${problem.column ? `, column ${problem.column}` : ""})`);
  }
  return parts.join(" ");
}

export function currentKey() {
  return sessionStorage.getItem(KEY_ITEM);
}

export function forgetKey() {
  sessionStorage.removeItem(KEY_ITEM);
  document.dispatchEvent(new CustomEvent("parquetry:key"));
}

let pendingKeyPrompt = null;
/// Set when the user closed the key dialog without a key: requests made in
/// the background (the job list refreshing) then fail instead of asking
/// again every two seconds; "Enter API key" in the header asks again.
let keyDeclined = false;

export function keyWasDeclined() {
  return keyDeclined;
}

/// Asks for a key at the user's request (the header's button); true when one was given.
export function promptForKey() {
  keyDeclined = false;
  return askForKey("This server needs an API key. It is kept in this browser tab only and sent to this server alone.");
}

/// Asks for a key once, however many requests were refused together.
function askForKey(reason) {
  if (pendingKeyPrompt) return pendingKeyPrompt;
  if (keyDeclined) return Promise.resolve(false);
  const dialog = document.getElementById("key-dialog");
  const form = document.getElementById("key-form");
  const input = document.getElementById("key-input");
  document.getElementById("key-reason").textContent = reason;
  input.value = "";
  pendingKeyPrompt = new Promise((resolve) => {
    dialog.addEventListener("close", function closed() {
      dialog.removeEventListener("close", closed);
      pendingKeyPrompt = null;
      const key = dialog.returnValue === "save" ? input.value.trim() : "";
      if (key) sessionStorage.setItem(KEY_ITEM, key);
      keyDeclined = !key;
      document.dispatchEvent(new CustomEvent("parquetry:key"));
      resolve(Boolean(key));
    });
    form.onsubmit = (event) => {
      event.preventDefault();
      dialog.close(event.submitter ? event.submitter.value : "save");
    };
    // Escape closes without a submit: no earlier answer may count as "save".
    dialog.returnValue = "";
    dialog.showModal();
    input.focus();
  });
  return pendingKeyPrompt;
}

function keyReason(problem) {
  const detail = problem && problem.detail ? ` (${problem.detail})` : "";
  return problem && problem.code === "unauthorized"
    ? "This server needs an API key. It is kept in this browser tab only and sent to this server alone."
    : `The key was refused${detail}. Type another one.`;
}

/// A refused request's problem, saying where to type a key.
function withKeyHint(problem) {
  const detail = (problem && (problem.detail || problem.title)) || "This server needs an API key.";
  return { ...(problem || {}), code: (problem && problem.code) || "unauthorized", detail: `${detail}. Use "Enter API key" at the top of the page.`.replace(/\.\. /, ". ") };
}

function authorization() {
  const key = currentKey();
  return key ? { Authorization: `Bearer ${key}` } : {};
}

async function readProblem(response) {
  const type = response.headers.get("content-type") || "";
  if (type.includes("json")) {
    try {
      return await response.json();
    } catch {
      return null;
    }
  }
  return null;
}

/// `fetch` with the key; a 401 asks for a key and tries again.
export async function send(path, init = {}) {
  for (;;) {
    const headers = { ...(init.headers || {}), ...authorization() };
    const response = await fetch(path, { ...init, headers });
    if (response.status === 401) {
      const problem = await readProblem(response);
      if (await askForKey(keyReason(problem))) continue;
      throw new ApiProblem(401, withKeyHint(problem));
    }
    if (!response.ok && response.status !== 304) {
      throw new ApiProblem(response.status, await readProblem(response));
    }
    return response;
  }
}

export async function getJson(path) {
  return (await send(path, { headers: { Accept: "application/json" } })).json();
}

export async function postJson(path, body) {
  const response = await send(path, {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "application/json" },
    body: JSON.stringify(body),
  });
  return response.json();
}

export async function remove(path) {
  await send(path, { method: "DELETE" });
}

/// The query string of a set of options (name → value).
export function query(options) {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(options)) {
    if (value !== "" && value != null) params.append(name, value);
  }
  const text = params.toString();
  return text ? `?${text}` : "";
}

function randomKey() {
  if (crypto.randomUUID) return crypto.randomUUID();
  // Pages served over plain http to another machine have no randomUUID.
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/// Uploads a file as the request body (the job's options in the query),
/// reporting bytes sent; resolves with the job. One `Idempotency-Key` for
/// every try, so a retried upload never makes a second job.
export function upload(file, options, onProgress, signal) {
  const idempotencyKey = randomKey();
  const attempt = () =>
    new Promise((resolve, reject) => {
      const request = new XMLHttpRequest();
      const stopped = () => request.abort();
      if (signal) {
        if (signal.aborted) return reject(new ApiProblem(0, { detail: "The upload was stopped.", code: "upload-stopped" }));
        signal.addEventListener("abort", stopped, { once: true });
      }
      request.onloadend = () => signal && signal.removeEventListener("abort", stopped);
      request.onabort = () => reject(new ApiProblem(0, { detail: "The upload was stopped.", code: "upload-stopped" }));
      request.open("POST", `/v1/jobs${query({ ...options, filename: file.name })}`);
      request.setRequestHeader("Content-Type", "application/octet-stream");
      request.setRequestHeader("Idempotency-Key", idempotencyKey);
      request.setRequestHeader("Accept", "application/json");
      const key = currentKey();
      if (key) request.setRequestHeader("Authorization", `Bearer ${key}`);
      request.upload.onprogress = (event) => onProgress(event.loaded, event.total || file.size);
      request.onload = () => {
        let body = null;
        try {
          body = JSON.parse(request.responseText);
        } catch {
          body = null;
        }
        if (request.status >= 200 && request.status < 300) resolve(body);
        else reject(new ApiProblem(request.status, body));
      };
      request.onerror = () => reject(new ApiProblem(0, { detail: "The connection to the server was lost.", code: "connection-lost" }));
      request.send(file);
    });
  return (async () => {
    for (let tries = 1; ; tries += 1) {
      try {
        return await attempt();
      } catch (error) {
        if (error.status === 401) {
          if (await askForKey(keyReason(error.problem))) continue;
          throw new ApiProblem(401, withKeyHint(error.problem));
        }
        if (error.status === 0 && error.code !== "upload-stopped" && tries < 3) continue;
        throw error;
      }
    }
  })();
}

const waitingStreams = [];
let openStreams = 0;

async function streamSlot() {
  if (openStreams < MAX_STREAMS) {
    openStreams += 1;
    return;
  }
  await new Promise((resolve) => waitingStreams.push(resolve));
}

function releaseStreamSlot() {
  const next = waitingStreams.shift();
  if (next) next();
  else openStreams -= 1;
}

/// Follows a job's event stream (Server-Sent Events read with `fetch`, which,
/// unlike `EventSource`, can send the key), calling `onEvent(name, data)`;
/// resumes with `Last-Event-ID` when the connection drops, until the job ends
/// or `signal` aborts.
export async function followEvents(path, onEvent, signal) {
  await streamSlot();
  let lastId = "";
  try {
    for (let failures = 0; !signal.aborted && failures < 5; ) {
      try {
        const headers = { Accept: "text/event-stream" };
        if (lastId) headers["Last-Event-ID"] = lastId;
        const response = await send(path, { headers, signal });
        const ended = await readEvents(response.body, (event) => {
          if (event.id != null) lastId = event.id;
          onEvent(event.event || "message", JSON.parse(event.data));
        });
        if (ended) return;
      } catch (error) {
        if (signal.aborted || error instanceof ApiProblem) throw error;
        failures += 1;
      }
    }
  } finally {
    releaseStreamSlot();
  }
}

/// Reads an event stream to its end; true when the server ended it.
async function readEvents(body, dispatch) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return true;
    buffer += value.replace(/\r\n?/g, "\n");
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const event = parseEvent(block);
      if (event.data != null) dispatch(event);
    }
  }
}

function parseEvent(block) {
  const event = {};
  for (const line of block.split("\n")) {
    if (!line || line.startsWith(":")) continue;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
    if (field === "data") event.data = event.data == null ? value : `${event.data}\n${value}`;
    else if (field === "event" || field === "id") event[field] = value;
  }
  return event;
}
