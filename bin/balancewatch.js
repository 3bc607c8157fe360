#!/usr/bin/env node
// Entry point for `npx balancewatch` and `npm start`; the TypeScript is compiled to dist/ by `npm ci` (prepare).
import '../dist/cli/main.js';
