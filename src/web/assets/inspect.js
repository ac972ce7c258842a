// A look at a file before converting it (`POST /v1/inspect`): what was
// detected, the column types and the first rows, with the options a user
// may change; every change asks again, and "Convert" sends exactly the
// options shown as chosen here.

import { ApiProblem, query, send } from "/ui/api.js";
import { fill, formatValue, h, notice, table } from "/ui/dom.js";

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

/// Whether the whole file must be sent for a look: a compressed or zipped
/// file cannot be cut at an arbitrary byte and still be read.
function needsWholeFile(file) {
  return /\.(zip|gz|gzip|zst|zstd)$/i.test(file.name);
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
    const body = needsWholeFile(this.file) ? this.file : this.file.slice(0, HEAD_BYTES + 1);
    const parameters = { ...this.chosenOptions(), filename: this.file.name, rows: PREVIEW_ROWS, bytes: HEAD_BYTES };
    try {
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
      parts.push(notice("error", words, error.code ? h("code", {}, ` ${error.code}`) : null));
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
      const automatic = h("option", { value: "" }, detectedText ? `detected: ${detectedText}` : "detected");
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
    this.refresh();
  }

  changeColumnType(column, type) {
    if (type) this.columnTypes[column] = type;
    else delete this.columnTypes[column];
    this.refresh();
  }

  report(inspection) {
    const dialect = inspection.dialect;
    const skipped = inspection.skipped;
    const facts = [
      `encoding ${dialect.encoding}`,
      `delimiter ${dialect.delimiter === "\t" ? "tab" : dialect.delimiter}`,
      `header ${dialect.header ? "yes" : "no"}`,
      `decimal separator ${dialect.decimal_separator}`,
      dialect.input_compression !== "none" ? `${dialect.input_compression} compressed` : null,
      skipped.before_table ? `${skipped.before_table} line(s) above the header skipped` : null,
      skipped.footer ? `${skipped.footer} footer line(s) dropped` : null,
    ].filter(Boolean);
    return h(
      "div",
      { class: "report" },
      h("h4", {}, "What the conversion would make of it"),
      h("p", { class: "facts" }, facts.join(" · ")),
      skipped.first_before_table ? h("p", { class: "muted" }, "First line skipped: ", h("q", {}, skipped.first_before_table)) : null,
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
