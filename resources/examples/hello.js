// A first run: prints, writes a file in the workspace, and reads it back.
console.log("Hello from QuickJS inside WebAssembly!");
const f = std.open("/app/hello.txt", "w");
f.puts("written inside the sandbox\n");
f.close();
console.log("wrote /app/hello.txt ->", std.loadFile("/app/hello.txt").trim());
