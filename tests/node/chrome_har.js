#!/usr/bin/env node
// tests/node/chrome_har.js - a HAR from a real browser engine's own events:
// the DevTools protocol messages Chromium logged while loading a page
// (Network.*, Page.*; written by tests/integration/browser_capture.py) turned
// into HAR 1.2 by chrome-har, the converter sitespeed.io's browsertime uses.
//   node chrome_har.js MESSAGES.json OUT.har
'use strict';
const fs = require('fs');
const { harFromMessages } = require('chrome-har');
const messages = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const har = harFromMessages(messages, { includeTextFromResponseBody: true });
fs.writeFileSync(process.argv[3], JSON.stringify(har, null, 2));
process.stdout.write(String(har.log.entries.length) + '\n');
