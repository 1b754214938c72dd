# A first run: prints, writes a file in the workspace, and reads it back.
from pathlib import Path

print("Hello from CPython inside WebAssembly!")
report = Path("/app/hello.txt")
report.write_text("written inside the sandbox\n")
print("wrote", report, "->", report.read_text().strip())
