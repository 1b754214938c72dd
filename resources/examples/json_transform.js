// A typical LLM answer in JavaScript: transform JSON and write it to the workspace.
const people = [
  { name: "Ada", born: 1815 },
  { name: "Grace", born: 1906 },
  { name: "Linus", born: 1969 },
];
const byCentury = {};
for (const p of people) {
  const century = Math.floor(p.born / 100) + 1;
  (byCentury[century] ||= []).push(p.name);
}
const f = std.open("/app/centuries.json", "w");
f.puts(JSON.stringify(byCentury, null, 2));
f.close();
console.log(JSON.stringify(byCentury));
