/**
 * The Dockerfile's stages, read without a Docker engine: the image a deployment runs (the default,
 * last stage) holds the compiled bundle on production dependencies only. What the stages do is run
 * for real by test/e2e/production-mode.test.ts (build, `npm ci --omit=dev`, an order on the result).
 */
import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const root = new URL('../../', import.meta.url);
const dockerfile = readFileSync(new URL('Dockerfile', root), 'utf8');
const compose = readFileSync(new URL('docker-compose.yml', root), 'utf8');

interface Stage {
  from: string;
  name: string;
  lines: string[];
}
/** The instructions of each stage (comments dropped, continuation lines joined). */
function stages(text: string): Stage[] {
  const out: Stage[] = [];
  for (const line of text.replace(/\\\n/g, ' ').split('\n')) {
    const l = line.trim();
    if (!l || l.startsWith('#')) continue;
    const from = /^FROM\s+(\S+)(?:\s+AS\s+(\S+))?$/i.exec(l);
    if (from) out.push({ from: from[1]!, name: from[2] ?? `stage-${out.length}`, lines: [] });
    else out.at(-1)?.lines.push(l);
  }
  return out;
}

describe('Dockerfile', () => {
  const all = stages(dockerfile);
  const byName = Object.fromEntries(all.map((s) => [s.name, s]));
  const runtime = all.at(-1)!;

  it('builds the bundle in a stage of its own, from the lockfile', () => {
    const build = byName.build!;
    expect(build.lines).toContain('RUN npm ci');
    expect(build.lines).toContain('RUN npm run build');
  });

  it('ends with the runtime stage: a fresh Node 24 base, production dependencies only, the compiled bundle', () => {
    expect(runtime.name).toBe('runtime');
    // A fresh base, not FROM build: nothing the build stage installed comes along but dist/.
    expect(runtime.from).toMatch(/^node:24[.-]/);
    expect(runtime.lines).toContain('RUN npm ci --omit=dev && npm cache clean --force');
    const copies = runtime.lines.filter((l) => l.startsWith('COPY'));
    expect(copies).toEqual([
      'COPY package.json package-lock.json ./',
      'COPY scripts/patch-deps.mjs scripts/',
      'COPY --from=build /app/dist ./dist',
    ]);
    for (const c of copies.slice(0, 2))
      for (const f of c.split(/\s+/).slice(1, -1)) expect(existsSync(new URL(f, root)), `${f} exists`).toBe(true);
    expect(runtime.lines).toContain('CMD ["node", "dist/api.js"]');
    expect(runtime.lines.some((l) => /^ENV .*NODE_ENV=production/.test(l))).toBe(true);
    expect(runtime.lines.some((l) => l.startsWith('USER node'))).toBe(true);
    expect(runtime.lines.join('\n')).not.toMatch(/tsx|--import|npm install (?!--global npm@)/);
  });

  it('docker-compose runs the API and workers on the runtime image, and the sandbox on its own stage', () => {
    expect(compose).not.toMatch(/\btsx\b/);
    expect(compose).toMatch(/worker:\n\s+build:\n\s+context: \.\n\s+target: runtime/);
    expect(compose).toMatch(/api: &api\n(?:\s+#.*\n)*\s+build:\n\s+context: \.\n\s+target: runtime/);
    // The worker's heap is bounded with its cache (docs/deploy.md, sizing).
    expect(compose).toContain('command: ["node", "--max-old-space-size=256", "dist/worker.js"]');
    expect(compose).toMatch(/sandbox:\n(?:\s+#.*\n)*\s+build:\n\s+context: \.\n\s+target: sandbox/);
    expect(byName.sandbox).toBeDefined();
  });
});
