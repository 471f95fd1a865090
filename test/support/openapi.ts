/**
 * Reading the served OpenAPI document: its operations, and what each one fails to document
 * (used by the OpenAPI completeness test and the role-matrix test).
 */
import { ROLES } from '../../lib/config';

/** Open to anyone: probes, scrapes and the docs. */
export const PUBLIC_OPERATIONS = [
  'GET /healthz',
  'GET /readyz',
  'GET /metrics',
  'GET /openapi.json',
  'GET /docs',
  'GET /docs/assets/{file}',
];
/** No API key: the sender's signature over the raw body authenticates. */
export const SIGNED_OPERATIONS = ['POST /v1/channels/{channel}/webhooks', 'POST /v1/carriers/{carrier}/webhooks'];

type Json = Record<string, unknown>;
export interface Operation {
  summary?: string;
  description?: string;
  security?: Json[];
  parameters?: { in: string; name: string }[];
  requestBody?: { content?: Record<string, { schema?: unknown; example?: unknown; examples?: unknown }> };
  responses: Record<string, { description?: string; content?: Record<string, unknown> }>;
  'x-roles'?: string[];
}
export interface OpenApiDocument {
  paths: Record<string, Record<string, Operation>>;
  components?: { schemas?: Record<string, unknown> };
}

const METHODS = ['get', 'put', 'post', 'delete', 'patch'];
export const operationsOf = (doc: OpenApiDocument) =>
  Object.entries(doc.paths).flatMap(([path, item]) =>
    Object.entries(item)
      .filter(([m]) => METHODS.includes(m))
      .map(([m, op]) => ({ key: `${m.toUpperCase()} ${path}`, method: m, path, op })),
  );

/** Whether `node` (a schema, parameter, media type...) carries an example, following `$ref`s into the components. */
export function hasExample(doc: OpenApiDocument, node: unknown, seen = new Set<string>(), parentKey = ''): boolean {
  if (Array.isArray(node)) return node.some((n) => hasExample(doc, n, seen));
  if (!node || typeof node !== 'object') return false;
  for (const [k, v] of Object.entries(node as Json)) {
    // A property named "example" is not an example.
    if ((k === 'example' || k === 'examples') && parentKey !== 'properties' && v !== undefined) return true;
    if (k === '$ref' && typeof v === 'string') {
      const name = v.replace('#/components/schemas/', '');
      if (seen.has(name)) continue;
      seen.add(name);
      if (hasExample(doc, doc.components?.schemas?.[name], seen)) return true;
    } else if (hasExample(doc, v, seen, k)) return true;
  }
  return false;
}

/** Every way the document falls short for one operation, in words. */
export function gapsOf(doc: OpenApiDocument, method: string, path: string, op: Operation): string[] {
  const key = `${method.toUpperCase()} ${path}`;
  const gaps: string[] = [];
  const has = (status: number) => op.responses[String(status)] !== undefined;
  const needs = (status: number, why: string) => {
    if (!has(status)) gaps.push(`${why} but documents no ${status} response`);
  };
  const isPublic = PUBLIC_OPERATIONS.includes(key);
  const isSigned = SIGNED_OPERATIONS.includes(key);
  const apiKey = (op.security ?? []).some((s) => 'apiKey' in s);
  const roles = op['x-roles'];

  if (!op.summary?.trim()) gaps.push('has no summary');
  if (isPublic || isSigned) {
    if (apiKey) gaps.push('is public or signed, yet documents an API key');
    if (roles) gaps.push('is public or signed, yet lists x-roles');
  } else {
    if (!apiKey) gaps.push('is protected but documents no apiKey security');
    if (!roles?.length) gaps.push('is protected but states no x-roles (requireRoles middleware)');
    else if (!roles.every((r) => (ROLES as readonly string[]).includes(r))) gaps.push(`lists unknown roles ${roles.join(', ')}`);
    else if (!op.description?.includes(`Roles: ${roles.map((r) => `\`${r}\``).join(', ')}.`))
      gaps.push('does not state its roles in the description');
    needs(401, 'is protected');
    needs(403, 'is protected');
  }
  if (isSigned) {
    const signatureHeader = (op.parameters ?? []).some((p) => p.in === 'header' && /signature|hmac|authorization/i.test(p.name));
    if (!signatureHeader) gaps.push('is signed but documents no signature header');
    needs(401, 'is signed');
  }
  // Signed webhooks and every PUT read a body, documented or not.
  const takesBody = Boolean(op.requestBody) || isSigned || method === 'put';
  if (takesBody) {
    const schemas = Object.values(op.requestBody?.content ?? {}).filter((m) => m.schema);
    if (schemas.length === 0) gaps.push('takes a body but documents no request schema');
    else if (!hasExample(doc, op.requestBody)) gaps.push('takes a body but has no example of it');
    needs(400, 'takes a body');
    needs(413, 'takes a body'); // the body limit applies to every route
    // Bodies validated through the zod route config first pass @hono/zod-openapi's media-type gate.
    if (!isSigned) needs(415, 'takes a JSON body');
  }
  const params = (op.parameters ?? []).filter((p) => p.in === 'query' || p.in === 'path');
  if (params.length) needs(400, `takes ${params.map((p) => p.name).join(', ')}, which are validated,`);
  if (!hasExample(doc, [op.parameters, op.requestBody, op.responses])) gaps.push('has no example in its request or responses');
  for (const [status, r] of Object.entries(op.responses)) {
    if (!r.description?.trim()) gaps.push(`response ${status} has no description`);
    if (/^[45]/.test(status) && !isPublic && !r.content?.['application/problem+json'])
      gaps.push(`response ${status} is not a problem document`);
  }
  if (!Object.keys(op.responses).some((s) => /^2/.test(s))) gaps.push('documents no success response');
  return gaps;
}
