// Patches applied to installed dependencies, idempotently: run by `npm install` (postinstall) and
// before `npm start` / `npm test` (ensure-deps.mjs). Plain Node: it runs right after an install.
//
// postgres 3.4.9 (the newest release) can take the whole process down when PostgreSQL goes away:
// a small write is deferred to a setImmediate, the connection closes before it runs, and the
// deferred write calls `socket.write` on a null socket — an uncaught TypeError thrown from the
// immediate, out of reach of any await (porsager/postgres#1154, #1208). The teardown paths also
// cancel that immediate without forgetting it, so a reused connection would never write again.
// The OMS meets this whenever PostgreSQL is killed or restarted under load (its e2e and chaos
// tests do both). The patch: a deferred write that finds no socket settles the connection's
// queries as CONNECTION_CLOSED (catchable, retried by callers) instead of throwing, and the
// teardown paths forget the cancelled immediate and the buffered bytes.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';

const MARK = '/* oms-patch: null-socket-write */';
const edits = [
  {
    from: '  function nextWrite(fn) {\n    const x = socket.write(chunk, fn)',
    to: `  function nextWrite(fn) {\n    ${MARK}\n    if (!socket) {\n      chunk = nextWriteTimer = null\n      error(Errors.connection('CONNECTION_CLOSED', options))\n      return false\n    }\n    const x = socket.write(chunk, fn)`,
  },
  { from: '    terminated = true\n', to: '    terminated = true\n    chunk = null\n' },
  {
    from: '    clearImmediate(nextWriteTimer)\n    if (socket) {',
    to: '    clearImmediate(nextWriteTimer)\n    nextWriteTimer = null\n    if (socket) {',
  },
  {
    from: '    clearImmediate(nextWriteTimer)\n    socket.removeListener(',
    to: '    clearImmediate(nextWriteTimer)\n    nextWriteTimer = null\n    chunk = null\n    socket.removeListener(',
  },
];

let failed = false;
for (const file of ['node_modules/postgres/src/connection.js', 'node_modules/postgres/cjs/src/connection.js']) {
  if (!existsSync(file)) continue;
  let text = readFileSync(file, 'utf8');
  if (text.includes(MARK)) continue;
  for (const e of edits) {
    if (!text.includes(e.from)) {
      console.error(
        `patch-deps: ${file} does not contain the code the null-socket patch expects; review scripts/patch-deps.mjs for this postgres version.`,
      );
      failed = true;
      break;
    }
    text = text.replace(e.from, e.to);
  }
  if (!failed) writeFileSync(file, text);
}
if (failed) process.exit(1);
