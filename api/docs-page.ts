/**
 * `/docs`: Swagger UI over `/openapi.json`, served entirely by this process from the pinned
 * `swagger-ui-dist` package: no CDN (the page works offline, and no third-party script runs on the
 * page where operators paste their API keys), under a Content-Security-Policy that admits scripts,
 * styles and requests from this origin only.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { Context } from 'hono';

export const DOCS_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const TYPES: Record<string, string> = { '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8', '.png': 'image/png' };
/** The package's files the page loads, and nothing else of node_modules. */
export const DOCS_ASSETS = ['swagger-ui-bundle.js', 'swagger-ui.css', 'favicon-32x32.png'] as const;

const INIT = `window.ui = SwaggerUIBundle({ url: '/openapi.json', dom_id: '#swagger-ui', deepLinking: true, persistAuthorization: false });\n`;

const PAGE = `<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <meta name="viewport" content="width=device-width, initial-scale=1" />
    <title>Durable OMS API</title>
    <link rel="stylesheet" href="/docs/assets/swagger-ui.css" />
    <link rel="icon" type="image/png" href="/docs/assets/favicon-32x32.png" />
  </head>
  <body>
    <div id="swagger-ui"></div>
    <script src="/docs/assets/swagger-ui-bundle.js"></script>
    <script src="/docs/assets/init.js"></script>
  </body>
</html>
`;

const require = createRequire(import.meta.url);
const cache = new Map<string, Buffer>();
/** A file of the installed package, read once. */
function asset(name: string): Buffer {
  let body = cache.get(name);
  if (!body) {
    body = readFileSync(require.resolve(`swagger-ui-dist/${name}`));
    cache.set(name, body);
  }
  return body;
}

const secured = (c: Context) => {
  c.header('Content-Security-Policy', DOCS_CSP);
  c.header('X-Content-Type-Options', 'nosniff');
  c.header('Referrer-Policy', 'no-referrer');
};

export function docsPage(c: Context): Response {
  secured(c);
  return c.html(PAGE);
}

/** One of the page's assets by name; 404 for anything else (no path reaches the file system). */
export function docsAsset(c: Context, name: string): Response | Promise<Response> {
  secured(c);
  if (name === 'init.js') return c.body(INIT, 200, { 'Content-Type': TYPES['.js']!, 'Cache-Control': 'no-cache' });
  if (!(DOCS_ASSETS as readonly string[]).includes(name)) return c.notFound();
  const type = TYPES[name.slice(name.lastIndexOf('.'))]!;
  return c.body(new Uint8Array(asset(name)), 200, { 'Content-Type': type, 'Cache-Control': 'public, max-age=86400' });
}
