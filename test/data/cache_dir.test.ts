import assert from "node:assert/strict";
import { homedir } from "node:os";
import { join, resolve } from "node:path";
import { test } from "node:test";

import { cacheDir } from "../../src/data/cache.js";

test("the cache folder: an explicit one, else $TURBINE_CACHE, else $XDG_CACHE_HOME/turbine, else ~/.cache/turbine; never the current folder", () => {
  assert.equal(cacheDir("rel/dir", { TURBINE_CACHE: "/t" }), resolve("rel/dir"));
  assert.equal(cacheDir(undefined, { TURBINE_CACHE: "/t", XDG_CACHE_HOME: "/x" }), "/t");
  assert.equal(cacheDir(undefined, { XDG_CACHE_HOME: "/x" }), "/x/turbine");
  assert.equal(cacheDir(undefined, {}), join(homedir(), ".cache", "turbine"));
  assert.equal(
    cacheDir(undefined, { XDG_CACHE_HOME: "relative" }),
    join(homedir(), ".cache", "turbine"),
    "a relative XDG_CACHE_HOME is ignored, as the specification says",
  );
  assert.equal(cacheDir(undefined, { TURBINE_CACHE: "" }), join(homedir(), ".cache", "turbine"), "an empty TURBINE_CACHE is unset");
});
