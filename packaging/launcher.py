"""Entry point of the desktop bundle's executable: the ``wasm-workbench`` command.

With no arguments it opens the workbench window; ``run``, ``mcp``, ``kernel`` and
the other subcommands work as after a pip install.
"""

import multiprocessing

from workbench.cli import run

if __name__ == "__main__":
    # Harmless when nothing uses multiprocessing; needed in a frozen program if
    # a dependency ever starts a child process through it.
    multiprocessing.freeze_support()
    run()
