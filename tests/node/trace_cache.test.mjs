// node --test tests/node/trace_cache.test.mjs: the client's bounded de-duplication memory.
import assert from "node:assert/strict";
import { test } from "node:test";
import { DEFAULT_DEDUPE_SIZE, TraceIdCache } from "../../client/notifications.js";

test("remembers 1,000 trace ids by default and forgets the least recently seen", () => {
  assert.equal(DEFAULT_DEDUPE_SIZE, 1000);
  const cache = new TraceIdCache();
  for (let i = 0; i < 1000; i += 1) assert.equal(cache.seen(`t-${i}`), false);
  assert.equal(cache.size, 1000);
  assert.equal(cache.seen("t-0"), true); // a repeat, and now the most recent
  assert.equal(cache.seen("t-1000"), false); // evicts t-1, the least recently seen
  assert.equal(cache.size, 1000);
  assert.equal(cache.seen("t-0"), true);
  assert.equal(cache.seen("t-1"), false); // forgotten: seen as new (evicting t-2)
  assert.equal(cache.size, 1000);
});

test("a capacity must be a positive integer", () => {
  assert.throws(() => new TraceIdCache(0), RangeError);
  assert.throws(() => new TraceIdCache(1.5), RangeError);
  const one = new TraceIdCache(1);
  assert.equal(one.seen("a"), false);
  assert.equal(one.seen("b"), false);
  assert.equal(one.seen("a"), false);
});
