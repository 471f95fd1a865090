/** Shared OpenAPI schemas: problem documents and paging. */
import { z } from '@hono/zod-openapi';

export const ProblemSchema = z
  .object({
    type: z.string(),
    title: z.string(),
    status: z.number().int(),
    detail: z.string(),
    errors: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
  })
  .openapi('Problem');

const problem = (description: string) => ({ description, content: { 'application/problem+json': { schema: ProblemSchema } } });

export const errorResponses = {
  400: problem('Invalid request: the failing field paths are listed in `errors`'),
  401: problem('Missing or unknown API key'),
  403: problem("The key's role may not do this"),
  404: problem('No such resource'),
  409: problem("Refused in the resource's current state; `detail` says why"),
  413: problem('Body too large'),
  422: problem('The `Idempotency-Key` was already used for a different request to this command on this order'),
  415: problem('The body is not sent as `Content-Type: application/json`'),
} as const;

export const pick = <K extends keyof typeof errorResponses>(...codes: K[]) =>
  Object.fromEntries(codes.map((c) => [c, errorResponses[c]])) as Pick<typeof errorResponses, K>;

export const CursorQuery = z.object({
  cursor: z.string().max(200).optional().openapi({ description: "Opaque cursor from the previous page's `nextCursor`." }),
  limit: z.coerce.number().int().min(1).max(200).default(50),
});

export function encodeCursor(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

export function decodeCursor<T>(cursor: string | undefined, shape: z.ZodType<T>): T | undefined {
  if (!cursor) return undefined;
  try {
    return shape.parse(JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')));
  } catch {
    return undefined;
  }
}
