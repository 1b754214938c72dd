// WASM Workbench fuel profiler for JavaScript: the guest half (the host half is
// workbench/sandbox/_profile.py, JsProfileRecorder).
//
// QuickJS-NG has no hook at function entry or exit the host could read fuel at,
// so a profiled run runs a spliced copy of the user's source. acorn (vendored
// beside this file, acorn.js 8.19.0, MIT, see acorn.LICENSE) parses it here, in
// the guest, while the host runs this on a fuel tank of its own; nothing of it is
// charged to the user's budget. Every function (declarations, expressions, arrows
// with block or expression bodies, methods, getters/setters, class constructors,
// async and generator functions) gets
//
//   an enter event at the start of its body (after its directives), and
//   an exit event before each `return`, once its value is computed
//   (`return x` -> `return (__wbV=(x),exit,__wbV)`), and at the end of its body.
//
// An exception leaves a function without an event. A handler in every function
// (try/finally, or catch and throw again) would see it, but QuickJS-NG builds the
// backtrace string again each time a caught exception is thrown on (the
// exception path of JS_CallInternal calls build_backtrace whenever the
// context's error_back_trace is undefined, and every catch or finally that
// takes the exception resets it): ~40 k instructions per frame crossed, 4.6
// times the fuel of a plain run for a throw through six functions. Instead each
// `catch` and `finally` block the user wrote sends a catch event, and the host
// ends the frames the exception left from where the events come from (see
// JsProfileRecorder). Async functions keep their exit in a finally: their
// exception ends in a promise, where no event of a frame below would see it.
//
// An event is `__wbS(0, id, op)`: `os.seek` captured before user code runs, so
// `lseek(0, id, op)` reaches the host's fd_seek with a `whence` no real call uses
// (OP_JS_* in _profile.py). The host reads the store's fuel there and does all the
// accounting; the guest never reports a number of fuel. A function's name and
// first line go to the host once, in the JSON __wbInstrument returns. Every
// function declares one temporary, `var __wbV`, and leaves through it, so that
// an event costs the same whatever the function's shape; two probe events open
// the code, so that the host can correct that cost for the user's globals.
//
// `yield` and `await` leave the function and come back: `await x` becomes
// `(__wbV=await (__wbV=(x),suspend,__wbV),resume,__wbV)`, a suspend event after x
// is evaluated and a resume event when the function runs again. (If the awaited
// promise rejects or a generator is thrown into, the resume event is the catch
// event of the block that takes the exception, if any. `for await` and the awaits
// of destructuring are not seen.)
//
// Insertions contain no line break, so every line of the user's code keeps its
// number and errors and stack traces point at the user's lines (columns move).
// Code acorn refuses (a syntax error, or syntax QuickJS has and acorn hasn't) is
// not profiled: __wbInstrument says why, and the host runs the code unchanged.
//
// Evaluated by the host inside `(function () { const exports = {}, module = {exports}; <acorn.js>; <this> })()`:
// `exports` is acorn.
"use strict";
(function (acorn) {
  const seek = os.seek;
  // The operations (the `whence` of the seek): OP_JS_ENTER ... in _profile.py.
  const ENTER = 0xb2, EXIT = 0xb3, SUSPEND = 0xb4, RESUME = 0xb5, CATCH = 0xb6;
  const event = (id, op) => "__wbS(0," + id + "," + op + ")";
  const PROBE = event(0, 0xb7);
  // The temporary a function's splices keep a value in (its own, one per frame).
  // Every function declares it and leaves through it, so that every event costs
  // the same (a local costs ~50 instructions a call, its use ~60 more).
  const TEMP = "var __wbV;";
  // Leaving with no value: the same instructions as `(__wbV=(x),exit,__wbV)` less
  // the value's (an `undefined` more than a plain run's implicit return).
  const leave = (id) => "return(" + event(id, EXIT) + ",__wbV=void 0)";
  const hidden = (name, value) =>
    Object.defineProperty(globalThis, name, { value, enumerable: false, writable: false, configurable: false });
  hidden("__wbS", seek);

  const isNode = (value) => value !== null && typeof value === "object" && typeof value.type === "string";
  const isFunction = (node) =>
    node.type === "FunctionDeclaration" || node.type === "FunctionExpression" || node.type === "ArrowFunctionExpression";

  // A readable name for a function from where it stands (V8's inferred names, simplified).
  const keyName = (key, computed, source) => {
    if (!computed && key.type === "Identifier") return key.name;
    if (key.type === "PrivateIdentifier") return "#" + key.name;
    if (key.type === "Literal") return String(key.value);
    return "[" + source.slice(key.start, key.end).slice(0, 40) + "]";
  };

  // instrument(source, isModule, firstId, maxId) -> {ok, code, functions: [[name, line], ...], truncated}
  const instrument = (source, isModule, firstId, maxId) => {
    const arrows = []; // end offsets of `=>` tokens, in order
    let ast;
    try {
      ast = acorn.parse(source, {
        ecmaVersion: "latest",
        sourceType: isModule ? "module" : "script",
        allowHashBang: true,
        allowAwaitOutsideFunction: isModule,
        locations: true,
        onToken: (token) => {
          if (token.type.label === "=>") arrows.push(token.end);
        },
      });
    } catch (e) {
      return { ok: false, error: String((e && e.message) || e) };
    }
    const inserts = []; // [position, order, text]
    const functions = [];
    let next = firstId;
    let truncated = false;
    let order = 0;
    // At one position, opening text of outer nodes goes first and closing text of
    // inner nodes first: `order` grows with depth for openings, shrinks for closings.
    const open = (pos, depth, text) => {
      const insert = [pos, 1, depth, order++, text];
      inserts.push(insert);
      return insert;
    };
    const close = (pos, depth, text) => inserts.push([pos, 0, -depth, order++, text]);
    const arrowEnd = (body) => {
      let lo = 0, hi = arrows.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (arrows[mid] <= body.start) lo = mid + 1;
        else hi = mid;
      }
      return arrows[lo - 1];
    };

    // Per instrumented function, by id - firstId: whether it is async.
    const fns = [];
    // Where expression statements start: a splice beginning with "(" there could
    // join the line before (no semicolon), so it begins with "0," instead.
    const statementStarts = new Set();
    // Where a body's statements start: after its directives ("use strict"; a
    // directive without its semicolon gets one, or the splice would join it).
    const bodyStart = (body, start) => {
      let at = start;
      let lead = "";
      for (const statement of body) {
        if (statement.type !== "ExpressionStatement" || typeof statement.directive !== "string") break;
        at = statement.end;
        lead = ";";
      }
      return [at, lead];
    };

    const visitFunction = (node, name, depth) => {
      if (next > maxId) {
        truncated = true;
        return 0;
      }
      const id = next++;
      const label = name || (node.id && node.id.name) || "(anonymous)";
      functions.push([label, node.loc.start.line]);
      const enter = TEMP + event(id, ENTER) + ";";
      const exit = event(id, EXIT);
      const body = node.body;
      // An async function's exception ends in its promise, where no event of a
      // frame below would see it: its exit stays in a finally (see the head).
      const guarded = node.async;
      fns.push(guarded);
      if (body.type === "BlockStatement") {
        const [at, lead] = bodyStart(body.body, body.start + 1);
        if (at === body.end - 1) {
          // Nothing else in it (closing text at a position goes before opening text).
          open(at, depth, lead + enter + (guarded ? "try{}finally{" + exit + "}" : leave(id)));
        } else if (guarded) {
          open(at, depth, lead + enter + "try{");
          close(body.end - 1, depth, "}finally{" + exit + "}");
        } else {
          open(at, depth, lead + enter);
          close(body.end - 1, depth, ";" + leave(id));
        }
      } else if (guarded) {
        open(arrowEnd(body), depth, "{" + enter + "try{return(");
        close(node.end, depth, ")}finally{" + exit + "}}");
      } else {
        open(arrowEnd(body), depth, "{" + enter + "return(");
        close(node.end, depth, ")}");
        returned(body, depth + 0.5, id);
      }
      return id;
    };

    // The exit event around a returned value `x`: `(__wbV=(x),exit,__wbV)`. A
    // conditional gets it in each branch: QuickJS turns the jump from the first
    // branch to the `return` into a return of its own, which one splice after the
    // whole conditional would undo (a jump more in every call that takes it: +1 %
    // on a recursive fib).
    const returned = (value, depth, fn) => {
      if (value.type === "ConditionalExpression") {
        returned(value.consequent, depth + 0.5, fn);
        returned(value.alternate, depth + 0.5, fn);
        return;
      }
      open(value.start, depth, "(__wbV=(");
      close(value.end, depth, ")," + event(fn, EXIT) + ",__wbV)");
    };

    // Walk the tree; `fn` is the id of the innermost instrumented function (0: none).
    const walk = (node, depth, fn, name, className) => {
      if (isFunction(node)) {
        fn = visitFunction(node, name, depth);
        name = "";
      } else if (node.type === "ExpressionStatement") {
        statementStarts.add(node.start);
      } else if (node.type === "ReturnStatement" && fn && !fns[fn - firstId]) {
        // The exit event once the returned value is computed, before it leaves.
        if (node.argument) returned(node.argument, depth + 0.5, fn);
        else {
          // Before `return;` (left as dead code: `return` then a line break ends it).
          open(node.start, depth, "{" + leave(fn) + ";");
          close(node.end, depth, "}");
        }
      } else if (node.type === "CatchClause" || (node.type === "BlockStatement" && node.landing)) {
        // Where an exception lands: the frames it left have ended (the host pops them).
        const block = node.type === "CatchClause" ? node.body : node;
        open(block.start + 1, depth + 0.5, event(fn, CATCH) + ";");
      } else if (fn && (node.type === "AwaitExpression" || node.type === "YieldExpression")) {
        // `await x` -> `(__wbV=await (__wbV=(x),suspend,__wbV),resume,__wbV)`: the
        // operand first, the suspend event, the await, the resume event, its value.
        const lead = statementStarts.has(node.start) ? "0,(" : "(";
        if (node.argument) {
          open(node.start, depth, lead + "__wbV=");
          open(node.argument.start, depth + 0.5, "(__wbV=(");
          close(node.argument.end, depth + 0.5, ")," + event(fn, SUSPEND) + ",__wbV)");
        } else {
          open(node.start, depth, lead + "__wbV=(" + event(fn, SUSPEND) + ",");
          close(node.end, depth + 0.5, ")");
        }
        close(node.end, depth, "," + event(fn, RESUME) + ",__wbV)");
      }
      if (node.type === "TryStatement" && node.finalizer) node.finalizer.landing = true;
      for (const key in node) {
        if (key === "loc" || key === "type" || key === "start" || key === "end" || key === "landing") continue;
        const value = node[key];
        if (Array.isArray(value)) {
          for (const item of value) if (isNode(item)) walk(item, depth + 1, fn, "", className);
          continue;
        }
        if (!isNode(value)) continue;
        let childName = "";
        let childClass = className;
        if (node.type === "VariableDeclarator" && key === "init" && node.id.type === "Identifier") childName = node.id.name;
        else if (node.type === "AssignmentExpression" && key === "right") childName = source.slice(node.left.start, node.left.end).slice(0, 60);
        else if (node.type === "Property" && key === "value") childName = keyName(node.key, node.computed, source);
        else if (node.type === "PropertyDefinition" && key === "value") childName = className + "." + keyName(node.key, node.computed, source);
        else if (node.type === "MethodDefinition" && key === "value") {
          const base = node.kind === "constructor" ? "constructor" : keyName(node.key, node.computed, source);
          const kind = node.kind === "get" || node.kind === "set" ? node.kind + " " : "";
          childName = kind + className + "." + base;
        } else if ((node.type === "ClassDeclaration" || node.type === "ClassExpression") && key === "body") {
          childClass = node.id ? node.id.name : name || "(anonymous class)";
        }
        walk(value, depth + 1, fn, childName, childClass);
      }
    };
    // Two events where the code starts: the fuel between them is what one event
    // costs now that the code's globals exist (see OP_JS_PROBE in _profile.py).
    const [top, lead] = bodyStart(ast.body, ast.body.length ? ast.body[0].start : source.length);
    open(top, -1, lead + PROBE + ";" + PROBE + ";");
    walk(ast, 0, 0, "", "");
    inserts.sort((a, b) => a[0] - b[0] || a[1] - b[1] || a[2] - b[2] || a[3] - b[3]);
    let out = "";
    let at = 0;
    for (const [pos, , , , text] of inserts) {
      out += source.slice(at, pos) + text;
      at = pos;
    }
    out += source.slice(at);
    return { ok: true, code: out, functions, truncated };
  };

  // The calibration: the host reads the fuel around `__wbCalibrate(kind, n)`, the
  // same calls plain (even kinds) and spliced (odd kinds), and derives what one
  // event costs (the spliced functions' ids are past the profile's, never counted).
  const CALIBRATION =
    "(function () { function f() { return 1; } function calls(n) { for (let i = 0; i < n; i++) f(); } " +
    "function* g() { for (;;) yield 1; } function steps(n) { const it = g(); for (let i = 0; i < n; i++) it.next(); } " +
    "return [calls, steps]; })()";
  let calibration;
  hidden("__wbCalibrate", (kind, n) => {
    if (kind < 0) {
      const spliced = instrument(CALIBRATION, false, 9000, 9100).code;
      calibration = [(0, eval)(CALIBRATION), (0, eval)(spliced)];
    } else calibration[kind & 1][kind >> 1](n);
  });

  hidden("__wbInstrument", (source, isModule, firstId, maxId) => JSON.stringify(instrument(source, isModule, firstId, maxId)));
})(exports);
