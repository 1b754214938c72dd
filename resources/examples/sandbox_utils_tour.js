// sandbox_utils for JavaScript: file, CSV/JSON, list and string helpers, /app only.
import { mkdir, write, tree, grep, parseCSV, toCSV, groupBy, formatTable, slugify } from "sandbox_utils";

mkdir("logs");
write("logs/app.log", "INFO start\nERROR disk full\nINFO retry\nERROR timeout after 5 s\n");
write("sales.csv", "region,amount\nnorth,120\nsouth,80\nnorth,95\n");

console.log(tree());
for (const m of grep("ERROR", "logs")) console.log(`${m.path}:${m.lineNumber}: ${m.line}`);

const rows = parseCSV(sandbox_utils.cat("sales.csv"), { inferTypes: true });
const totals = Object.entries(groupBy(rows, "region")).map(([region, items]) => ({
  region,
  total: items.reduce((sum, r) => sum + r.amount, 0),
}));
console.log(formatTable(totals));
write("totals.csv", toCSV(totals));
console.log(slugify("Sales Report: Q3 (Draft)"));

try {
  sandbox_utils.cat("/etc/passwd"); // outside /app: refused with a clear error
} catch (error) {
  console.log("refused:", error.message);
}
