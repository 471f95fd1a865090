/**
 * Problem details (RFC 9457). Every error the API returns goes through here, so clients can
 * rely on a stable `type` and never see a stack trace.
 */
import { isGrpcServiceError, ServiceError, WorkflowUpdateRPCTimeoutOrCancelledError } from '@temporalio/client';
import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { ZodError } from 'zod';

const BASE = 'https://durable-oms.dev/problems/';

export interface FieldError {
  path: string;
  message: string;
}

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  errors?: FieldError[];
  [extra: string]: unknown;
}

/** An error a handler may throw to answer with a problem document. */
export class ProblemError extends Error {
  constructor(
    readonly status: ContentfulStatusCode,
    readonly slug: string,
    readonly title: string,
    detail: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(detail);
  }
  toProblem(): Problem {
    return { type: BASE + this.slug, title: this.title, status: this.status, detail: this.message, ...this.extra };
  }
}

export const problems = {
  validation: (errors: FieldError[], detail = 'The request is invalid.') =>
    new ProblemError(400, 'validation-error', 'Invalid request', detail, { errors }),
  malformedJson: () => new ProblemError(400, 'malformed-json', 'Malformed JSON', 'The request body is not valid JSON.'),
  unauthorized: (detail = 'A valid API key is required: Authorization: Bearer <key>.') =>
    new ProblemError(401, 'unauthorized', 'Unauthorized', detail),
  forbidden: (detail: string) => new ProblemError(403, 'forbidden', 'Forbidden', detail),
  notFound: (detail = 'No such resource.') => new ProblemError(404, 'not-found', 'Not found', detail),
  conflict: (detail: string, extra: Record<string, unknown> = {}) => new ProblemError(409, 'conflict', 'Conflict', detail, extra),
  /** An Idempotency-Key sent again with a different request (the IETF Idempotency-Key draft's 422). */
  idempotencyKeyReused: (detail: string) => new ProblemError(422, 'idempotency-key-reused', 'Idempotency-Key reused', detail),
  tooLarge: (limit: number) => new ProblemError(413, 'payload-too-large', 'Payload too large', `The request body exceeds ${limit} bytes.`),
  unsupportedMediaType: () =>
    new ProblemError(415, 'unsupported-media-type', 'Unsupported media type', 'Send JSON with Content-Type: application/json.'),
  unavailable: (detail: string) => new ProblemError(503, 'unavailable', 'Service unavailable', detail),
  internal: () => new ProblemError(500, 'internal', 'Internal error', 'Something went wrong on our side; it has been logged.'),
};

/** Zod issues → `[{path: 'lines.0.quantity', message}]`. */
export function fieldErrors(error: ZodError): FieldError[] {
  return error.issues.map((i) => ({ path: i.path.map(String).join('.') || '(root)', message: i.message }));
}

export function problemResponse(c: Context, err: ProblemError): Response {
  return c.body(JSON.stringify(err.toProblem()), err.status, { 'Content-Type': 'application/problem+json' });
}

/** gRPC codes of a Temporal server that is down, overloaded or slow: CANCELLED, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED, UNAVAILABLE. */
const TRANSIENT_GRPC = new Set([1, 4, 8, 14]);

/** A call to Temporal that failed because the server is unreachable or too slow, not because of the request. */
export function temporalUnreachable(err: unknown): err is Error {
  if (err instanceof WorkflowUpdateRPCTimeoutOrCancelledError) return true;
  const grpc = isGrpcServiceError(err) ? err : err instanceof ServiceError && isGrpcServiceError(err.cause) ? err.cause : undefined;
  return grpc !== undefined && TRANSIENT_GRPC.has(grpc.code);
}
