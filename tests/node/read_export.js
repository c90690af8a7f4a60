#!/usr/bin/env node
// tests/node/read_export.js - reads ringcap's exports with the ecosystem's
// own packages and prints what they saw as one JSON document, so the
// Python integration tests (tests/integration/test_export.py) compare it
// with the capture:
//   node read_export.js postman FILE   Postman's SDK (postman-collection)
//                                      loads the collection; prints its
//                                      folder tree, items (method, URL,
//                                      headers, body by mode), examples
//                                      and test scripts
//   node read_export.js har FILE...    har-validator checks each HAR
//                                      against the HAR 1.2 schema; prints
//                                      {"valid": [...], "errors": {...}}
// Exit 0 when the packages accepted the files, 1 otherwise.
'use strict';
const fs = require('fs');

function body(b) {
  if (!b || !b.mode) return null;
  const out = { mode: b.mode };
  if (b.mode === 'raw') {
    out.raw = b.raw;
    out.language = b.options && b.options.raw ? b.options.raw.language : undefined;
  } else if (b.mode === 'urlencoded') {
    out.params = b.urlencoded.map((p) => [p.key, p.value]);
  } else if (b.mode === 'formdata') {
    out.params = b.formdata.map((p) => [p.key, p.type, p.type === 'file' ? p.src : p.value]);
  }
  return out;
}

function item(it) {
  const req = it.request;
  const tests = it.events.filter((e) => e.listen === 'test')
    .map((e) => e.script.exec.join('\n'));
  return {
    name: it.name,
    method: req.method,
    url: req.url.toString(),
    host: req.url.getHost(),
    path: req.url.getPath(),
    headers: req.headers.map((h) => [h.key, h.value]),
    body: body(req.body && req.body.toJSON()),
    description: req.description ? String(req.description.content || req.description) : null,
    examples: it.responses.map((r) => ({
      code: r.code, status: r.status, body: r.body,
      headers: r.headers.map((h) => [h.key, h.value]),
      original: r.originalRequest ? r.originalRequest.url.toString() : null,
    })),
    tests,
  };
}

function group(g) {
  const out = { name: g.name, folders: [], items: [] };
  g.items.each((x) => {
    if (sdk.ItemGroup.isItemGroup(x)) out.folders.push(group(x));
    else out.items.push(item(x));
  });
  return out;
}

const sdk = require('postman-collection');
const mode = process.argv[2];
if (mode === 'postman') {
  const json = JSON.parse(fs.readFileSync(process.argv[3], 'utf8'));
  const c = new sdk.Collection(json);
  const tree = group(c);
  tree.description = c.description ? String(c.description.content || c.description) : null;
  tree.variables = c.variables.map((v) => [v.key, v.value]);
  tree.schema = json.info.schema;
  process.stdout.write(JSON.stringify(tree));
} else if (mode === 'har') {
  const validate = require('har-validator');
  const out = { valid: [], errors: {} };
  const files = process.argv.slice(3);
  (async () => {
    for (const f of files) {
      try {
        await validate.har(JSON.parse(fs.readFileSync(f, 'utf8')));
        out.valid.push(f);
      } catch (e) {
        out.errors[f] = e.errors ? e.errors.slice(0, 5) : String(e);
      }
    }
    process.stdout.write(JSON.stringify(out));
    process.exit(Object.keys(out.errors).length ? 1 : 0);
  })();
} else {
  process.stderr.write('usage: read_export.js postman FILE | har FILE...\n');
  process.exit(2);
}
