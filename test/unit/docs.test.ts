import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { CONFIG_DOC, renderConfigurationReference } from "../../scripts/gen-config-docs.ts";

test("docs/configuration.md is generated from the option tables and up to date", () => {
  assert.equal(
    readFileSync(CONFIG_DOC, "utf8"),
    renderConfigurationReference(),
    "run `npm run gen:docs` and commit the result",
  );
});
