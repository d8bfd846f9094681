// RFC 7396 JSON Merge Patch, as the tests' Node peers apply it.
export function mergePatch(target, patch) {
  if (patch === null || typeof patch !== "object" || Array.isArray(patch)) return patch;
  const out =
    target !== null && typeof target === "object" && !Array.isArray(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete out[key];
    else out[key] = mergePatch(out[key], value);
  }
  return out;
}

// One JSON object per line on stdout: what the Rust test reads.
export function print(object) {
  process.stdout.write(JSON.stringify(object) + "\n");
}

// Every peer dies with its parent (stdin closes) and after `lifetimeMs` at most.
export function boundLifetime(lifetimeMs) {
  const timer = setTimeout(() => {
    process.stderr.write(`node peer: lifetime of ${lifetimeMs} ms is over\n`);
    process.exit(2);
  }, lifetimeMs);
  process.stdin.on("end", () => process.exit(0));
  process.stdin.resume();
  return timer;
}

// Calls `handle` with each JSON line on stdin.
export function onCommands(handle) {
  let buffered = "";
  process.stdin.setEncoding("utf8");
  process.stdin.on("data", (chunk) => {
    buffered += chunk;
    let newline;
    while ((newline = buffered.indexOf("\n")) >= 0) {
      const line = buffered.slice(0, newline).trim();
      buffered = buffered.slice(newline + 1);
      if (line) handle(JSON.parse(line));
    }
  });
}
