import assert from "node:assert/strict";
import { readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { test } from "node:test";

import ts from "typescript";

import { repoRoot } from "../helpers/paths.js";

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? sources(path) : path.endsWith(".ts") ? [path] : [];
  });
}

/**
 * Every `x.data` in `files` where x is a Tensor, found by the type checker (a name alone cannot
 * tell a tensor's storage from a mesh's data dimension or a checkpoint piece's `data` field).
 */
function tensorDataReads(files: string[]): string[] {
  const program = ts.createProgram(files, {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    strict: true,
    noEmit: true,
  });
  const checker = program.getTypeChecker();
  const found: string[] = [];
  for (const file of files) {
    const source = program.getSourceFile(file)!;
    const visit = (node: ts.Node): void => {
      if (ts.isPropertyAccessExpression(node) && node.name.text === "data") {
        const type = checker.getNonNullableType(checker.getTypeAtLocation(node.expression));
        if (type.getSymbol()?.getName() === "Tensor") {
          const { line } = source.getLineAndCharacterOfPosition(node.getStart());
          found.push(`${relative(repoRoot(), file)}:${line + 1}: ${node.getText()}`);
        }
      }
      ts.forEachChild(node, visit);
    };
    visit(source);
  }
  return found;
}

test("collectives, process groups and strategies reach elements only through toHost(), never Tensor.data", () => {
  const files = sources(join(repoRoot(), "src", "parallel"));
  assert.deepEqual(tensorDataReads(files), []);
});

test("the check finds a Tensor.data read and passes over other objects' data fields", () => {
  const probe = join(repoRoot(), "test", "parallel", "host_access_probe.ts");
  assert.deepEqual(
    tensorDataReads([probe]).map((hit) => hit.replace(/^.*:(\d+): /, "$1: ")),
    ["8: grad.data"],
  );
});
