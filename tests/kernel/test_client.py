"""The kernels through a real jupyter_client client, as JupyterLab talks to them."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path

import pytest
from _jupyter import Client

# A real 1x1 PNG.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)


def _streams(outputs: list, name: str = "stdout") -> str:
    return "".join(c["text"] for kind, c in outputs if kind == "stream" and c["name"] == name)


def test_kernelspecs_are_installed_with_jupyter_client(kernelspecs: dict[str, str]) -> None:
    from jupyter_client.kernelspec import KernelSpecManager

    specs = KernelSpecManager().get_all_specs()
    assert specs["wasm-python"]["spec"]["display_name"] == "WASM Python"
    assert specs["wasm-javascript"]["spec"]["language"] == "javascript"
    assert specs["wasm-python-sci"]["spec"]["display_name"] == "WASM Python (scientific)"
    assert "python-sci" in specs["wasm-python-sci"]["spec"]["argv"]
    spec = json.loads((Path(kernelspecs["wasm-python"]) / "kernel.json").read_text())
    assert spec["interrupt_mode"] == "message"
    assert spec["argv"][-2:] == ["-f", "{connection_file}"]
    assert "fuel_budget=1e12" in spec["argv"]


def test_kernel_info(python_kernel: Client, js_kernel: Client) -> None:
    info = python_kernel.request("kernel_info")
    assert info["implementation"] == "wasm-workbench"
    language = info["language_info"]
    assert language["name"] == "python" and language["version"] == "3.12.0"
    assert language["file_extension"] == ".py"
    assert language["pygments_lexer"] == "python3"
    assert language["codemirror_mode"] == {"name": "python", "version": 3}
    assert "debugger" not in info["supported_features"]
    js = js_kernel.request("kernel_info")["language_info"]
    assert js["name"] == "javascript" and js["file_extension"] == ".js"
    assert js["version"].startswith("0.15")


def test_python_cells_share_state_and_show_values(python_kernel: Client) -> None:
    reply, outputs = python_kernel.run("x = 6\nprint('side effect')\nx * 7")
    assert reply["status"] == "ok"
    assert outputs[0] == ("stream", {"name": "stdout", "text": "side effect\n"})
    kind, content = outputs[-1]
    assert kind == "execute_result"
    assert content["data"]["text/plain"] == "42"
    assert content["execution_count"] == reply["execution_count"]
    reply, outputs = python_kernel.run("x + 1;")  # a trailing ; hides the value
    assert reply["status"] == "ok" and outputs == []


def test_output_streams_while_the_cell_runs(python_kernel: Client) -> None:
    # "a" must arrive as its own message, before "b" is even written.
    reply, outputs = python_kernel.run("import time\nprint('a')\ntime.sleep(1)\nprint('b')")
    assert reply["status"] == "ok"
    texts = [c["text"] for kind, c in outputs if kind == "stream"]
    assert texts == ["a\n", "b\n"]


def test_python_error_reply_has_the_guest_traceback(python_kernel: Client) -> None:
    reply, outputs = python_kernel.run("print('before')\ndef f():\n    return 1 / 0\nf()")
    assert reply["status"] == "error"
    assert reply["ename"] == "ZeroDivisionError"
    assert reply["evalue"] == "division by zero"
    assert reply["traceback"][0] == "Traceback (most recent call last):"
    assert any("line 3, in f" in line for line in reply["traceback"])
    kinds = [kind for kind, _ in outputs]
    assert kinds == ["stream", "error"]  # the traceback is shown once, not also on stderr
    assert _streams(outputs, "stderr") == ""
    syntax, _ = python_kernel.run("def broken(:")
    assert syntax["ename"] == "SyntaxError"


def test_stderr_that_is_not_an_error_is_streamed(python_kernel: Client) -> None:
    reply, outputs = python_kernel.run("import sys\nsys.stderr.write('warn\\n')\n")
    assert reply["status"] == "ok"
    assert _streams(outputs, "stderr") == "warn\n"


def test_limits_are_reported_in_words(python_kernel: Client) -> None:
    reply, outputs = python_kernel.run("import time\ntime.sleep(0.2)\nprint('x' * 2_000_000)")
    assert reply["status"] == "ok"
    assert "stdout was truncated: kept 1.0 MB of 1.9 MB" in _streams(outputs, "stderr")
    reply, _ = python_kernel.run("raise SystemExit(3)")
    assert reply["status"] == "error"
    assert reply["evalue"] == "exit code 3"


def test_interrupt_stops_an_infinite_loop(python_kernel: Client) -> None:
    python_kernel.run("survivor = 'kept'")
    msg_id = python_kernel.kc.execute("while True:\n    pass")
    # Wait until the kernel is busy with it, then interrupt through the protocol.
    while True:
        msg = python_kernel.kc.get_iopub_msg(timeout=30)
        if msg["parent_header"].get("msg_id") == msg_id and msg["msg_type"] == "execute_input":
            break
    time.sleep(0.3)
    python_kernel.km.interrupt_kernel()
    reply, outputs = python_kernel.wait(msg_id, timeout=30)
    assert reply["status"] == "error"
    assert reply["ename"] == "Cancelled"
    assert reply["evalue"] == "stopped: cancelled on request"
    assert any("in-memory state" in line for line in reply["traceback"])
    # The kernel goes on with a new interpreter.
    again, outputs = python_kernel.run("'survivor' in globals(), 1 + 1")
    assert again["status"] == "ok"
    assert outputs[-1][1]["data"]["text/plain"] == "(False, 2)"


def test_is_complete(python_kernel: Client, js_kernel: Client) -> None:
    assert python_kernel.request("is_complete", "x = 1")["status"] == "complete"
    incomplete = python_kernel.request("is_complete", "for i in range(3):")
    assert incomplete == {"status": "incomplete", "indent": "    "}
    assert python_kernel.request("is_complete", "def f(:")["status"] == "invalid"
    assert js_kernel.request("is_complete", "function f() {")["status"] == "incomplete"
    assert js_kernel.request("is_complete", "let a = [1, 2]")["status"] == "complete"
    assert js_kernel.request("is_complete", "a)")["status"] == "invalid"


def test_images_written_to_app_are_displayed(python_kernel: Client) -> None:
    code = f"open('/app/dot.png', 'wb').write({PNG!r})\n"
    code += "open('/app/fake.png', 'wb').write(b'not a png')\n"
    code += "open('/app/plot.svg', 'w').write('<svg xmlns=\"http://www.w3.org/2000/svg\"/>');"
    reply, outputs = python_kernel.run(code)
    assert reply["status"] == "ok"
    shown = [c for kind, c in outputs if kind == "display_data"]
    assert len(shown) == 2  # the file named .png that isn't a PNG is not shown
    by_type = {next(k for k in c["data"] if k != "text/plain"): c for c in shown}
    assert base64.b64decode(by_type["image/png"]["data"]["image/png"]) == PNG
    assert by_type["image/png"]["metadata"]["filename"] == "/app/dot.png"
    assert by_type["image/svg+xml"]["data"]["image/svg+xml"].startswith("<svg")


def test_sci_kernel_sends_figures_as_display_data(sci_kernel: Client) -> None:
    info = sci_kernel.request("kernel_info")["language_info"]
    assert info["name"] == "python" and info["version"].startswith("3.15")
    code = (
        "import matplotlib.pyplot as plt\n"
        "plt.plot([1, 3, 2])\n"
        "plt.show()\n"
        "plt.figure(figsize=(3, 2), dpi=100)\n"
        "plt.bar(['a', 'b'], [2, 5])\n"  # left open: sent at the end of the cell
        "print('drawn')\n"
        "21 * 2"
    )
    reply, outputs = sci_kernel.run(code, timeout=300)
    assert reply["status"] == "ok", reply
    kinds = [kind for kind, _ in outputs]
    assert kinds == ["stream", "display_data", "display_data", "execute_result"], outputs
    assert outputs[0][1]["text"] == "drawn\n"
    figures = [content for kind, content in outputs if kind == "display_data"]
    for content in figures:
        png = base64.b64decode(content["data"]["image/png"], validate=True)
        assert png.startswith(b"\x89PNG\r\n\x1a\n")
        width = int.from_bytes(png[16:20], "big")
        height = int.from_bytes(png[20:24], "big")
        assert content["metadata"]["image/png"] == {"width": width, "height": height}
        assert content["data"]["text/plain"].startswith("<Figure ")
    assert figures[1]["metadata"]["image/png"] == {"width": 300, "height": 200}
    assert outputs[-1][1]["data"]["text/plain"] == "42"
    # Shown figures are closed: the next cell draws nothing.
    reply, outputs = sci_kernel.run("print('again')", timeout=120)
    assert [kind for kind, _ in outputs] == ["stream"]


def test_sci_kernel_keeps_to_the_per_run_figure_cap(sci_kernel: Client) -> None:
    code = (
        "import matplotlib.pyplot as plt\n"
        "for n in range(55):\n"
        "    plt.figure(figsize=(1, 1), dpi=20)\n"
        "    plt.plot([0, n])\n"
        "plt.show()"
    )
    reply, outputs = sci_kernel.run(code, timeout=300)
    assert reply["status"] == "ok", reply
    shown = [content for kind, content in outputs if kind == "display_data"]
    assert len(shown) == 50  # the sandbox keeps at most 50 figures per run
    assert [c["data"]["text/plain"].split(":")[0] for c in shown[:2]] == [
        "<Figure 1",
        "<Figure 2",
    ]
    notes = "".join(c["text"] for kind, c in outputs if kind == "stream")
    assert "per-run figure cap" in notes


def test_javascript_cells(js_kernel: Client) -> None:
    reply, outputs = js_kernel.run("let n = 20;\nconsole.log('hi');\nn + 22")
    assert reply["status"] == "ok"
    assert outputs[0] == ("stream", {"name": "stdout", "text": "hi\n"})
    assert outputs[-1][1]["data"]["text/plain"] == "42"
    assert js_kernel.run("n")[1][-1][1]["data"]["text/plain"] == "20"
    failed, outputs = js_kernel.run("null.x")
    assert failed["status"] == "error"
    assert failed["ename"] == "TypeError"
    assert [kind for kind, _ in outputs] == ["error"]


def test_restart_keeps_the_workspace_with_a_fresh_interpreter(kernelspecs: dict) -> None:
    client = Client("wasm-python")
    try:
        client.run("open('/app/kept.txt', 'w').write('data')\nvariable = 1")
        client.km.restart_kernel(now=False)
        client.kc.wait_for_ready(timeout=60)
        reply, outputs = client.run("open('/app/kept.txt').read(), 'variable' in globals()")
        assert reply["status"] == "ok"
        assert outputs[-1][1]["data"]["text/plain"] == "('data', False)"
    finally:
        client.close()


def test_a_new_kernel_gets_its_own_workspace(python_kernel: Client, kernelspecs: dict) -> None:
    python_kernel.run("open('/app/mine.txt', 'w').write('x')")
    other = Client("wasm-python")
    try:
        _reply, outputs = other.run("import os\nos.path.exists('/app/mine.txt')")
        assert outputs[-1][1]["data"]["text/plain"] == "False"
    finally:
        other.close()


@pytest.mark.parametrize("bad", ["../escape", "a/b", "x" * 100, "..", "a\x00b", "/abs"])
def test_kernel_refuses_bad_session_ids(bad: str, capsys: pytest.CaptureFixture[str]) -> None:
    from workbench.kernel import launch
    from workbench.kernel._launch import KernelOptions, session_id_for
    from workbench.sandbox import InvalidSessionIdError

    with pytest.raises(InvalidSessionIdError):
        session_id_for(KernelOptions(session=bad, connection_file=None), {})
    with pytest.raises(InvalidSessionIdError):
        session_id_for(
            KernelOptions(session=None, connection_file=None),
            {"WASM_WORKBENCH_KERNEL_SESSION": bad},
        )
    # The kernel process says so and exits before opening anything.
    assert launch(["--session", bad]) == 2
    assert "Session id" in capsys.readouterr().err


def test_connection_file_names_become_valid_session_ids() -> None:
    from workbench.kernel._launch import KernelOptions, session_id_for

    sid = session_id_for(
        KernelOptions(session=None, connection_file="/run/x/kernel-1a2b.../\\é .json"), {}
    )
    assert sid.startswith("jupyter-")
    weird = session_id_for(
        KernelOptions(session=None, connection_file="/tmp/kernel-" + "z" * 200 + ".json"), {}
    )
    assert len(weird) <= 64


def test_kernel_refuses_a_session_of_the_other_language(
    engine: object, capsys: pytest.CaptureFixture[str]
) -> None:
    from workbench.kernel import launch
    from workbench.sandbox import create_session

    session = create_session("javascript", session_id="js-only-session")
    session.close()
    assert launch(["--runtime", "python", "--session", "js-only-session"]) == 2
    assert "is a javascript session" in capsys.readouterr().err


def test_kernel_refuses_a_bad_policy(capsys: pytest.CaptureFixture[str]) -> None:
    from workbench.kernel import launch

    assert launch(["--policy", "no-such-preset"]) == 2
    assert launch(["--set", "fuel_budget=-5"]) == 2
    assert launch(["--set", "not_a_setting=1"]) == 2
    err = capsys.readouterr().err
    assert "No policy preset named 'no-such-preset'" in err
    assert "unknown setting" in err


def test_completions_come_from_the_guest_interpreter(python_kernel: Client) -> None:
    python_kernel.run(
        "import math\n"
        "class Trap:\n"
        "    @property\n"
        "    def boom(self):\n"
        "        while True: pass\n"
        "    def __getattr__(self, name):\n"
        "        while True: pass\n"
        "    def __dir__(self):\n"
        "        while True: pass\n"
        "    def method(self): pass\n"
        "trap = Trap()\n"
        "my_value = 1"
    )
    reply = python_kernel.request("complete", "x = math.fa")
    assert reply["matches"] == ["fabs", "factorial"]
    assert (reply["cursor_start"], reply["cursor_end"]) == (9, 11)
    assert python_kernel.request("complete", "my_v")["matches"] == ["my_value"]
    # Attributes are listed without running the object's property, __getattr__ or
    # __dir__ (each would loop forever and cost the session its interpreter).
    assert python_kernel.request("complete", "trap.")["matches"] == ["boom", "method"]
    assert python_kernel.request("complete", "trap.boom.fg")["matches"] == ["fget"]
    reply, outputs = python_kernel.run("my_value + 1")
    assert outputs[-1][1]["data"]["text/plain"] == "2"  # state survived


def test_inspect_shows_signature_and_docstring(python_kernel: Client, js_kernel: Client) -> None:
    python_kernel.run("def area(r, pi=3.14):\n    '''Area of a circle.'''\n    return pi * r * r")
    reply = python_kernel.request("inspect", "area(", 4)
    assert reply["found"]
    text = reply["data"]["text/plain"]
    assert "Signature: area(r, pi=3.14)" in text and "Area of a circle." in text
    assert not python_kernel.request("inspect", "no_such_name", 3)["found"]
    js_kernel.run("const double = (n) => n * 2;")
    js = js_kernel.request("inspect", "double", 3)
    assert js["found"] and "(n) => n * 2" in js["data"]["text/plain"]
    assert js_kernel.request("complete", "dou")["matches"] == ["double"]


def test_sci_kernel_configured_for_svg_adds_image_svg_xml(
    kernelspecs: dict[str, str], sci_engine: object
) -> None:
    import shutil
    import xml.etree.ElementTree as ET

    # The installed python-sci spec, with the traitlets option a user would add.
    source = Path(kernelspecs["wasm-python-sci"])
    folder = source.with_name("wasm-python-sci-svg")
    shutil.copytree(source, folder, dirs_exist_ok=True)
    spec = json.loads((folder / "kernel.json").read_text("utf-8"))
    spec["argv"].append("--WasmKernel.figure_svg=True")
    (folder / "kernel.json").write_text(json.dumps(spec), "utf-8")
    client = Client("wasm-python-sci-svg")
    try:
        code = "import matplotlib.pyplot as plt\nplt.plot([1, 3, 2])\nplt.title('Kernel SVG')\n"
        reply, outputs = client.run(code, timeout=300)
    finally:
        client.close()
    assert reply["status"] == "ok", reply
    (content,) = [content for kind, content in outputs if kind == "display_data"]
    assert base64.b64decode(content["data"]["image/png"]).startswith(b"\x89PNG")
    svg = content["data"]["image/svg+xml"]
    assert ET.fromstring(svg.encode("utf-8")).tag == "{http://www.w3.org/2000/svg}svg"
    assert "Kernel SVG" in svg
