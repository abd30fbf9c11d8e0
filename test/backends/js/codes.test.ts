import assert from "node:assert/strict";
import { test } from "node:test";

import { binaryCodes, collectiveCodes, reduceCodes, unaryCodes } from "../../../src/backends/js/codes.js";
import { loadNative } from "../../../src/backends/native/addon.js";

const native = loadNative();

test("the js code tables equal the addon's, name for name and number for number", () => {
  assert.deepEqual(unaryCodes(), native.unaryCodes());
  assert.deepEqual(binaryCodes(), native.binaryCodes());
  assert.deepEqual(reduceCodes(), native.reduceCodes());
  assert.deepEqual(collectiveCodes(), native.collectiveCodes());
});

test("the tables are copies: a caller that changes one does not change the next", () => {
  const codes = binaryCodes();
  codes.add = 99;
  assert.equal(binaryCodes().add, 0);
});
