// The RFC vectors the Rust tests use (tests/data/), against the client's merge.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { applyPatch, mergePatch } from "../live-resource.js";

const data = (name) => JSON.parse(readFileSync(new URL(`../../tests/data/${name}`, import.meta.url), "utf8"));
const frozen = (value) => {
  if (value !== null && typeof value === "object") {
    Object.values(value).forEach(frozen);
    Object.freeze(value);
  }
  return value;
};

test("RFC 7396 vectors: every merge gives the RFC's result, and leaves its target as it was", () => {
  const vectors = data("rfc7396.json");
  assert.ok(vectors.length >= 15);
  for (const { comment, target, patch, result } of vectors) {
    const before = structuredClone(target);
    // Frozen: a merge that wrote into its target would throw.
    assert.deepStrictEqual(mergePatch(frozen(target), patch), result, comment);
    assert.deepStrictEqual(target, before, comment);
  }
});

test("RFC 6902 vectors: successes give the expected document, failures throw and change nothing", () => {
  const vectors = data("rfc6902.json");
  let passed = 0;
  let failed = 0;
  for (const vector of vectors) {
    const doc = frozen(structuredClone(vector.doc));
    if ("expected" in vector) {
      assert.deepStrictEqual(applyPatch(doc, vector.patch), vector.expected, vector.comment);
      passed += 1;
    } else {
      assert.throws(() => applyPatch(doc, vector.patch), { code: "apply_failed" }, `${vector.comment}: ${vector.error}`);
      assert.deepStrictEqual(doc, vector.doc, vector.comment);
      failed += 1;
    }
  }
  assert.ok(passed >= 20 && failed >= 10, `${passed} passed, ${failed} failed`);
});

test("a merge shares what it does not touch, and a no-op merge returns its target", () => {
  const target = frozen({ a: { x: 1 }, b: { y: 2 } });
  const merged = mergePatch(target, { a: { x: 3 } });
  assert.equal(merged.b, target.b);
  assert.notEqual(merged.a, target.a);
  assert.equal(mergePatch(target, { c: null }), target);
  assert.equal(mergePatch(target, {}), target);
});

test("a member named __proto__ is data, not a prototype", () => {
  const merged = mergePatch({}, JSON.parse('{"__proto__": {"polluted": true}}'));
  assert.equal(Object.getPrototypeOf(merged), Object.prototype);
  assert.deepStrictEqual(Object.keys(merged), ["__proto__"]);
  assert.equal({}.polluted, undefined);
  const patched = applyPatch({}, [{ op: "add", path: "/__proto__", value: { polluted: true } }]);
  assert.equal(Object.getPrototypeOf(patched), Object.prototype);
  assert.equal({}.polluted, undefined);
});
