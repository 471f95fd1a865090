/**
 * A customer's order history for customer service. Customers are known only through their
 * orders (there is no customer table): an id nobody ordered with has an empty history, not a 404.
 */
import { createRoute, z } from '@hono/zod-openapi';
import type { OrdersRepo } from '../../db/orders-repo';
import { piiViewFor } from '../../lib/personal-data';
import type { App } from '../app';
import { requireRoles } from '../auth';
import { CursorQuery, pick } from '../schemas';
import { orderCursor, OrderPage, orderPage } from './orders';

const CustomerIdParam = z.object({
  customerId: z
    .string()
    .regex(/^[A-Za-z0-9._-]{1,64}$/, 'must be a customer id: 1-64 letters, digits, dot, underscore or dash')
    .openapi({ example: 'cust-1001' }),
});

export function registerCustomerRoutes(app: App, orders: OrdersRepo): void {
  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/customers/{customerId}/orders',
      tags: ['customers'],
      summary: "A customer's orders, newest first (all channels); contact details as the role may see them",
      security: [{ apiKey: [] }],
      middleware: [requireRoles('cs', 'ops')] as const,
      request: { params: CustomerIdParam, query: CursorQuery },
      responses: {
        200: {
          description: "A page of the customer's orders; empty for an id with no orders",
          content: { 'application/json': { schema: OrderPage } },
        },
        ...pick(400, 401, 403),
      },
    }),
    async (c) => {
      const { customerId } = c.req.valid('param');
      const q = c.req.valid('query');
      const after = orderCursor(q.cursor);
      const rows = await orders.list({ customerId, after, limit: q.limit + 1 });
      return c.json(orderPage(rows, q.limit, piiViewFor(c.get('principal')!.role)), 200);
    },
  );
}
