// The Node.js side of the merge comparison: npm's json-merge-patch and the
// hand-written shallow spread, on the documents and patches that
// `fanout merge DIR` wrote, timed as the Rust side times ours: the median of
// many batches, in ns per patch, the document never copied by the harness.
//
// usage: node merge.mjs DIR
import { readFileSync } from "node:fs";
import jsonMergePatch from "json-merge-patch";

const [dir] = process.argv.slice(2);
if (!dir) throw new Error("usage: node merge.mjs DIR");

const SAMPLES = 301;
const WARMUP_SAMPLES = 10;
const MAX_BATCH = 1000;
// Aim for about 2 ms a batch and 4 s a measurement: the spread copies the
// whole document each time, so on 1 MB it gets fewer, smaller batches.
const BATCH_NS = 2e6;
const BUDGET_NS = 4e9;

const read = (name) => JSON.parse(readFileSync(`${dir}/${name}`, "utf8"));

/// Times `run(batch)` (which applies `batch` patches) over many batches,
/// after a warm-up long enough for V8 to optimize the loop: [median, p10,
/// p90] in ns per patch.
function measure(run) {
  const warm = process.hrtime.bigint() + 500_000_000n;
  for (let done = 0; done < 20000 && process.hrtime.bigint() < warm; done += 10) run(10);
  let start = process.hrtime.bigint();
  run(10);
  const once = Math.max(1, Number(process.hrtime.bigint() - start) / 10);
  const batch = Math.max(1, Math.min(MAX_BATCH, Math.round(BATCH_NS / once)));
  const samples = Math.max(31, Math.min(SAMPLES, Math.floor(BUDGET_NS / (once * batch))));
  const times = [];
  for (let i = 0; i < WARMUP_SAMPLES + samples; i++) {
    start = process.hrtime.bigint();
    run(batch);
    times.push(Number(process.hrtime.bigint() - start) / batch);
  }
  const timed = times.slice(WARMUP_SAMPLES).sort((a, b) => a - b);
  return [50, 10, 90].map((p) => timed[Math.floor(((timed.length - 1) * p) / 100)]);
}

function report(impl, input, size, docBytes, [median, p10, p90]) {
  const line = { bench: "merge", side: "node", impl, input, size, doc_bytes: docBytes };
  Object.assign(line, { ns_median: median, ns_p10: p10, ns_p90: p90 });
  process.stdout.write(JSON.stringify(line) + "\n");
}

for (const size of ["1KB", "100KB", "1MB"]) {
  const text = readFileSync(`${dir}/dashboard-${size}.json`, "utf8");
  const patches = read(`patches-${size}.json`);
  const updates = read(`updates-${size}.json`);
  let turn = 0;
  let sink = 0;

  let doc = JSON.parse(text);
  report("json-merge-patch", "value", size, text.length, measure((n) => {
    for (let i = 0; i < n; i++) doc = jsonMergePatch.apply(doc, patches[(turn ^= 1)]);
  }));

  doc = JSON.parse(text);
  report("spread {...state, ...update}", "value", size, text.length, measure((n) => {
    for (let i = 0; i < n; i++) doc = { ...doc, ...patches[(turn ^= 1)] };
  }));

  doc = JSON.parse(text);
  report("JSON.parse + json-merge-patch", "wire", size, text.length, measure((n) => {
    for (let i = 0; i < n; i++) {
      const update = JSON.parse(updates[(turn ^= 1)]);
      doc = jsonMergePatch.apply(doc, update.merge);
      sink += update.seq;
    }
  }));

  doc = JSON.parse(text);
  report("JSON.parse + spread", "wire", size, text.length, measure((n) => {
    for (let i = 0; i < n; i++) {
      const update = JSON.parse(updates[(turn ^= 1)]);
      doc = { ...doc, ...update.merge };
      sink += update.seq;
    }
  }));
  // The three shapes of patch (`fanout merge` wrote their update texts),
  // from wire text, as `merge_shapes` lines beside the Rust side's.
  for (const shape of ["price", "price_ts", "quote_ts"]) {
    const shaped = read(`updates-${shape}-${size}.json`);
    doc = JSON.parse(text);
    const [median, p10, p90] = measure((n) => {
      for (let i = 0; i < n; i++) {
        const update = JSON.parse(shaped[(turn ^= 1)]);
        doc = jsonMergePatch.apply(doc, update.merge);
        sink += update.seq;
      }
    });
    const line = { bench: "merge_shapes", side: "node", impl: "JSON.parse + json-merge-patch", shape, size };
    Object.assign(line, { doc_bytes: text.length, ns_median: median, ns_p10: p10, ns_p90: p90 });
    process.stdout.write(JSON.stringify(line) + "\n");
  }
  if (sink < 0) process.stdout.write("");
}
