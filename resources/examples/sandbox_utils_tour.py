# sandbox_utils: shell-like helpers that work inside /app only (no path knowledge needed).
import json

from sandbox_utils import csv_to_json, echo, find, grep, group_by, mkdir, tree

mkdir("logs")
echo("INFO start\nERROR disk full\nINFO retry\nERROR timeout after 5 s", "logs/app.log")
echo("region,amount\nnorth,120\nsouth,80\nnorth,95", "sales.csv")

print(tree())
for path, number, line in grep("ERROR", "logs"):
    print(f"{path}:{number}: {line}")

rows = csv_to_json("sales.csv", output="sales.json", infer_types=True)
print(rows)
by_region = group_by(json.loads(rows), "region")
print({region: sum(r["amount"] for r in items) for region, items in by_region.items()})
print("CSV files:", find("*.csv"))

try:
    grep("root", "/etc/passwd")  # outside /app: refused with a clear error
except PermissionError as error:
    print("refused:", error)
