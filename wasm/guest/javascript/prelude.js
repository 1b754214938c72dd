// WASM Workbench prelude: evaluated once in every QuickJS-NG context before user code.
// `std`, `os` and `bjson` are globals (qjs --std). Keep this small: it runs on every
// fresh instance, before the user's fuel budget starts.

// console.log and print without a flush per line. QuickJS's own (js_print) write
// each line with fflush(stdout): one host call per line. These write into a C
// stdio FILE on fd 1 and leave the line in its buffer, which the host reads
// straight from memory whenever it needs to, so nothing printed before a stop is
// lost (workbench/sandbox/_guest_output.py, StdioFileBuffer).
//
// That FILE is a second one (std.fdopen), in the heap: C's own stdout (std.out,
// what std.puts and std.printf write to) is static data just below the C stack,
// which a runaway recursion tramples on its way down before it traps. console.log
// flushes std.out first, so what std.puts wrote before a line comes out before it,
// as with js_print; the host delivers the console's FILE before std.out's.
//
// They format as js_print does: each argument through ToString (FILE.puts
// converts exactly as js_print's JS_ToCString), an object whose ToString throws
// as Object.prototype.toString shows it, "<exception>" when that fails too
// (symbols), one space between, a newline at the end. One difference: js_print
// cut a string at its first NUL character; these print it whole.
//
// Registration: two flushes of each FILE (console's first). If the host refuses
// the console's FILE (its error flag is then set), every line is flushed as before.
(function () {
  "use strict";
  const stdout = std.out;
  const lines = std.fdopen(1, "w");
  const register = "\0wasm-workbench register stdio stdout\0"; // REGISTER_FILE_PREFIX
  const registered = (file) => {
    file.puts(register + "probe");
    file.flush();
    file.puts(register + "confirm");
    file.flush();
    const ok = !file.error();
    file.clearerr();
    return ok;
  };
  const buffered = registered(lines);
  registered(stdout);
  const putLine = lines.puts.bind(lines);
  const flushLines = lines.flush.bind(lines);
  const flushStdout = stdout.flush.bind(stdout);
  const call = Function.prototype.call.bind(Function.prototype.call);
  const toText = globalThis.String;
  const objectText = Object.prototype.toString;
  // What js_print shows for a value whose ToString threw.
  const fallback = (value) => {
    if (value === null || (typeof value !== "object" && typeof value !== "function")) return "<exception>";
    try {
      return call(objectText, value);
    } catch {
      return "<exception>";
    }
  };
  const text = (value) => {
    if (typeof value === "symbol") return "<exception>"; // String() would accept it
    try {
      return toText(value);
    } catch {
      return fallback(value);
    }
  };
  // The whole line is made before any of it is written, as js_print does (a
  // toString that prints itself comes out first, not inside this line).
  const line = (args) => {
    let made = args.length ? text(args[0]) : "";
    for (let i = 1; i < args.length; i++) made += " " + text(args[i]);
    return made;
  };
  // A rest parameter is the cheapest way JavaScript has to count the arguments
  // (`arguments` costs more fuel); the usual single argument goes straight to
  // FILE.puts, which converts it before it writes anything. Methods with computed
  // names: called "log" and "print", not constructors, length 1, like js_print.
  // Every line pays for this body, so it does no more than the guarantees need
  // (fuel per line in BENCHMARKS.md, "Printing line by line"): std.out is flushed
  // because std.puts and std.printf can't be wrapped (std is a module namespace);
  // `catch` has no binding (one costs ~50 fuel a call); whether the host took
  // the buffer is decided here, once, not tested on every line.
  const make = (name) => {
    const method = buffered
      ? {
          [name](...args) {
            flushStdout();
            if (args.length === 1) {
              try {
                putLine(args[0], "\n");
              } catch {
                putLine(fallback(args[0]), "\n");
              }
            } else putLine(line(args), "\n");
          },
        }[name]
      : {
          [name](...args) {
            flushStdout();
            putLine(args.length === 1 ? text(args[0]) : line(args), "\n");
            flushLines();
          },
        }[name];
    return Object.defineProperty(method, "length", { value: 1 });
  };
  const methods = { log: make("log"), print: make("print") };
  globalThis.console.log = methods.log;
  globalThis.print = methods.print;
})();
(function () {
  "use strict";
  // Timers as LLM-written code expects them (QuickJS keeps them in the os module).
  if (typeof globalThis.setTimeout !== "function") {
    globalThis.setTimeout = (fn, ms, ...args) => os.setTimeout(() => fn(...args), ms || 0);
    globalThis.clearTimeout = (id) => os.clearTimeout(id);
  }
  if (typeof globalThis.setInterval !== "function") {
    const intervals = new Map();
    let next = 1;
    globalThis.setInterval = (fn, ms, ...args) => {
      const id = next++;
      const tick = () => {
        if (!intervals.has(id)) return;
        intervals.set(id, os.setTimeout(tick, ms || 0));
        fn(...args);
      };
      intervals.set(id, os.setTimeout(tick, ms || 0));
      return id;
    };
    globalThis.clearInterval = (id) => {
      const handle = intervals.get(id);
      if (handle !== undefined) os.clearTimeout(handle);
      intervals.delete(id);
    };
  }
  try {
    os.chdir("/app");
  } catch (e) {
    // No workspace mounted: relative paths simply fail later.
  }
})();

// sandbox_utils: /data/lib/js/sandbox_utils.js, loaded on first use of this global or
// of the module "sandbox_utils" (compiled by the host; see javascript.py).
(function () {
  let utils;
  const load = () => utils || (utils = std.loadScript("/data/lib/js/sandbox_utils.js"));
  const define = (value, enumerable) =>
    Object.defineProperty(globalThis, "sandbox_utils", { value, enumerable, writable: true, configurable: true });
  Object.defineProperty(globalThis, "__wbSandboxUtils", { value: load });
  Object.defineProperty(globalThis, "sandbox_utils", {
    configurable: true,
    get: () => define(load(), false).sandbox_utils,
    set: (value) => define(value, true),
  });
})();

// Saving and restoring globals for sessions with auto_persist_globals. The host
// calls these (they are non-enumerable, so listings of globalThis skip them).
// Values are JSON; functions are kept as source text and rebuilt with eval.
// Top-level let/const live in the context's lexical scope, not on globalThis:
// they carry over between live turns but are not saved.
(function () {
  "use strict";
  const baseline = new Set(Object.getOwnPropertyNames(globalThis));
  baseline.add("__wbSaveGlobals");
  baseline.add("__wbRestoreGlobals");
  baseline.add("__wbIntrospect");
  baseline.add("sandbox_utils");
  baseline.add("__wbShow"); // defined below (interactive turns)
  baseline.add("__wbLast");
  const hidden = (name, value) =>
    Object.defineProperty(globalThis, name, { value, enumerable: false, writable: false });
  hidden("__wbSaveGlobals", () => {
    const values = {};
    const functions = {};
    const unsaved = [];
    for (const name of Object.getOwnPropertyNames(globalThis)) {
      if (baseline.has(name)) continue;
      let value;
      try {
        value = globalThis[name];
      } catch (e) {
        unsaved.push(name);
        continue;
      }
      if (typeof value === "function") {
        const source = Function.prototype.toString.call(value);
        if (source.includes("[native code]")) unsaved.push(name);
        else functions[name] = source;
        continue;
      }
      try {
        const text = JSON.stringify(value);
        if (text === undefined) unsaved.push(name);
        else values[name] = text;
      } catch (e) {
        unsaved.push(name);
      }
    }
    return JSON.stringify({ state: { values, functions }, unsaved: unsaved.sort() });
  });
  // Introspection for the host (variables panel, consoles): __wbIntrospect(kind,
  // argsJson) returns a JSON string. Previews are built from builtins captured
  // here, reading data properties only (getters are never called). Top-level
  // let/const/class are not on globalThis; the host passes their names (taken from
  // the code it ran) in args.names and they are read with an indirect eval of the
  // bare identifier, which reads the binding and runs nothing else.
  const getProto = Object.getPrototypeOf;
  const describe = Object.getOwnPropertyDescriptor;
  const ownNames = Object.getOwnPropertyNames;
  const isArray = Array.isArray;
  const mapSize = describe(Map.prototype, "size").get;
  const setSize = describe(Set.prototype, "size").get;
  const call = Function.prototype.call.bind(Function.prototype.call);
  const stringify = JSON.stringify;
  const parse = JSON.parse;
  const String = globalThis.String;
  const max = Math.max;
  const identifier = /^[A-Za-z_$][\w$]*$/;
  const cut = (text, limit) => (text.length <= limit ? text : text.slice(0, max(0, limit - 1)) + "\u2026");
  const dataValue = (object, key) => {
    const d = describe(object, key);
    return d && "value" in d ? { value: d.value } : null;
  };
  const className = (value) => {
    try {
      const proto = getProto(value);
      if (proto === null) return "Object";
      const ctor = dataValue(proto, "constructor");
      const name = ctor && typeof ctor.value === "function" ? dataValue(ctor.value, "name") : null;
      return name && typeof name.value === "string" && name.value ? name.value : "Object";
    } catch (e) {
      return "Object";
    }
  };
  const typeOf = (value) => {
    if (value === null) return "null";
    const t = typeof value;
    if (t === "function") return "function";
    if (t !== "object") return t;
    if (isArray(value)) return "Array";
    return className(value);
  };
  const preview = (value, limit, depth) => {
    const t = typeof value;
    if (value === null || t === "undefined" || t === "boolean" || t === "number") return String(value);
    if (t === "bigint") return String(value) + "n";
    if (t === "string") return cut(stringify(value.slice(0, limit + 1)), limit);
    if (t === "symbol") return "Symbol()";
    if (t === "function") {
      const name = dataValue(value, "name");
      return "function " + (name && typeof name.value === "string" ? name.value : "") + "()";
    }
    if (depth >= 2) return isArray(value) ? "[\u2026]" : "{\u2026}";
    const parts = [];
    let used = 2;
    const add = (text) => {
      if (used + text.length > limit) {
        parts.push("\u2026");
        return false;
      }
      parts.push(text);
      used += text.length + 2;
      return true;
    };
    if (isArray(value)) {
      const length = dataValue(value, "length");
      const count = length ? length.value : 0;
      for (let i = 0; i < count; i++) {
        const item = dataValue(value, String(i));
        if (!add(item ? preview(item.value, limit, depth + 1) : "<empty>")) break;
      }
      return "[" + parts.join(", ") + "]";
    }
    const name = className(value);
    if (name === "Map" || name === "Set") return name + "(" + call(name === "Map" ? mapSize : setSize, value) + ")";
    for (const key of ownNames(value)) {
      const item = dataValue(value, key);
      const text = item ? preview(item.value, limit, depth + 1) : "<getter>";
      if (!add((identifier.test(key) ? key : stringify(key)) + ": " + text)) break;
    }
    return (name === "Object" ? "" : name + " ") + "{" + parts.join(", ") + "}";
  };
  const sizeOf = (value) => {
    if (typeof value === "string") return value.length;
    if (value === null || typeof value !== "object") return null;
    if (isArray(value)) {
      const length = dataValue(value, "length");
      return length ? length.value : null;
    }
    const name = className(value);
    if (name === "Map") return call(mapSize, value);
    if (name === "Set") return call(setSize, value);
    return ownNames(value).length;
  };
  const toSource = Function.prototype.toString;
  const keywords = ("async await break case catch class const continue debugger default delete do else " +
    "export extends false finally for function if import in instanceof let new null return static " +
    "super switch this throw true try typeof undefined var void while with yield").split(" ");
  // A dotted path's value, following data properties only; null when not found.
  const resolve = (path, declared) => {
    const parts = path.split(".");
    if (!parts.every((part) => identifier.test(part))) return null;
    let found = dataValue(globalThis, parts[0]);
    if (found === null && declared.includes(parts[0])) {
      try {
        found = { value: (0, eval)(parts[0]) }; // reads the let/const binding, runs nothing else
      } catch (e) {
        return null;
      }
    }
    for (const part of parts.slice(1)) {
      if (found === null) return null;
      let object = found.value;
      if (object === null || object === undefined) return null;
      if (typeof object !== "object" && typeof object !== "function") object = Object(object);
      found = null;
      for (let depth = 0; object !== null && depth < 50 && found === null; depth++) {
        found = dataValue(object, part);
        object = getProto(object);
      }
    }
    return found;
  };
  const introspectors = {
    variables(args) {
      const limit = args.preview_chars || 120;
      const maxItems = args.max_items || 1000;
      const found = new Map();
      for (const name of ownNames(globalThis)) {
        if (baseline.has(name) || name.startsWith("__wb")) continue;
        const d = describe(globalThis, name);
        found.set(name, d && "value" in d ? { value: d.value } : null);
      }
      for (const name of args.names || []) {
        if (found.has(name) || typeof name !== "string" || !identifier.test(name)) continue;
        try {
          found.set(name, { value: (0, eval)(name) });
        } catch (e) {
          // Not declared (yet), or still in its temporal dead zone.
        }
      }
      const names = [...found.keys()].sort();
      const rows = [];
      for (const name of names.slice(0, maxItems)) {
        const item = found.get(name);
        if (item === null) {
          rows.push({ name, type: "getter", size: null, preview: "<getter>" });
          continue;
        }
        let text;
        try {
          text = cut(preview(item.value, limit, 0), limit);
        } catch (e) {
          text = "<" + typeOf(item.value) + ">";
        }
        rows.push({ name, type: typeOf(item.value), size: sizeOf(item.value), preview: text });
      }
      return { variables: rows, total: names.length };
    },
    // Console completion and inspection. Chains are followed through data
    // properties only (getters are never called), like the variables listing.
    complete(args) {
      const text = typeof args.text === "string" ? args.text.slice(0, 1000) : "";
      const dot = text.lastIndexOf(".");
      const prefix = text.slice(dot + 1);
      const names = new Set();
      if (dot >= 0) {
        const found = resolve(text.slice(0, dot), args.names || []);
        if (found === null) return { matches: [] };
        let object = found.value;
        if (object === null || object === undefined) return { matches: [] };
        if (typeof object !== "object" && typeof object !== "function") object = Object(object);
        for (let depth = 0; object !== null && depth < 50; depth++) {
          for (const name of ownNames(object)) names.add(name);
          object = getProto(object);
        }
      } else {
        for (const name of ownNames(globalThis)) if (!name.startsWith("__wb")) names.add(name);
        for (const name of args.names || []) if (typeof name === "string") names.add(name);
        for (const word of keywords) names.add(word);
      }
      const hidden = !prefix.startsWith("_");
      const matches = [...names]
        .filter((name) => name.startsWith(prefix) && identifier.test(name) && !(hidden && name.startsWith("__")))
        .sort();
      return { matches: matches.slice(0, args.max_items || 500) };
    },
    inspect(args) {
      const name = typeof args.name === "string" ? args.name.slice(0, 1000) : "";
      const found = name ? resolve(name, args.names || []) : null;
      if (found === null) return { found: false };
      const value = found.value;
      const lines = ["Type: " + typeOf(value)];
      if (typeof value === "function") {
        const source = call(toSource, value);
        const native = source.includes("[native code]");
        const head = source.split("\n")[0].replace(/\s*\{\s*$/, "");
        lines.push("Signature: " + cut(head, 300));
        const length = dataValue(value, "length");
        if (length) lines.push("Parameters: " + length.value);
        if (!native) lines.push("Source:\n" + cut(source, 4000));
      } else {
        lines.push("Value: " + cut(preview(value, 200, 0), 200));
      }
      return { found: true, text: lines.join("\n") };
    },
  };
  hidden("__wbIntrospect", (kind, argsJson) => {
    const handler = Object.prototype.hasOwnProperty.call(introspectors, kind) ? introspectors[kind] : null;
    if (handler === null) return stringify({ ok: false, error: "unknown introspection " + kind });
    try {
      const reply = handler(parse(argsJson));
      reply.ok = true;
      return stringify(reply);
    } catch (e) {
      return stringify({ ok: false, error: String(e && e.name) });
    }
  });
  hidden("__wbRestoreGlobals", (state) => {
    const restored = [];
    const failed = [];
    for (const [name, text] of Object.entries(state.values || {})) {
      try {
        globalThis[name] = JSON.parse(text);
        restored.push(name);
      } catch (e) {
        failed.push(name);
      }
    }
    for (const [name, source] of Object.entries(state.functions || {})) {
      try {
        globalThis[name] = (0, eval)("(" + source + ")");
        restored.push(name);
      } catch (e) {
        failed.push(name);
      }
    }
    return JSON.stringify({ ok: failed.length === 0, restored: restored.sort(), failed: failed.sort() });
  });
})();

// Interactive turns (Jupyter kernels, the workbench console): the host stores the
// script's completion value in globalThis.__wbLast and calls __wbShow(limit), which
// removes it and returns JSON {value: text or null, truncated}. undefined shows
// nothing, as in a notebook; the text looks like Node's REPL output, abridged.
(function () {
  "use strict";
  const inspect = (value, depth, seen) => {
    switch (typeof value) {
      case "string":
        return JSON.stringify(value);
      case "number":
        return Object.is(value, -0) ? "-0" : String(value);
      case "bigint":
        return String(value) + "n";
      case "boolean":
      case "undefined":
        return String(value);
      case "symbol":
        return value.toString();
      case "function": {
        const source = Function.prototype.toString.call(value);
        if (source.startsWith("class")) return "[class " + (value.name || "(anonymous)") + "]";
        return "[Function: " + (value.name || "(anonymous)") + "]";
      }
    }
    if (value === null) return "null";
    if (seen.includes(value)) return "[Circular]";
    if (value instanceof Error) return String(value.stack ? value + "\n" + value.stack : value).trim();
    if (value instanceof Date) return isNaN(value) ? "Invalid Date" : value.toISOString();
    if (value instanceof RegExp) return String(value);
    if (typeof Promise !== "undefined" && value instanceof Promise) return "Promise { <pending or settled> }";
    if (depth > 2) return Array.isArray(value) ? "[Array]" : "[Object]";
    const inner = seen.concat([value]);
    const items = [];
    const more = (count) => (count > 0 ? ["... " + count + " more items"] : []);
    if (Array.isArray(value)) {
      for (let i = 0; i < Math.min(value.length, 100); i++) items.push(inspect(value[i], depth + 1, inner));
      if (!items.length) return "[]";
      return "[ " + items.concat(more(value.length - 100)).join(", ") + " ]";
    }
    if (value instanceof Map) {
      let count = 0;
      for (const [k, v] of value) {
        if (count++ >= 100) break;
        items.push(inspect(k, depth + 1, inner) + " => " + inspect(v, depth + 1, inner));
      }
      return "Map(" + value.size + ") { " + items.concat(more(value.size - 100)).join(", ") + " }";
    }
    if (value instanceof Set) {
      let count = 0;
      for (const v of value) {
        if (count++ >= 100) break;
        items.push(inspect(v, depth + 1, inner));
      }
      return "Set(" + value.size + ") { " + items.concat(more(value.size - 100)).join(", ") + " }";
    }
    if (ArrayBuffer.isView(value)) {
      const array = Array.prototype.slice.call(value, 0, 100);
      return value.constructor.name + "(" + value.length + ") [ " + array.join(", ") + " ]";
    }
    const keys = Object.keys(value);
    for (const key of keys.slice(0, 100)) {
      const name = /^[A-Za-z_$][\w$]*$/.test(key) ? key : JSON.stringify(key);
      let text;
      try {
        text = inspect(value[key], depth + 1, inner);
      } catch (e) {
        text = "[Getter threw]";
      }
      items.push(name + ": " + text);
    }
    const proto = Object.getPrototypeOf(value);
    const ctor = proto && proto.constructor && proto.constructor.name;
    const prefix = proto === null ? "[Object: null prototype] " : ctor && ctor !== "Object" ? ctor + " " : "";
    if (!items.length) return prefix + "{}";
    return prefix + "{ " + items.concat(more(keys.length - 100)).join(", ") + " }";
  };
  Object.defineProperty(globalThis, "__wbShow", {
    value: (limit) => {
      const value = globalThis.__wbLast;
      delete globalThis.__wbLast;
      if (value === undefined) return JSON.stringify({ value: null });
      let text;
      try {
        text = inspect(value, 0, []);
      } catch (e) {
        text = "[value could not be shown: " + e + "]";
      }
      return JSON.stringify({ value: text.slice(0, limit), truncated: text.length > limit });
    },
    enumerable: false,
    writable: false,
  });
})();
