"""A jupyter_client kernel with helpers to run cells and collect their outputs."""

from __future__ import annotations

from typing import Any

TIMEOUT = 60


class Client:
    """A jupyter_client kernel and helpers to run cells and collect outputs."""

    def __init__(self, name: str) -> None:
        from jupyter_client.manager import start_new_kernel

        self.km, self.kc = start_new_kernel(kernel_name=name, startup_timeout=TIMEOUT)

    def run(self, code: str, timeout: float = TIMEOUT) -> tuple[dict[str, Any], list[Any]]:
        """Execute ``code``; return the reply content and the iopub outputs, in order."""
        msg_id = self.kc.execute(code)
        return self.wait(msg_id, timeout)

    def wait(self, msg_id: str, timeout: float = TIMEOUT) -> tuple[dict[str, Any], list[Any]]:
        outputs: list[Any] = []
        while True:
            msg = self.kc.get_iopub_msg(timeout=timeout)
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            kind = msg["msg_type"]
            if kind == "status" and msg["content"]["execution_state"] == "idle":
                break
            if kind not in ("status", "execute_input"):
                outputs.append((kind, msg["content"]))
        while True:
            reply = self.kc.get_shell_msg(timeout=timeout)
            if reply["parent_header"].get("msg_id") == msg_id:
                return reply["content"], outputs

    def request(self, method: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
        msg_id = getattr(self.kc, method)(*args, **kwargs)
        while True:
            reply = self.kc.get_shell_msg(timeout=TIMEOUT)
            if reply["parent_header"].get("msg_id") == msg_id:
                content: dict[str, Any] = reply["content"]
                return content

    def close(self) -> None:
        self.kc.stop_channels()
        self.km.shutdown_kernel(now=False)
