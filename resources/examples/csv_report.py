# A typical LLM answer: read a CSV, summarise it, write a report.
import csv
import statistics
from pathlib import Path

data = Path("/app/sales.csv")
data.write_text("region,amount\nnorth,120\nsouth,80\nnorth,95\neast,60\n")

totals: dict[str, list[float]] = {}
with data.open(newline="") as f:
    for row in csv.DictReader(f):
        totals.setdefault(row["region"], []).append(float(row["amount"]))

lines = [
    f"{region}: total {sum(v):.0f}, mean {statistics.mean(v):.1f}" for region, v in totals.items()
]
Path("/app/report.txt").write_text("\n".join(lines) + "\n")
print("\n".join(lines))
