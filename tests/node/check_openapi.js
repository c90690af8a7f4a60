#!/usr/bin/env node
// tests/node/check_openapi.js - validates the control port's OpenAPI
// document with a real OpenAPI 3.1 validator (@seriousme/openapi-schema-
// validator: the official JSON schemas of the specification, plus $ref
// resolution) and lists its operations, so the Python integration test
// (tests/integration/test_openapi.py) can call each one:
//   node check_openapi.js FILE
// prints {"valid": bool, "version": "3.1", "errors": [...],
//         "operations": [[METHOD, PATH, [statuses], has_body], ...]}
// Exit 0 when the document is valid, 1 otherwise.
'use strict';
const fs = require('fs');

async function main() {
  const { Validator } = await import('@seriousme/openapi-schema-validator');
  const text = fs.readFileSync(process.argv[2], 'utf8');
  const doc = JSON.parse(text);
  const validator = new Validator();
  const res = await validator.validate(doc);
  const ops = [];
  for (const [path, item] of Object.entries(doc.paths || {})) {
    for (const [method, op] of Object.entries(item)) {
      if (!['get', 'put', 'post', 'delete', 'patch', 'head', 'options'].includes(method)) continue;
      ops.push([method.toUpperCase(), path, Object.keys(op.responses || {}), !!op.requestBody]);
    }
  }
  const out = { valid: res.valid, version: validator.version, errors: res.errors || [],
                operations: ops };
  process.stdout.write(JSON.stringify(out) + '\n');
  process.exit(res.valid ? 0 : 1);
}

main().catch((e) => { console.error(e); process.exit(2); });
