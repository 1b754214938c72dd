"""The JavaScript prelude: compiled once per process, run in every fresh context."""

from __future__ import annotations

from pathlib import Path

from workbench.sandbox import RuntimeType, SandboxEngine, create_sandbox

PROBE = """
const seen = [typeof setTimeout, typeof setInterval, typeof clearInterval,
              typeof sandbox_utils, typeof __wbShow, typeof __wbSaveGlobals,
              os.getcwd()[0], scriptArgs.length];
let fired = 0;
// Chained, not raced: a 20 ms timeout could fire before the second tick of a
// 1 ms interval on a busy machine.
const id = setInterval(() => {
  if (++fired === 2) {
    clearInterval(id);
    setTimeout(() => console.log(seen.join(",") + "," + fired), 1);
  }
}, 1);
"""
EXPECTED = "function,function,function,object,function,function,/app,1,2\n"


def test_every_fresh_context_gets_the_whole_prelude(
    engine: SandboxEngine, workspace_root: Path
) -> None:
    # The first instance of the process compiles the prelude; the others read its
    # bytecode back. Either way each context must have all of it, and start clean.
    with create_sandbox(RuntimeType.JAVASCRIPT, workspace_root=workspace_root) as sandbox:
        for _ in range(4):
            result = sandbox.execute(PROBE)
            assert result.success, result.summary()
            assert result.stdout == EXPECTED
        leaked = sandbox.execute("console.log(typeof fired, typeof seen)")
        assert leaked.stdout == "undefined undefined\n"


def test_the_prelude_is_not_parsed_at_every_start(
    engine: SandboxEngine, workspace_root: Path
) -> None:
    # Parsing the 18 KB prelude took ~9 M instructions (about 2 ms) of each start-up;
    # reading its bytecode back takes ~1 M. Fuel counts are exact, not timings.
    with create_sandbox(RuntimeType.JAVASCRIPT, workspace_root=workspace_root) as sandbox:
        sandbox.execute("1")
        result = sandbox.execute("1")
        assert 0 < result.startup_fuel < 6_000_000, result.startup_fuel
