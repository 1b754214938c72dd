"""Settings of the MCP server: its policy, its caps and its HTTP security.

One immutable :class:`McpSettings` drives both transports; the command line, the
workbench's MCP panel and the tests all build one.
"""

from __future__ import annotations

import ipaddress
import secrets
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from workbench.sandbox import ExecutionPolicy

__all__ = ["McpSettings", "generate_token", "is_loopback"]

KIB = 1024
MIB = 1024 * KIB

#: Environment variable the command line reads the bearer token from.
TOKEN_ENV = "WASM_WORKBENCH_MCP_TOKEN"


def generate_token() -> str:
    """A new random bearer token (256 bits, URL-safe)."""
    return secrets.token_urlsafe(32)


def is_loopback(host: str) -> bool:
    """Whether ``host`` only accepts connections from this computer."""
    name = host.strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


class McpSettings(BaseModel):
    """How the MCP server runs. Immutable; every cap has a default that suits one user.

    Usage::

        McpSettings(policy=load_policy("conservative"), idle_timeout_seconds=600)
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    policy: ExecutionPolicy = Field(
        default_factory=ExecutionPolicy,
        description="The most any call may use; a call's `limits` can only lower it.",
    )
    workspace_root: Path | None = Field(
        default=None,
        description="Folder holding the sessions' workspaces (default: the workbench's).",
    )
    max_code_bytes: int = Field(
        default=256 * KIB, ge=1, le=64 * MIB, description="Largest code one call may send."
    )
    max_file_bytes: int = Field(
        default=2 * MIB,
        ge=1,
        le=256 * MIB,
        description="Largest file read_file returns or write_file accepts.",
    )
    max_image_bytes: int = Field(
        default=4 * MIB,
        ge=0,
        le=64 * MIB,
        description="Most bytes of figures (PNG, before base64) one execute_code result "
        "carries as image content; figures past it are only described. 0 sends none.",
    )
    max_sessions_per_client: int = Field(
        default=16, ge=1, le=10_000, description="Sessions one client may hold at once."
    )
    max_sessions: int = Field(
        default=256, ge=1, le=100_000, description="Sessions all clients together may hold."
    )
    idle_timeout_seconds: float = Field(
        default=1800.0,
        gt=0,
        le=7 * 24 * 3600,
        description="A session unused this long is ended and its workspace deleted.",
    )
    keep_workspaces: bool = Field(
        default=False,
        description="Keep the workspaces of ended sessions on disk instead of deleting them.",
    )
    max_concurrent_runs: int = Field(
        default=4, ge=1, le=256, description="Executions running at once across all clients."
    )
    # ---- HTTP only
    host: str = Field(default="127.0.0.1", description="Address the HTTP server listens on.")
    port: int = Field(default=8765, ge=0, le=65535, description="TCP port (0: any free one).")
    path: str = Field(default="/mcp", description="URL path of the MCP endpoint.")
    token: str | None = Field(
        default=None,
        description="Bearer token clients must send; required unless listening on loopback.",
    )
    cors_origins: list[str] = Field(
        default_factory=list,
        description="Browser origins allowed to call the server (e.g. http://localhost:5173).",
    )
    rate_limit_per_minute: int = Field(
        default=240, ge=1, le=1_000_000, description="HTTP requests one client may make a minute."
    )
    rate_limit_burst: int = Field(
        default=60, ge=1, le=1_000_000, description="Requests a client may make at once."
    )
    max_request_bytes: int = Field(
        default=4 * MIB, ge=1024, le=512 * MIB, description="Largest HTTP request body."
    )

    @field_validator("token")
    @classmethod
    def _check_token(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if len(value) < 16 or not value.isprintable() or any(c.isspace() for c in value):
            raise ValueError(
                "the bearer token must be at least 16 printable characters without spaces; "
                "use --generate-token for a good one"
            )
        return value

    @field_validator("path")
    @classmethod
    def _check_path(cls, value: str) -> str:
        if not value.startswith("/") or any(c.isspace() for c in value):
            raise ValueError(f"path {value!r} must start with / and contain no spaces")
        return value

    @field_validator("cors_origins")
    @classmethod
    def _check_origins(cls, value: list[str]) -> list[str]:
        for origin in value:
            if origin != "*" and not origin.startswith(("http://", "https://")):
                raise ValueError(f"CORS origin {origin!r} must start with http:// or https://")
        if "*" in value:
            raise ValueError(
                "a wildcard CORS origin would let any web page call the server; "
                "list the origins instead"
            )
        return value

    def check_http(self) -> None:
        """Refuse settings that would expose the server without a token.

        Raises
        ------
        ValueError
            When the server would listen beyond loopback without a bearer token.
        """
        if self.token is None and not is_loopback(self.host):
            raise ValueError(
                f"Refusing to listen on {self.host} without a bearer token: anyone who can "
                "reach this address could run code here. Set a token (environment variable "
                f"{TOKEN_ENV}, or --generate-token), or listen on 127.0.0.1."
            )
