#!/usr/bin/env node
// A native-compatible front over solc-js (npm `solc`, the official compiler built to WebAssembly).
//
// py-solc-x (and therefore Brownie and Slither's brownie route) drive a native `solc` as
//   <exe> --version
//   <exe> --standard-json [--allow-paths a,b] [--base-path p] [--include-path p]  < input.json
// The npm `solcjs` command is not a drop-in replacement: it prints a line about SMT solvers to
// stdout before the JSON. This front answers exactly those calls and nothing else, so that the
// compiler comes from the npm registry and no binary download is needed.
"use strict";

const fs = require("fs");
const path = require("path");
const solc = require("solc");

function usage(message) {
  process.stderr.write(`solc front: ${message}\n`);
  process.stderr.write("usage: solc --version | solc --standard-json [--base-path P] [--allow-paths A,B] [--include-path P]\n");
  process.exit(2);
}

function parseArgs(argv) {
  const opts = { mode: null, basePath: null, allowPaths: [], includePaths: [] };
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i];
    const [flag, inline] = arg.includes("=") ? arg.split(/=(.*)/s) : [arg, undefined];
    const value = () => (inline !== undefined ? inline : argv[++i]);
    switch (flag) {
      case "--version":
        opts.mode = "version";
        break;
      case "--standard-json":
        opts.mode = "standard-json";
        break;
      case "--base-path":
        opts.basePath = value();
        break;
      case "--allow-paths":
        opts.allowPaths.push(...String(value()).split(",").filter(Boolean));
        break;
      case "--include-path":
        opts.includePaths.push(value());
        break;
      default:
        usage(`unsupported option ${arg}`);
    }
  }
  return opts;
}

function isInside(file, dir) {
  const rel = path.relative(dir, file);
  return rel === "" || (!rel.startsWith("..") && !path.isAbsolute(rel));
}

function makeImportCallback(opts) {
  const roots = [opts.basePath || process.cwd(), ...opts.includePaths].map((p) => path.resolve(p));
  const allowed = [...roots, ...opts.allowPaths.map((p) => path.resolve(p))];
  return (importPath) => {
    const candidates = path.isAbsolute(importPath)
      ? [importPath]
      : roots.map((root) => path.resolve(root, importPath));
    for (const candidate of candidates) {
      if (!allowed.some((dir) => isInside(candidate, dir))) continue;
      if (fs.existsSync(candidate) && fs.statSync(candidate).isFile()) {
        return { contents: fs.readFileSync(candidate, "utf8") };
      }
    }
    return { error: `File not found inside the base path or any of the allowed paths: ${importPath}` };
  };
}

function main() {
  const opts = parseArgs(process.argv.slice(2));
  if (opts.mode === "version") {
    process.stdout.write(`solc, the solidity compiler commandline interface\nVersion: ${solc.version()}\n`);
    return;
  }
  if (opts.mode !== "standard-json") usage("expected --version or --standard-json");
  const input = fs.readFileSync(0, "utf8");
  const output = solc.compile(input, { import: makeImportCallback(opts) });
  process.stdout.write(output);
}

main();
