// A look at a file before converting it (`POST /v1/inspect`): what was
// detected, the column types and the first rows, with the options a user
// may change; every change asks again, and "Convert" sends exactly the
// options shown as chosen here.

import { ApiProblem, query, send } from "/ui/api.js";
import { fill, formatValue, h, notice, character, skippedLines, SKIPPABLE, table } from "/ui/dom.js";

/// Bytes of the file's start sent for a look (the server's default).
const HEAD_BYTES = 1 << 20;
const PREVIEW_ROWS = 20;
const COLUMN_TYPES = ["string", "int64", "float64", "boolean", "date", "timestamp", "timestamptz"];

/// The options a user can set here, each with its choices ("" = detected).
const FIELDS = [
  { name: "delimiter", label: "Delimiter", choices: [[",", ", comma"], [";", "; semicolon"], ["tab", "tab"], ["|", "| pipe"]] },
  { name: "decimal_separator", label: "Decimal separator", choices: [[".", ". point"], [",", ", comma"]] },
  { name: "encoding", label: "Encoding", choices: [["utf-8", "UTF-8"], ["windows-1252", "Windows-1252"]] },
  { name: "header", label: "Header row", choices: [["true", "yes"], ["false", "no"]] },
  { name: "skip_rows", label: "Lines above the header", type: "number" },
  { name: "date_format", label: "Date format", type: "text", placeholder: "%d/%m/%Y" },
  { name: "null_values", label: "Null values", type: "text", placeholder: "NA,-" },
  { name: "on_error", label: "Bad rows", choices: [["fail", "fail the job"], ["skip", "skip them (rejects file)"]] },
  { name: "compression", label: "Parquet compression", choices: [["snappy", "snappy"], ["zstd", "zstd"], ["lz4", "lz4"], ["gzip", "gzip"], ["none", "none"]] },
];

/// Whether the file is a zip archive: the server cannot look into one from
/// its start (its directory is at its end), so the page reads the directory
/// itself and sends the chosen member's first bytes, decompressed.
function isZip(file) {
  return /\.zip$/i.test(file.name);
}

/// Members the server may convert (see zip_input.rs): files, not under
/// `__MACOSX/`, not hidden.
function candidate(name) {
  const last = name.split("/").pop();
  return !name.endsWith("/") && !name.startsWith("__MACOSX/") && last && !last.startsWith(".");
}

/// The upper half of code page 437, in which zip tools write names not
/// flagged as UTF-8 (and which the server reads them in).
const CP437 =
  "ÇüéâäàåçêëèïîìÄÅÉæÆôöòûùÿÖÜ¢£¥₧ƒáíóúñÑªº¿⌐¬½¼¡«»░▒▓│┤╡╢╖╕╣║╗╝╜╛┐└┴┬├─┼╞╟╚╔╩╦╠═╬╧╨╤╥╙╘╒╓╫╪┘┌█▄▌▐▀αßΓπΣσµτΦΘΩδ∞φε∩≡±≥≤⌠⌡÷≈°∙·√ⁿ²■\u00a0";

function decodeName(bytes, utf8) {
  if (utf8) return new TextDecoder("utf-8").decode(bytes);
  return Array.from(bytes, (b) => (b < 128 ? String.fromCharCode(b) : CP437[b - 128])).join("");
}

/// The member converted when none is named, as the server picks it: a
/// CSV or TSV file first, then a text file, else the first.
function preferredMember(members) {
  return members.find((m) => /\.(csv|tsv)$/i.test(m.name)) || members.find((m) => /\.(txt|tab|dat|psv)$/i.test(m.name)) || members[0];
}

/// The members of a zip archive, from its central directory at its end.
async function zipMembers(file) {
  const tailSize = Math.min(file.size, 65_557);
  const tail = new DataView(await file.slice(file.size - tailSize).arrayBuffer());
  let end = -1;
  for (let at = tailSize - 22; at >= 0; at -= 1) {
    if (tail.getUint32(at, true) === 0x06054b50) {
      end = at;
      break;
    }
  }
  if (end < 0) throw new Error("this does not look like a zip archive (no central directory at its end)");
  const count = tail.getUint16(end + 10, true);
  const size = tail.getUint32(end + 12, true);
  const offset = tail.getUint32(end + 16, true);
  if (offset === 0xffffffff || count === 0xffff) throw new Error("this archive is too large to look into here (zip64); convert it directly");
  const directory = new DataView(await file.slice(offset, offset + size).arrayBuffer());
  const members = [];
  for (let at = 0, i = 0; i < count && at + 46 <= directory.byteLength; i += 1) {
    if (directory.getUint32(at, true) !== 0x02014b50) break;
    const flags = directory.getUint16(at + 8, true);
    const nameLength = directory.getUint16(at + 28, true);
    const nameBytes = new Uint8Array(directory.buffer, at + 46, nameLength);
    const name = decodeName(nameBytes, flags & 0x800);
    members.push({
      name,
      method: directory.getUint16(at + 10, true),
      encrypted: Boolean(flags & 1),
      compressedSize: directory.getUint32(at + 20, true),
      header: directory.getUint32(at + 42, true),
    });
    at += 46 + nameLength + directory.getUint16(at + 30, true) + directory.getUint16(at + 32, true);
  }
  return members.filter((member) => candidate(member.name));
}

/// The first `limit` bytes of a member, decompressed (stored or deflate).
async function memberHead(file, member, limit) {
  if (member.encrypted) throw new Error(`${member.name} is encrypted; unzip it and choose the CSV`);
  const local = new DataView(await file.slice(member.header, member.header + 30).arrayBuffer());
  const start = member.header + 30 + local.getUint16(26, true) + local.getUint16(28, true);
  const data = file.slice(start, start + member.compressedSize);
  if (member.method === 0) return data.slice(0, limit);
  if (member.method !== 8) throw new Error(`${member.name} is compressed in a way the page cannot read; convert it directly`);
  const reader = data.stream().pipeThrough(new DecompressionStream("deflate-raw")).getReader();
  const chunks = [];
  let length = 0;
  try {
    while (length < limit) {
      const { value, done } = await reader.read();
      if (done) break;
      chunks.push(value);
      length += value.length;
    }
  } finally {
    reader.cancel().catch(() => {});
  }
  return new Blob(chunks).slice(0, limit);
}

/// The options chosen for one file, and the panel that shows and edits them.
export class Inspector {
  constructor(file, idPrefix) {
    this.file = file;
    this.idPrefix = idPrefix;
    this.options = {};
    this.columnTypes = {};
    this.inspection = null;
    this.element = h("section", { class: "inspect", "aria-label": `Inspection of ${file.name}` });
    this.generation = 0;
    /// Called when the user changes an option (the card may convert again).
    this.onChange = () => {};
    /// For a zip archive: the files it holds (read once, on the first look).
    this.members = null;
  }

  /// The options a conversion of this file is sent: those chosen here.
  chosenOptions() {
    const options = { ...this.options };
    const forced = Object.entries(this.columnTypes).filter(([, type]) => type);
    if (forced.length) options.schema = forced.map(([name, type]) => `${name}:${type}`).join(",");
    return options;
  }

  async refresh() {
    const generation = ++this.generation;
    this.element.setAttribute("aria-busy", "true");
    // One byte past the head tells the server the file goes on, so a last
    // line cut in the middle is not taken for a short row.
    // A gzip or zstd file's first bytes decompress too: the server reads a
    // cut stream up to where it was cut.
    let body = this.file.slice(0, HEAD_BYTES + 1);
    let filename = this.file.name;
    const { member, ...options } = this.chosenOptions();
    try {
      if (isZip(this.file)) {
        if (!this.members) this.members = await zipMembers(this.file);
        if (!this.members.length) throw new Error("the archive holds no file to convert");
        // Several files: the server needs one named, so the first is chosen until another is.
        if (this.members.length > 1 && !this.options.member) this.options.member = preferredMember(this.members).name;
        const chosen = this.members.find((m) => m.name === this.options.member) || this.members[0];
        body = await memberHead(this.file, chosen, HEAD_BYTES + 1);
        filename = chosen.name.split("/").pop();
      }
      const parameters = { ...options, filename, rows: PREVIEW_ROWS, bytes: HEAD_BYTES };
      const response = await send(`/v1/inspect${query(parameters)}`, {
        method: "POST",
        headers: { "Content-Type": "application/octet-stream", Accept: "application/json" },
        body,
      });
      const inspection = await response.json();
      if (generation !== this.generation) return;
      this.inspection = inspection;
      this.render(null);
    } catch (error) {
      if (generation !== this.generation) return;
      this.render(error);
    } finally {
      if (generation === this.generation) this.element.removeAttribute("aria-busy");
    }
  }

  render(error) {
    const parts = [h("h4", {}, "Options"), this.optionsForm()];
    if (error) {
      const words = error instanceof ApiProblem ? error.message : `The file could not be inspected: ${error.message}`;
      const skip =
        SKIPPABLE.includes(error.code) && this.options.on_error !== "skip"
          ? h("div", { class: "buttons" }, h("button", { type: "button", onclick: () => this.skipBadRows() }, "Skip bad rows"))
          : null;
      parts.push(notice("error", words, error.code ? [" ", h("code", {}, error.code)] : null, skip));
      if (this.inspection) parts.push(h("p", { class: "muted" }, "Below: the look with the options before this change."));
    }
    if (this.inspection) parts.push(this.report(this.inspection));
    // Rebuilt on every answer: keep the keyboard where it was.
    const focused = document.activeElement && this.element.contains(document.activeElement) ? document.activeElement.id : null;
    fill(this.element, parts);
    if (focused) document.getElementById(focused)?.focus();
  }

  optionsForm() {
    const detected = (this.inspection && this.inspection.options) || {};
    const controls = FIELDS.map((field) => this.control(field, detected[field.name]));
    if (this.members && this.members.length > 1) {
      const member = { name: "member", label: "File in the archive", choices: this.members.map((m) => [m.name, m.name]), required: true };
      controls.unshift(this.control(member, null));
    }
    const sent = Object.entries(this.chosenOptions()).map(([name, value]) => `${name}=${value}`);
    return h(
      "form",
      { class: "options", onsubmit: (event) => event.preventDefault() },
      h("div", { class: "option-grid" }, controls),
      h("p", { class: "sent" }, "Sent with the conversion: ", h("code", {}, sent.length ? sent.join(" ") : "nothing (everything detected)")),
    );
  }

  control(field, detectedValue) {
    const id = `${this.idPrefix}-${field.name}`;
    const current = this.options[field.name] ?? "";
    const detectedText = Array.isArray(detectedValue) ? detectedValue.join(" ") : detectedValue;
    const onchange = (event) => this.change(field.name, event.target.value.trim());
    let input;
    if (field.choices) {
      const automatic = field.required ? null : h("option", { value: "" }, detectedText ? `detected: ${detectedText}` : "detected");
      const choices = field.choices.map(([value, label]) => h("option", { value, selected: value === current }, label));
      input = h("select", { id, name: field.name, onchange }, automatic, choices);
    } else {
      input = h("input", {
        id,
        name: field.name,
        type: field.type,
        min: field.type === "number" ? "0" : null,
        value: current,
        placeholder: detectedText || field.placeholder || "",
        onchange,
      });
    }
    return h("div", { class: "option" }, h("label", { for: id }, field.label), input);
  }

  change(name, value) {
    if (value === "") delete this.options[name];
    else this.options[name] = value;
    this.onChange();
    this.refresh();
  }

  /// The error's button: "Bad rows" set to skip, and the keyboard left on it
  /// (the button goes away with the error).
  skipBadRows() {
    document.getElementById(`${this.idPrefix}-on_error`)?.focus();
    this.change("on_error", "skip");
  }

  changeColumnType(column, type) {
    if (type) this.columnTypes[column] = type;
    else delete this.columnTypes[column];
    this.onChange();
    this.refresh();
  }

  report(inspection) {
    const dialect = inspection.dialect;
    const skipped = inspection.skipped;
    const facts = [
      `encoding ${dialect.encoding}`,
      `delimiter ${character(dialect.delimiter)}`,
      `header ${dialect.header ? "yes" : "no"}`,
      `decimal separator ${character(dialect.decimal_separator)}`,
      dialect.input_compression !== "none" ? `${dialect.input_compression} compressed` : null,
      skipped.before_table ? `${skipped.before_table} line(s) above the header skipped` : null,
      skipped.footer ? `${skipped.footer} footer line(s) dropped` : null,
    ].filter(Boolean);
    return h(
      "div",
      { class: "report" },
      h("h4", {}, "What the conversion would make of it"),
      h("p", { class: "facts" }, facts.join(" · ")),
      skippedLines(skipped),
      inspection.sample_cut ? notice("warning", inspection.sample_cut) : null,
      inspection.complete ? null : h("p", { class: "muted" }, `Looked at the first ${inspection.bytes_read.toLocaleString()} bytes.`),
      this.rowsTable(inspection),
    );
  }

  rowsTable(inspection) {
    const columns = inspection.columns;
    const headings = columns.map((column) => this.columnHeading(column));
    const rows = inspection.preview.rows.map((row) => row.map(formatValue));
    return table(`First ${rows.length} rows of ${this.file.name}`, headings, rows, { class: "rows" });
  }

  columnHeading(column) {
    const id = `${this.idPrefix}-type-${column.name.replace(/[^A-Za-z0-9_-]/g, "_")}`;
    const forced = this.columnTypes[column.name] || "";
    const options = [h("option", { value: "" }, `${column.arrow_type} (${column.type_source})`)].concat(
      COLUMN_TYPES.map((type) => h("option", { value: type, selected: type === forced }, type)),
    );
    return h(
      "span",
      { class: "column-heading" },
      h("span", { class: "column-name" }, column.name),
      h("label", { for: id, class: "visually-hidden" }, `Type of column ${column.name}`),
      h("select", { id, onchange: (event) => this.changeColumnType(column.name, event.target.value) }, options),
      column.note ? h("small", { class: "note" }, column.note) : null,
    );
  }
}
