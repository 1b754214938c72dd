// sandbox_utils for JavaScript: file, JSON, CSV, list and string helpers for code
// running in the WASM Workbench QuickJS-NG sandbox. Loaded on first use, either
// through the global `sandbox_utils` or `import { ls } from "sandbox_utils"`.
// Every path must stay inside /app (the workspace); relative paths are relative to
// /app. This file is a script whose value is the helper object.
(function () {
  "use strict";
  const ROOT = "/app";
  const EPERM = 63; // WASI: what a path (or a symbolic link) outside the preopens gets
  const ENOENT = 44;
  const EEXIST = 20;

  class SandboxPathError extends Error {
    constructor(message) {
      super(message);
      this.name = "SandboxPathError";
    }
  }

  const HINT =
    "sandbox_utils only works inside the workspace /app: use a relative path such as " +
    "'data/file.txt' or an absolute one such as '/app/data/file.txt'.";

  // ---- Paths

  function normalize(path) {
    if (typeof path !== "string") {
      throw new TypeError("expected a path string, got " + (path === null ? "null" : typeof path));
    }
    if (path.includes("\0")) throw new SandboxPathError("Path " + JSON.stringify(path) + " contains a NUL character.");
    let full = path;
    if (!full.startsWith("/")) {
      const [cwd, err] = os.getcwd();
      full = (err ? ROOT : cwd) + "/" + full;
    }
    const parts = [];
    for (const part of full.split("/")) {
      if (part === "" || part === ".") continue;
      if (part === "..") parts.pop();
      else parts.push(part);
    }
    return "/" + parts.join("/");
  }

  const inside = (full) => full === ROOT || full.startsWith(ROOT + "/");

  // The checked absolute form of `path`, or a SandboxPathError.
  function resolve(path, allowRoot = true) {
    const full = normalize(path);
    if (!inside(full)) {
      const shown = full === path ? JSON.stringify(path) + " is" : JSON.stringify(path) + " means " + full + ", which is";
      throw new SandboxPathError("Path " + shown + " outside /app. " + HINT);
    }
    if (!allowRoot && full === ROOT) {
      throw new SandboxPathError("Refusing to remove or replace /app itself; name the files or folders inside it.");
    }
    // This QuickJS build can't read links (no lstat/readlink), but WASI refuses to
    // follow one out of /app with EPERM: refuse such a path before using it.
    if (os.stat(full)[1] === EPERM) throw fail("path", path, EPERM);
    return full;
  }

  // An Error for an errno from std/os that says what failed.
  function fail(op, path, errno) {
    if (errno === EPERM) {
      return new SandboxPathError(
        op + ": " + JSON.stringify(path) + " leads outside /app (a symbolic link out of the workspace?) " +
          "or is not allowed. " + HINT,
      );
    }
    const error = new Error(op + ": " + JSON.stringify(path) + ": " + std.strerror(errno));
    error.errno = errno;
    return error;
  }

  const join = (base, name) => (base.endsWith("/") ? base + name : base + "/" + name);
  const baseName = (path) => path.slice(path.lastIndexOf("/") + 1);

  function statOf(full) {
    const [st, err] = os.stat(full);
    return err ? null : st;
  }
  const kindOf = (st) => {
    const type = st.mode & os.S_IFMT;
    return type === os.S_IFDIR ? "dir" : type === os.S_IFREG ? "file" : "other";
  };
  const isDir = (full) => {
    const st = statOf(full);
    return st !== null && kindOf(st) === "dir";
  };

  // Names in a folder, sorted, without "." and ".."; entries that can't be
  // reached (links leading outside /app) are left out.
  function names(full, op) {
    const [list, err] = os.readdir(full);
    if (err) throw fail(op, full, err);
    return list.filter((n) => n !== "." && n !== "..").sort();
  }

  // ---- Reading and writing

  function open(path, mode, op) {
    const full = resolve(path);
    const error = {};
    const file = std.open(full, mode, error);
    if (!file) throw fail(op, path, error.errno);
    return file;
  }

  function readText(path, op = "cat") {
    const file = open(path, "r", op);
    try {
      return file.readAsString();
    } finally {
      file.close();
    }
  }

  const cat = (...paths) => {
    if (!paths.length) throw new TypeError("cat() needs at least one file");
    return paths.map((p) => readText(p)).join("");
  };

  function write(path, text) {
    const file = open(path, "w", "write");
    try {
      file.puts(String(text));
    } finally {
      file.close();
    }
    return resolve(path);
  }

  function append(path, text) {
    const file = open(path, "a", "append");
    try {
      file.puts(String(text));
    } finally {
      file.close();
    }
    return resolve(path);
  }

  const exists = (path) => statOf(resolve(path)) !== null; // resolve refuses links out

  function stat(path) {
    const full = resolve(path);
    const [st, err] = os.stat(full);
    if (err) throw fail("stat", path, err);
    return { path: full, type: kindOf(st), size: st.size, modified: new Date(st.mtime).toISOString() };
  }

  function ls(path = ".", { long = false, all = false } = {}) {
    const full = resolve(path);
    let list;
    let folder = full;
    if (isDir(full)) {
      list = names(full, "ls").filter((n) => all || !n.startsWith("."));
    } else {
      if (!statOf(full)) throw fail("ls", path, ENOENT);
      list = [baseName(full)];
      folder = full.slice(0, full.lastIndexOf("/"));
    }
    if (!long) return list;
    return list.map((name) => {
      const item = join(folder, name);
      const st = statOf(item);
      return st
        ? { name, path: item, type: kindOf(st), size: st.size, modified: new Date(st.mtime).toISOString() }
        : { name, path: item, type: "unreachable", size: 0, modified: null };
    });
  }

  function mkdir(path, { parents = true } = {}) {
    const full = resolve(path);
    if (isDir(full)) return full;
    const parent = full.slice(0, full.lastIndexOf("/"));
    if (parents && parent !== ROOT && !isDir(parent)) mkdir(parent);
    const rc = os.mkdir(full, 0o777);
    if (rc < 0 && !(-rc === EEXIST && isDir(full))) throw fail("mkdir", path, -rc);
    return full;
  }

  function removeTree(full) {
    for (const name of names(full, "rm")) {
      const item = join(full, name);
      if (isDir(item)) removeTree(item);
      else {
        const rc = os.remove(item);
        if (rc < 0) throw fail("rm", item, -rc);
      }
    }
    const rc = os.remove(full);
    if (rc < 0) throw fail("rm", full, -rc);
  }

  function rm(path, { recursive = false, force = false } = {}) {
    const full = resolve(path, false);
    const [st, err] = os.stat(full);
    if (err) {
      if (err === ENOENT && force) return false;
      throw fail("rm", path, err);
    }
    if (kindOf(st) === "dir") {
      if (!recursive) throw new Error("rm: " + JSON.stringify(path) + " is a folder; use { recursive: true }");
      removeTree(full);
    } else {
      const rc = os.remove(full);
      if (rc < 0) throw fail("rm", path, -rc);
    }
    return true;
  }

  function copyFile(src, dst) {
    const input = open(src, "rb", "cp");
    try {
      const output = open(dst, "wb", "cp");
      try {
        const buffer = new ArrayBuffer(65536);
        for (;;) {
          const count = input.read(buffer, 0, buffer.byteLength);
          if (count <= 0) break;
          output.write(buffer, 0, count);
        }
      } finally {
        output.close();
      }
    } finally {
      input.close();
    }
  }

  function copyTree(src, dst) {
    mkdir(dst);
    for (const name of names(src, "cp")) {
      const item = join(src, name);
      if (isDir(item)) copyTree(item, join(dst, name));
      else copyFile(item, join(dst, name));
    }
  }

  const into = (src, dst) => (isDir(dst) ? join(dst, baseName(src)) : dst);

  function cp(src, dst) {
    const source = resolve(src, false);
    const [st, err] = os.stat(source);
    if (err) throw fail("cp", src, err);
    const target = into(source, resolve(dst, false));
    if (target === source || target.startsWith(source + "/")) {
      throw new Error("cp: can't copy " + JSON.stringify(src) + " onto or into itself");
    }
    if (kindOf(st) === "dir") copyTree(source, target);
    else copyFile(source, target);
    return target;
  }

  function mv(src, dst) {
    const source = resolve(src, false);
    if (!statOf(source)) throw fail("mv", src, os.stat(source)[1]);
    const target = into(source, resolve(dst, false));
    if (target === source || target.startsWith(source + "/")) {
      throw new Error("mv: can't move " + JSON.stringify(src) + " into itself");
    }
    const rc = os.rename(source, target);
    if (rc < 0) throw fail("mv", src, -rc);
    return target;
  }

  // ---- Trees

  // [path, kind] below `top`, sorted, depth-first; unreachable entries skipped.
  function* entries(top, maxDepth = Infinity, depth = 0) {
    for (const name of names(top, "find")) {
      const item = join(top, name);
      const st = statOf(item);
      if (!st) continue;
      const kind = kindOf(st);
      yield [item, kind, depth];
      if (kind === "dir" && depth + 1 < maxDepth) yield* entries(item, maxDepth, depth + 1);
    }
  }

  function globToRegExp(pattern) {
    let out = "^";
    for (let i = 0; i < pattern.length; i++) {
      const c = pattern[i];
      if (c === "*") out += "[^/]*";
      else if (c === "?") out += "[^/]";
      else if (c === "[") {
        const end = pattern.indexOf("]", i + 2);
        if (end < 0) out += "\\[";
        else {
          let body = pattern.slice(i + 1, end).replace(/\\/g, "\\\\");
          if (body[0] === "!") body = "^" + body.slice(1);
          out += "[" + body + "]";
          i = end;
        }
      } else out += c.replace(/[.+^${}()|\\\]]/g, "\\$&");
    }
    return new RegExp(out + "$");
  }

  function folder(path, op) {
    const full = resolve(path);
    if (!isDir(full)) {
      if (!statOf(full)) throw fail(op, path, os.stat(full)[1]);
      throw new Error(op + ": " + JSON.stringify(path) + " is not a folder");
    }
    return full;
  }

  function find(pattern = "*", path = ".", { type = "f", recursive = true } = {}) {
    if (!["f", "d", "any"].includes(type)) throw new Error("find: type must be 'f', 'd' or 'any'");
    const top = folder(path, "find");
    const regex = globToRegExp(pattern);
    const whole = pattern.includes("/");
    const found = [];
    for (const [item, kind] of entries(top, recursive ? Infinity : 1)) {
      if (type !== "any" && kind !== (type === "f" ? "file" : "dir")) continue;
      if (regex.test(whole ? item.slice(top.length + 1) : baseName(item))) found.push(item);
    }
    return found;
  }

  function walk(path = ".", filter = null) {
    const found = [];
    for (const [item, kind] of entries(folder(path, "walk"))) {
      if (kind === "file" && (!filter || filter(item))) found.push(item);
    }
    return found;
  }

  function tree(path = ".", { maxDepth = Infinity, all = false } = {}) {
    const top = folder(path, "tree");
    const lines = [top];
    let dirs = 0;
    let files = 0;
    const draw = (dir, prefix, depth) => {
      const list = names(dir, "tree").filter((n) => all || !n.startsWith("."));
      list.forEach((name, index) => {
        const last = index === list.length - 1;
        const item = join(dir, name);
        const st = statOf(item);
        const kind = st ? kindOf(st) : "unreachable";
        lines.push(prefix + (last ? "└── " : "├── ") + name + (kind === "dir" ? "/" : kind === "unreachable" ? " (unreachable)" : ""));
        if (kind === "dir") {
          dirs++;
          if (depth + 1 < maxDepth) draw(item, prefix + (last ? "    " : "│   "), depth + 1);
        } else files++;
      });
    };
    draw(top, "", 0);
    const plural = (n, word) => n + " " + word + (n === 1 ? "" : "s");
    lines.push("", plural(dirs, "folder") + ", " + plural(files, "file"));
    return lines.join("\n");
  }

  // ---- Text

  const splitLines = (text) => {
    const lines = text.split("\n");
    if (lines.length && lines[lines.length - 1] === "") lines.pop();
    return lines;
  };

  const head = (path, n = 10) => splitLines(readText(path, "head")).slice(0, n).join("\n");
  const tail = (path, n = 10) => (n > 0 ? splitLines(readText(path, "tail")).slice(-n).join("\n") : "");

  function wc(path) {
    const text = readText(path, "wc");
    const words = text.split(/\s+/).filter(Boolean).length;
    return { lines: (text.match(/\n/g) || []).length, words, chars: text.length };
  }

  function grep(pattern, paths = ".", { ignoreCase = false, invert = false } = {}) {
    const regex =
      pattern instanceof RegExp
        ? new RegExp(pattern.source, pattern.flags.replace("g", "") + (ignoreCase && !pattern.ignoreCase ? "i" : ""))
        : null;
    const needle = regex ? null : ignoreCase ? String(pattern).toLowerCase() : String(pattern);
    const test = regex ? (line) => regex.test(line) : ignoreCase ? (line) => line.toLowerCase().includes(needle) : (line) => line.includes(needle);
    const found = [];
    for (const path of Array.isArray(paths) ? paths : [paths]) {
      const full = resolve(path);
      const files = isDir(full) ? walk(full) : [full];
      for (const file of files) {
        splitLines(readText(file, "grep")).forEach((line, index) => {
          line = line.replace(/\r$/, "");
          if (test(line) !== invert) found.push({ path: file, lineNumber: index + 1, line });
        });
      }
    }
    return found;
  }

  // ---- JSON

  const readJSON = (path) => JSON.parse(readText(path, "readJSON"));
  const writeJSON = (path, value, { indent = 2 } = {}) => write(path, JSON.stringify(value, null, indent) + "\n");

  // ---- CSV (RFC 4180: quoted fields may hold the delimiter, quotes and newlines)

  function parseCSVRows(text, delimiter) {
    const rows = [];
    let row = [];
    let field = "";
    let quoted = false;
    let i = 0;
    if (text.charCodeAt(0) === 0xfeff) i = 1;
    for (; i < text.length; i++) {
      const c = text[i];
      if (quoted) {
        if (c === '"') {
          if (text[i + 1] === '"') {
            field += '"';
            i++;
          } else quoted = false;
        } else field += c;
      } else if (c === '"' && field === "") quoted = true;
      else if (c === delimiter) {
        row.push(field);
        field = "";
      } else if (c === "\n" || c === "\r") {
        if (c === "\r" && text[i + 1] === "\n") i++;
        row.push(field);
        rows.push(row);
        row = [];
        field = "";
      } else field += c;
    }
    if (field !== "" || row.length) {
      row.push(field);
      rows.push(row);
    }
    return rows.filter((r) => !(r.length === 1 && r[0] === ""));
  }

  const toValue = (cell) => {
    if (cell === "") return cell;
    const number = Number(cell);
    return Number.isNaN(number) || cell.trim() !== cell ? cell : number;
  };

  function parseCSV(text, { delimiter = ",", header = true, inferTypes = false } = {}) {
    let rows = parseCSVRows(String(text), delimiter);
    if (inferTypes) rows = rows.map((r, index) => (header && index === 0 ? r : r.map(toValue)));
    if (!header) return rows;
    const [columns = [], ...body] = rows;
    return body.map((cells) => Object.fromEntries(columns.map((c, index) => [c, index < cells.length ? cells[index] : null])));
  }

  const quoteCell = (value, delimiter) => {
    if (value === null || value === undefined) return "";
    const text = typeof value === "object" ? JSON.stringify(value) : String(value);
    return text.includes(delimiter) || /["\r\n]/.test(text) || text.trim() !== text ? '"' + text.replace(/"/g, '""') + '"' : text;
  };

  function toCSV(rows, { delimiter = ",", columns = null } = {}) {
    const lines = [];
    const list = Array.from(rows);
    if (list.length && list.every((r) => r && typeof r === "object" && !Array.isArray(r))) {
      const cols = columns || [...new Set(list.flatMap((r) => Object.keys(r)))];
      lines.push(cols.map((c) => quoteCell(c, delimiter)).join(delimiter));
      for (const r of list) lines.push(cols.map((c) => quoteCell(r[c], delimiter)).join(delimiter));
    } else {
      if (columns) lines.push(columns.map((c) => quoteCell(c, delimiter)).join(delimiter));
      for (const r of list) lines.push((Array.isArray(r) ? r : [r]).map((c) => quoteCell(c, delimiter)).join(delimiter));
    }
    return lines.length ? lines.join("\n") + "\n" : "";
  }

  const readCSV = (path, options = {}) => parseCSV(readText(path, "readCSV"), options);
  const writeCSV = (path, rows, options = {}) => write(path, toCSV(rows, options));

  // ---- Lists

  const keyFn = (key) => (typeof key === "function" ? key : (item) => (item == null ? undefined : item[key]));

  function groupBy(items, key) {
    const get = keyFn(key);
    const groups = {};
    for (const item of items) (groups[get(item)] ||= []).push(item);
    return groups;
  }

  function countBy(items, key) {
    const get = keyFn(key);
    const counts = {};
    for (const item of items) counts[get(item)] = (counts[get(item)] || 0) + 1;
    return counts;
  }

  function sortBy(items, key, { reverse = false } = {}) {
    const keys = (Array.isArray(key) ? key : [key]).map(keyFn);
    const compare = (a, b) => {
      for (const get of keys) {
        const x = get(a);
        const y = get(b);
        if (x == null || y == null) {
          if (x == null && y == null) continue;
          return x == null ? 1 : -1; // missing values last
        }
        if (x < y) return reverse ? 1 : -1;
        if (x > y) return reverse ? -1 : 1;
      }
      return 0;
    };
    return Array.from(items).sort(compare);
  }

  function unique(items, key = null) {
    const get = key === null ? (x) => x : keyFn(key);
    const seen = new Set();
    const out = [];
    for (const item of items) {
      const marker = get(item);
      const id = marker !== null && typeof marker === "object" ? JSON.stringify(marker) : marker;
      if (!seen.has(id)) {
        seen.add(id);
        out.push(item);
      }
    }
    return out;
  }

  function chunk(items, size) {
    if (!Number.isInteger(size) || size < 1) throw new RangeError("chunk: size must be a whole number of at least 1");
    const list = Array.from(items);
    const out = [];
    for (let i = 0; i < list.length; i += size) out.push(list.slice(i, i + size));
    return out;
  }

  // ---- Strings

  const words = (text) =>
    String(text)
      .replace(/([a-z0-9])([A-Z])/g, "$1 $2")
      .split(/[^A-Za-z0-9]+/)
      .filter(Boolean);

  const capitalize = (text) => String(text).charAt(0).toUpperCase() + String(text).slice(1);
  const titleCase = (text) => String(text).replace(/\S+/g, (w) => w.charAt(0).toUpperCase() + w.slice(1).toLowerCase());
  const camelCase = (text) => words(text).map((w, i) => (i ? capitalize(w.toLowerCase()) : w.toLowerCase())).join("");
  const snakeCase = (text) => words(text).map((w) => w.toLowerCase()).join("_");
  const kebabCase = (text) => words(text).map((w) => w.toLowerCase()).join("-");
  const slugify = (text) =>
    String(text)
      .normalize("NFKD")
      .replace(/[\u0300-\u036f]/g, "")
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, "-")
      .replace(/^-+|-+$/g, "");

  const truncate = (text, length, suffix = "…") => {
    const s = String(text);
    return s.length <= length ? s : s.slice(0, Math.max(0, length - suffix.length)) + suffix;
  };

  function dedent(text) {
    const lines = String(text).split("\n");
    const indents = lines.filter((l) => l.trim()).map((l) => l.match(/^[ \t]*/)[0].length);
    const cut = indents.length ? Math.min(...indents) : 0;
    return lines.map((l) => l.slice(Math.min(cut, l.match(/^[ \t]*/)[0].length))).join("\n");
  }

  function wrap(text, width = 80) {
    const out = [];
    for (const paragraph of String(text).split("\n")) {
      let line = "";
      for (const word of paragraph.split(/\s+/).filter(Boolean)) {
        if (line && line.length + 1 + word.length > width) {
          out.push(line);
          line = word;
        } else line = line ? line + " " + word : word;
      }
      out.push(line);
    }
    return out.join("\n");
  }

  const HTML = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
  const escapeHtml = (text) => String(text).replace(/[&<>"']/g, (c) => HTML[c]);

  // A plain-text table (like Python's tabulate) from objects or arrays.
  function formatTable(rows, { columns = null } = {}) {
    const list = Array.from(rows);
    const objects = list.length && !Array.isArray(list[0]);
    const cols = columns || (objects ? [...new Set(list.flatMap((r) => Object.keys(r)))] : null);
    const cell = (v) => (v === null || v === undefined ? "" : typeof v === "object" ? JSON.stringify(v) : String(v));
    const body = list.map((r) => (objects ? cols.map((c) => cell(r[c])) : r.map(cell)));
    const table = cols ? [cols.map(String), ...body] : body;
    const count = Math.max(0, ...table.map((r) => r.length));
    const widths = Array.from({ length: count }, (_, i) => Math.max(0, ...table.map((r) => (r[i] || "").length)));
    const numeric = widths.map((_, i) => body.length > 0 && body.every((r) => r[i] === undefined || r[i] === "" || !Number.isNaN(Number(r[i]))));
    const line = (r) => widths.map((w, i) => (numeric[i] ? (r[i] || "").padStart(w) : (r[i] || "").padEnd(w))).join("  ").trimEnd();
    const out = table.map(line);
    if (cols) out.splice(1, 0, widths.map((w) => "-".repeat(w)).join("  "));
    return out.join("\n");
  }

  return Object.freeze({
    SandboxPathError,
    // files
    ls, cat, write, append, exists, stat, mkdir, rm, cp, mv, find, walk, tree, head, tail, wc, grep,
    resolvePath: resolve,
    // JSON and CSV
    readJSON, writeJSON, parseCSV, toCSV, readCSV, writeCSV,
    // lists
    groupBy, countBy, sortBy, unique, chunk,
    // strings
    capitalize, titleCase, camelCase, snakeCase, kebabCase, slugify, truncate, dedent, wrap, escapeHtml, formatTable,
  });
})();
