"""The python-sci runtime: its mounts, figures, host call, choice and compile lock.

The contract suite (test_contract.TestScientificPython) and the security suite
(test_security, the ``py`` fixture) run against it too; this file covers what
only it has. Every test shares the one compile of the run (``sci_engine``).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from workbench.sandbox import (
    ExecutionPolicy,
    RuntimeType,
    Sandbox,
    SandboxEngine,
    TrapKind,
    analyze_error,
    auto_runtime,
    create_sandbox,
    create_session,
    scientific_imports,
)
from workbench.sandbox._engine import EngineProfile
from workbench.sandbox._filelock import FileLock
from workbench.sandbox._runtimes.scientific import (
    MAX_FIGURE_BYTES,
    MAX_FIGURES,
    module_names,
    png_size,
)

#: Enough fuel for numpy + matplotlib imported in the run itself (~5-10 B).
HEAVY = ExecutionPolicy().with_updates(fuel_budget=40_000_000_000, timeout_seconds=300)


@pytest.fixture
def sci(sci_engine: SandboxEngine, workspace_root: Path) -> Iterator[Sandbox]:
    sb = create_sandbox(RuntimeType.PYTHON_SCI, workspace_root=workspace_root)
    yield sb
    sb.close()


def test_it_is_cpython_315_with_only_its_own_mounts_and_environment(sci: Sandbox) -> None:
    code = (
        "import os, sys\nprint(sys.version_info[:2])\n"
        "print(sorted(os.listdir('/usr/local/lib')))\nprint(sorted(os.environ))"
    )
    result = sci.execute(code)
    assert result.success, result.stderr
    version, lib, env = result.stdout.splitlines()
    assert version == "(3, 15)"
    assert eval(lib) == ["python315.zip"]
    assert eval(env) == ["HOME", "MPLBACKEND", "MPLCONFIGDIR", "PYTHONTZPATH", "TMPDIR"]


def test_the_runtime_files_are_read_only(sci: Sandbox) -> None:
    code = textwrap.dedent(
        """
        for path in ('/usr/local/lib/x', '/usr/local/lib/python315.zip',
                     '/usr/local/lib/python315.zip/matplotlib/mpl-data/matplotlibrc'):
            try:
                open(path, 'a').write('x')
                print('wrote', path)
            except OSError as exc:
                print('refused', type(exc).__name__)
        """
    )
    result = sci.execute(code)
    assert "wrote" not in result.stdout
    assert result.stdout.count("refused") == 3


def test_tmp_is_in_the_workspace_and_counts_against_the_quota(sci: Sandbox) -> None:
    code = "open('/tmp/big.bin', 'wb').write(b'x' * 3_000_000)"
    result = sci.execute(code, policy=sci.policy.with_updates(workspace_max_bytes=1_000_000))
    assert result.workspace_quota_exceeded
    assert not (sci.workspace / ".tmp" / "big.bin").exists() or (
        (sci.workspace / ".tmp" / "big.bin").stat().st_size < 1_000_000
    )


def test_figures_come_back_through_the_host_call(sci: Sandbox) -> None:
    code = textwrap.dedent(
        """
        import matplotlib.pyplot as plt
        plt.plot([1, 2, 3], [3, 1, 2])
        plt.show()
        plt.figure(figsize=(3, 2), dpi=100)
        plt.bar(['a', 'b'], [1, 2])
        print(len(plt.get_fignums()))
        """
    )
    result = sci.execute(code, policy=HEAVY)
    assert result.success, result.stderr
    assert result.stdout == "1\n"  # show() handed the first one over and closed it
    assert [(f.index, f.width, f.height) for f in result.figures] == [
        (1, 640, 480),
        (2, 300, 200),
    ]
    assert all(f.data.startswith(b"\x89PNG\r\n\x1a\n") for f in result.figures)
    assert result.figures[0].mime_type == "image/png"
    assert not result.figures_truncated
    # No file was written for them: only matplotlib's font cache in /tmp.
    assert all(name.startswith(".tmp/") for name in result.files_created)


def test_a_guest_cannot_hand_over_a_fake_or_endless_figure(sci: Sandbox) -> None:
    code = textwrap.dedent(
        f"""
        import _host
        print(_host.call(b'figure/png\\nnot a png'))
        png = b'\\x89PNG\\r\\n\\x1a\\n' + (13).to_bytes(4, 'big') + b'IHDR'
        png += (1).to_bytes(4, 'big') * 2
        answers = [_host.call(b'figure/png\\n' + png) for _ in range({MAX_FIGURES} + 5)]
        print(answers.count(b'ok'), answers[-1])
        try:
            print(_host.call(b'read /etc/passwd'))
        except Exception as exc:
            print('refused', type(exc).__name__)
        """
    )
    result = sci.execute(code)
    lines = result.stdout.splitlines()
    assert lines[0] == "b'invalid'"
    assert lines[1] == f"{MAX_FIGURES} b'full'"
    assert "passwd" not in lines[2] and "root" not in lines[2]
    assert len(result.figures) == MAX_FIGURES
    assert result.figures_truncated


def test_preloaded_modules_are_imported_before_the_user_and_not_charged(
    sci_engine: SandboxEngine, workspace_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    code = "import sys\nprint('colorsys' in sys.modules, 'wave' in sys.modules)"
    monkeypatch.setenv("WASM_WORKBENCH_SCI_PRELOAD", "colorsys, not-a-name, os;print(1)")
    with create_sandbox(RuntimeType.PYTHON_SCI, workspace_root=workspace_root, warm=False) as sb:
        result = sb.execute(code)
    assert result.stdout == "True False\n", result.stderr
    assert result.startup_fuel > 0


def test_a_sandbox_chosen_preload_is_imported_ahead_and_only_names_get_through(
    sci_engine: SandboxEngine, workspace_root: Path
) -> None:
    # create_sandbox(sci_preload=...) is host configuration that becomes guest code,
    # like the environment variable: only dotted module names are imported.
    code = "import sys\nprint('colorsys' in sys.modules, 'wave' in sys.modules)"
    with create_sandbox(
        RuntimeType.PYTHON_SCI,
        workspace_root=workspace_root,
        warm=False,
        sci_preload=(" colorsys ", "wave;print(1)", "os)", ""),
    ) as sb:
        result = sb.execute(code)
    assert result.stdout == "True False\n", result.stderr
    assert module_names([" a.b ", "a b", "a.", "1x", "x_1.y"]) == ("a.b", "x_1.y")


def test_what_start_up_writes_is_not_the_users_change(
    sci_engine: SandboxEngine, workspace_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A cold instance (the CLI's) imports matplotlib while it starts, and matplotlib
    # writes its font cache into /tmp: every `run` listed it as the user's file.
    monkeypatch.setenv("WASM_WORKBENCH_SCI_PRELOAD", "matplotlib.font_manager")
    with create_sandbox(RuntimeType.PYTHON_SCI, workspace_root=workspace_root, warm=False) as sb:
        result = sb.execute("open('/app/mine.txt', 'w').close()")
        font_cache = list((sb.workspace / ".tmp" / "matplotlib").glob("fontlist-*.json"))
    assert result.success, result.stderr
    assert font_cache, "the start-up wrote no font cache: the test proves nothing"
    assert result.files_created == ["mine.txt"]


def test_png_size_reads_the_header_and_refuses_the_rest() -> None:
    header = b"\x89PNG\r\n\x1a\n" + (13).to_bytes(4, "big") + b"IHDR"
    assert png_size(header + (640).to_bytes(4, "big") + (480).to_bytes(4, "big")) == (640, 480)
    assert png_size(header + (0).to_bytes(4, "big") * 2) is None
    assert png_size(b"GIF89a" + b"\0" * 30) is None
    assert png_size(header) is None


def test_a_session_keeps_numpy_state_and_shows_values(
    sci_engine: SandboxEngine, workspace_root: Path
) -> None:
    with create_session(
        runtime=RuntimeType.PYTHON_SCI, workspace_root=workspace_root, policy=HEAVY
    ) as session:
        assert session.execute("import numpy as np\na = np.arange(6).reshape(2, 3)").success
        result = session.execute("a.sum()", interactive=True)
        assert result.success, result.stderr
        assert result.display_value == "np.int32(15)"  # wasm32: the default int is 32-bit
        names = {row.name for row in session.variables()}
        assert "a" in names


def test_stdout_is_buffered_in_the_guest_and_loses_nothing(
    sci_engine: SandboxEngine, workspace_root: Path
) -> None:
    # CPython 3.15 judges fd 1 unseekable and never asked the host for its
    # position, so registration failed: every print was two host calls, one
    # output chunk each, and a print loop ran ~10x slower.
    chunks: list[bytes] = []
    with create_session(
        runtime=RuntimeType.PYTHON_SCI, workspace_root=workspace_root, policy=HEAVY
    ) as session:
        printed = session.execute(
            "for i in range(20_000):\n    print(i)",
            on_output=lambda stream, chunk: chunks.append(chunk),
        )
        assert printed.success, printed.stderr
        assert printed.stdout == "".join(f"{i}\n" for i in range(20_000))
        # Watched, the host reads the buffer on epoch ticks: a few chunks, not 40,000.
        assert 0 < len(chunks) < 2_000
        stopped = session.execute(
            "i = 0\nwhile True:\n    print(i)\n    i += 1",
            policy=HEAVY.with_updates(fuel_budget=30_000_000),
        )
    assert stopped.trap_kind is TrapKind.OUT_OF_FUEL
    lines = stopped.stdout.splitlines()
    assert len(lines) > 100
    assert [int(line) for line in lines] == list(range(len(lines)))


def test_deadline_cuts_a_sleep(sci: Sandbox) -> None:
    began = time.monotonic()
    result = sci.execute(
        "import time\ntime.sleep(20)", policy=sci.policy.with_updates(timeout_seconds=0.5)
    )
    assert time.monotonic() - began < 5
    assert result.trap_kind.value == "deadline"


def test_auto_picks_python_sci_for_the_scientific_stack() -> None:
    assert scientific_imports("import numpy as np\nfrom pandas import DataFrame") == [
        "numpy",
        "pandas",
    ]
    assert scientific_imports("try:\n    import matplotlib.pyplot as plt\nexcept: pass") == [
        "matplotlib"
    ]
    assert scientific_imports("import os, sys\n# import numpy\nx = 'import pandas'") == []
    assert auto_runtime(RuntimeType.PYTHON, "import seaborn as sns") is RuntimeType.PYTHON_SCI
    assert auto_runtime(RuntimeType.PYTHON, "import json") is RuntimeType.PYTHON
    assert auto_runtime(RuntimeType.JAVASCRIPT, "import numpy") is RuntimeType.JAVASCRIPT
    assert auto_runtime(None, "import numpy") is None


def test_the_small_runtime_names_python_sci_for_pandas() -> None:
    stderr = (
        'Traceback (most recent call last):\n  File "<code>", line 1, in <module>\n'
        "ModuleNotFoundError: No module named 'pandas'\n"
    )
    guidance = analyze_error(
        runtime=RuntimeType.PYTHON,
        success=False,
        trap_kind=TrapKind.NONE,
        stderr=stderr,
        exit_code=1,
        fuel_budget=10**9,
        memory_limit_bytes=2**28,
        timeout_seconds=30,
    )
    assert guidance is not None
    assert guidance.error_type == "ModuleInScientificRuntime"
    assert any("python-sci" in fix for fix in guidance.fixes)


def test_python_sci_has_an_engine_of_its_own(sci_engine: SandboxEngine) -> None:
    spec = sci_engine.specs[RuntimeType.PYTHON_SCI]
    assert spec.profile == EngineProfile(wasm_stack=8 * 1024 * 1024, exceptions=True)
    assert sci_engine.engine_for(RuntimeType.PYTHON_SCI) is not sci_engine.wasm_engine
    assert sci_engine.engine_for(RuntimeType.PYTHON) is sci_engine.wasm_engine
    assert sci_engine.cache_key(spec) != sci_engine.cache_key(sci_engine.specs[RuntimeType.PYTHON])


_HOLD_LOCK = """
import sys, time
from pathlib import Path
from workbench.sandbox._filelock import FileLock
lock = FileLock(Path(sys.argv[1]))
lock.acquire()
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
lock.release()
"""


def test_the_compile_lock_is_held_across_processes(tmp_path: Path) -> None:
    path = tmp_path / "runtime.lock"
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD_LOCK, str(path), "1.0"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "locked"
        mine = FileLock(path)
        assert not mine.acquire(blocking=False)  # the other process holds it
        began = time.monotonic()
        assert mine.acquire()  # waits for the other process to let go
        assert time.monotonic() - began > 0.3
        mine.release()
    finally:
        holder.wait(10)
        holder.stdout.close()
    # A process that dies holding the lock releases it.
    killed = subprocess.Popen(
        [sys.executable, "-c", _HOLD_LOCK, str(path), "60"], stdout=subprocess.PIPE, text=True
    )
    assert killed.stdout is not None
    assert killed.stdout.readline().strip() == "locked"
    killed.kill()
    killed.wait(10)
    killed.stdout.close()
    with FileLock(path) as again:
        assert again.locked


SVG_PLOT = textwrap.dedent(
    """
    import matplotlib.pyplot as plt
    plt.plot([1, 2, 3], [3, 1, 2])
    plt.title('Rainfall by month')
    plt.show()
    plt.figure()
    plt.bar(['a', 'b'], [1, 2])
    """
)


def test_figures_come_with_svg_only_when_asked(sci: Sandbox) -> None:
    import xml.etree.ElementTree as ET

    plain = sci.execute(SVG_PLOT, policy=HEAVY)
    assert plain.success, plain.stderr
    assert [f.svg for f in plain.figures] == [None, None]

    result = sci.execute(SVG_PLOT, policy=HEAVY, figure_svg=True)
    assert result.success, result.stderr
    assert len(result.figures) == 2 and not result.figures_truncated
    first, second = result.figures
    assert first.svg is not None and second.svg is not None
    assert first.data.startswith(b"\x89PNG")  # the PNG is still there
    root = ET.fromstring(first.svg)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    # Vector graphics, not a bitmap inside an SVG: paths, and no embedded image.
    assert root.find(".//{http://www.w3.org/2000/svg}path") is not None
    assert root.find(".//{http://www.w3.org/2000/svg}image") is None
    assert b"Rainfall by month" in first.svg
    assert first.svg_bytes == len(first.svg)


def test_a_session_turn_can_ask_for_svg(sci_engine: SandboxEngine, workspace_root: Path) -> None:
    with create_session(RuntimeType.PYTHON_SCI, workspace_root=workspace_root) as session:
        result = session.execute(SVG_PLOT, policy=HEAVY, figure_svg=True)
        assert result.success, result.stderr
        assert all(f.svg is not None for f in result.figures)
        again = session.execute("plt.plot([1]); plt.show()", policy=HEAVY)
        assert again.figures[0].svg is None


def test_a_guest_cannot_slip_in_or_outgrow_an_svg(sci: Sandbox) -> None:
    code = textwrap.dedent(
        f"""
        import _host
        png = b'\\x89PNG\\r\\n\\x1a\\n' + (13).to_bytes(4, 'big') + b'IHDR'
        png += (1).to_bytes(4, 'big') * 2
        svg = b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"/>'
        # An SVG that no PNG asked for, a second one, and one that isn't SVG.
        print(_host.call(b'figure/svg\\n' + svg))
        print(_host.call(b'figure/png\\n' + png))
        print(_host.call(b'figure/svg\\n' + b'<html>'))
        print(_host.call(b'figure/svg\\n' + svg))
        print(_host.call(b'figure/png\\n' + png))
        print(_host.call(b'figure/svg\\n' + svg))
        print(_host.call(b'figure/svg\\n' + svg))
        # Too big for one figure; then enough to fill the run.
        print(_host.call(b'figure/png\\n' + png))
        print(_host.call(b'figure/svg\\n' + svg + b' ' * {MAX_FIGURE_BYTES}))
        big = svg + b' ' * ({MAX_FIGURE_BYTES} - len(svg))
        answers = []
        for _ in range(8):
            answers.append(_host.call(b'figure/png\\n' + png))
            answers.append(_host.call(b'figure/svg\\n' + big))
        print(answers.count(b'ok'), answers[-1])
        """
    )
    result = sci.execute(code, figure_svg=True)
    assert result.success, result.stderr
    lines = result.stdout.splitlines()
    assert lines[:7] == [
        "b'invalid'",  # no PNG before it
        "b'ok svg'",
        "b'invalid'",  # not an SVG: and the figure's one chance is gone
        "b'invalid'",
        "b'ok svg'",
        "b'ok'",
        "b'invalid'",  # a second SVG for the same figure
    ]
    assert lines[7:9] == ["b'ok svg'", "b'full'"]
    # 32 MiB per run: three 8 MiB SVGs fit beside the small PNGs, the fourth doesn't.
    assert lines[9] == "3 b'full'"
    assert result.figures_truncated
    sizes = [f.size_bytes + f.svg_bytes for f in result.figures]
    assert sum(sizes) <= 32 * 1024 * 1024
    assert all(f.svg_bytes <= MAX_FIGURE_BYTES for f in result.figures)
    assert [f.svg is not None for f in result.figures[:3]] == [False, True, False]


@pytest.mark.slow
def test_the_data_analysis_preset_runs_what_the_default_cannot_hold(
    sci_engine: SandboxEngine, workspace_root: Path
) -> None:
    # scikit-learn, statsmodels and seaborn are not preloaded: imported in the run,
    # they cost more fuel (and memory) than the default policy gives.
    from workbench.sandbox import TrapKind, load_policy

    code = (
        "import sklearn.linear_model, statsmodels.api, seaborn\n"
        "import numpy as np\n"
        "model = sklearn.linear_model.LinearRegression().fit(np.arange(4).reshape(-1, 1), "
        "[1, 3, 5, 7])\nprint(round(float(model.coef_[0]), 3))\n"
    )
    with create_sandbox(
        RuntimeType.PYTHON_SCI, policy=load_policy("data-analysis"), workspace_root=workspace_root
    ) as sb:
        roomy = sb.execute(code)
        tight = sb.execute(code, policy=load_policy("default"))
    assert roomy.success, roomy.stderr[-2000:]
    assert roomy.stdout.strip() == "2.0"
    assert not tight.success
    assert tight.trap_kind in (TrapKind.OUT_OF_FUEL, TrapKind.MEMORY) or "MemoryError" in (
        tight.stderr
    ), tight.summary()
