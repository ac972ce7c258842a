// Small helpers for building the page: elements, tables, numbers and sizes.
// Text always goes in as text nodes, never as HTML, so nothing a file or
// the server says can become markup.

/// An element: `h("p", { class: "x" }, "text", child)`.
export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value == null || value === false) continue;
    if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else if (name in element && typeof value !== "string") element[name] = value;
    else element.setAttribute(name, value === true ? "" : value);
  }
  append(element, children);
  return element;
}

function append(element, children) {
  for (const child of children.flat(Infinity)) {
    if (child == null || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/// Replaces an element's children.
export function fill(element, ...children) {
  element.replaceChildren();
  append(element, children);
  return element;
}

const byteUnits = ["B", "KB", "MB", "GB", "TB"];

export function formatBytes(bytes) {
  if (bytes == null) return "–";
  let value = Number(bytes);
  let unit = 0;
  while (value >= 1000 && unit < byteUnits.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return `${value.toLocaleString(undefined, { maximumFractionDigits: unit ? 1 : 0 })} ${byteUnits[unit]}`;
}

export function formatNumber(value) {
  return value == null ? "–" : Number(value).toLocaleString();
}

export function formatSeconds(seconds) {
  if (seconds == null) return "–";
  if (seconds < 1) return `${Math.round(seconds * 1000)} ms`;
  if (seconds < 90) return `${seconds.toFixed(seconds < 10 ? 2 : 1)} s`;
  return `${Math.floor(seconds / 60)} min ${Math.round(seconds % 60)} s`;
}

export function formatTime(rfc3339) {
  if (!rfc3339) return "–";
  const date = new Date(rfc3339);
  return h("time", { datetime: rfc3339 }, date.toLocaleString());
}

/// A value of a preview row as text: null shown as such, not as "".
export function formatValue(value) {
  if (value === null) return h("span", { class: "null" }, "null");
  return String(value);
}

/// A scrollable table with a caption; `rows` are arrays of cells.
export function table(caption, headings, rows, options = {}) {
  const head = h("tr", {}, headings.map((heading) => h("th", { scope: "col" }, heading)));
  const body = rows.map((cells) => h("tr", {}, cells.map((cell) => h("td", {}, cell))));
  return h(
    "div",
    { class: "table-wrap", tabindex: "0", role: "region", "aria-label": caption },
    h("table", { class: options.class }, h("caption", {}, caption), h("thead", {}, head), h("tbody", {}, body)),
  );
}

export function statusBadge(status) {
  return h("span", { class: `status status-${status}` }, status);
}

/// A labelled progress bar with a line of text under it.
export class ProgressLine {
  constructor(label) {
    this.bar = h("progress", { max: 100, "aria-label": label });
    // Not a live region: read out four times a second it would drown
    // everything else; the card's outcome is announced instead.
    this.text = h("span", { class: "progress-text" });
    this.element = h("div", { class: "progress" }, this.bar, this.text);
  }

  set(percent, text) {
    if (percent == null) this.bar.removeAttribute("value");
    else this.bar.value = Math.max(0, Math.min(100, percent));
    this.text.textContent = text;
  }
}

/// A message in words for people, with its role (alert for errors).
export function notice(kind, ...children) {
  return h("div", { class: `notice notice-${kind}`, role: kind === "error" ? "alert" : "status" }, children);
}

/// The lines a conversion left out, quoted, so nothing goes silently: the
/// first line above the header and the footer lines dropped.
export function skippedLines(skipped) {
  if (!skipped) return null;
  const footer = skipped.footer_lines || [];
  return [
    skipped.first_before_table ? h("p", { class: "muted quoted" }, "First line above the header, skipped: ", h("q", {}, skipped.first_before_table)) : null,
    footer.length
      ? h("p", { class: "muted quoted" }, `Footer ${footer.length > 1 ? "lines" : "line"} dropped: `, footer.map((line, i) => [i ? ", " : "", h("q", {}, line)]))
      : null,
  ];
}

const CHARACTER_NAMES = { ",": "comma", ";": "semicolon", "|": "pipe", ".": "point", "\t": "tab", " ": "space" };

/// A delimiter or separator as shown in the facts: `; (semicolon)`, so a
/// lone punctuation mark between the facts' dots is not missed.
/// Row errors that `on_error=skip` gets past (the row goes to the rejects).
export const SKIPPABLE = ["ragged-row", "unterminated-quote", "invalid-value", "invalid-utf8"];

export function character(c) {
  if (c === "\t") return "tab";
  return CHARACTER_NAMES[c] ? `${c} (${CHARACTER_NAMES[c]})` : c;
}
