"""WASM Workbench: run untrusted Python and JavaScript inside WebAssembly with hard limits."""

__version__ = "0.1.0"
