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
