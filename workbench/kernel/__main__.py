"""``python -m workbench.kernel``: what the installed kernelspecs launch."""

from workbench.kernel import main

if __name__ == "__main__":  # pragma: no cover - a process entry point
    main()
