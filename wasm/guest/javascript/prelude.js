// WASM Workbench prelude: evaluated once in every QuickJS-NG context before user code.
// `std`, `os` and `bjson` are globals (qjs --std). Keep this small: it runs on every
// fresh instance, before the user's fuel budget starts.
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
