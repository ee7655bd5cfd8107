#!/usr/bin/env node
// Runs the Changesets CLI (`pnpm changeset ...`). @changesets/cli 3 declares
// Node 22, but only its bin needs it: the bin calls module.enableCompileCache,
// which Node 20 lacks. The CLI itself runs on Node 20, so we start it without
// that call, with the same arguments.
await import('@changesets/cli')
