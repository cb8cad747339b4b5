#!/usr/bin/env node
'use strict';
// The `persist-queue` command: loads the compiled CLI (dist/cjs/cli/main.js) and sets the exit code.
Promise.resolve(require('../dist/cjs/cli/main.js').main(process.argv.slice(2))).then((code) => {
  process.exitCode = code;
});
