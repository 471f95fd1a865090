/**
 * `/docs` is self-contained: the page and everything it loads come from this origin, the scripts
 * and styles are the installed swagger-ui-dist package's own files byte for byte, and every answer
 * carries a Content-Security-Policy that admits nothing from elsewhere.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { addDocs, createBaseApp } from '../../api/app';
import { KeyStore } from '../../api/auth';
import { DOCS_CSP } from '../../api/docs-page';
import { createApiMetrics } from '../../api/metrics';
import { createLogger } from '../../lib/logger';

const app = createBaseApp({
  keys: new KeyStore([]),
  logger: createLogger({ write: () => undefined }),
  metrics: createApiMetrics(),
  bodyLimitBytes: 1024,
  health: { postgres: () => Promise.resolve(), temporal: () => Promise.resolve() },
});
addDocs(app);
const sha = (b: ArrayBuffer | Buffer) =>
  createHash('sha256')
    .update(Buffer.from(b as ArrayBuffer))
    .digest('hex');
const installed = (name: string) => readFileSync(createRequire(import.meta.url).resolve(`swagger-ui-dist/${name}`));

describe('the docs page', () => {
  it('loads only files of this origin, each served with the policy', async () => {
    const page = await app.request('/docs');
    expect(page.status).toBe(200);
    expect(page.headers.get('content-security-policy')).toBe(DOCS_CSP);
    const html = await page.text();
    // No other origin anywhere in the page: no CDN, no protocol-relative URL.
    expect(html).not.toMatch(/https?:|\/\/[a-z]/i);
    const refs = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!);
    expect(refs.sort()).toEqual([
      '/docs/assets/favicon-32x32.png',
      '/docs/assets/init.js',
      '/docs/assets/swagger-ui-bundle.js',
      '/docs/assets/swagger-ui.css',
    ]);
    for (const ref of refs) {
      const res = await app.request(ref);
      expect(res.status, ref).toBe(200);
      expect(res.headers.get('content-security-policy'), ref).toBe(DOCS_CSP);
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      const name = ref.slice('/docs/assets/'.length);
      if (name === 'init.js') expect(await res.text()).toContain("url: '/openapi.json'");
      else expect(sha(await res.arrayBuffer()), `${name} is the package's own file`).toBe(sha(installed(name)));
    }
    expect((await app.request('/docs/assets/swagger-ui.css')).headers.get('content-type')).toMatch(/^text\/css/);
    expect((await app.request('/docs/assets/swagger-ui-bundle.js')).headers.get('content-type')).toMatch(/^text\/javascript/);
  });

  it('admits scripts, styles and requests from this origin only', () => {
    const directives: Record<string, string[]> = Object.fromEntries(
      DOCS_CSP.split('; ').map((d) => [d.split(' ')[0]!, d.split(' ').slice(1)]),
    );
    expect(directives['default-src']).toEqual(["'none'"]);
    for (const d of ['script-src', 'style-src', 'connect-src', 'font-src']) expect(directives[d], d).toEqual(["'self'"]);
    expect(DOCS_CSP).not.toContain('unsafe');
  });

  it('serves no other file of the package, and nothing by path', async () => {
    for (const path of [
      '/docs/assets/package.json',
      '/docs/assets/index.html',
      '/docs/assets/..%2F..%2Fpackage.json',
      '/docs/assets/swagger-ui-bundle.js.map',
    ]) {
      const res = await app.request(path);
      expect(res.status, path).toBe(400);
    }
  });
});
