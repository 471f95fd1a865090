/** The full API: base middleware, every route module, then the OpenAPI document. */
import type { Client } from '@temporalio/client';
import { CatalogRepo } from '../db/catalog-repo';
import type { Sql } from '../db/client';
import { OrdersRepo } from '../db/orders-repo';
import { ReportsRepo } from '../db/reports-repo';
import { EventsRepo } from '../db/events-repo';
import { JournalRepo } from '../db/journal-repo';
import { InvoicesRepo } from '../db/invoices-repo';
import { TaxDocumentsRepo } from '../db/tax-documents-repo';
import { BackOfficeHeldRepo } from '../db/back-office-repo';
import { SubscriptionsRepo } from '../db/subscriptions-repo';
import type { OrderSettings } from '../domain/settings';
import { DEV_CHANNEL_SECRETS } from '../lib/config';
import { addDocs, createBaseApp, type App, type AppDeps } from './app';
import { registerCarrierWebhookRoutes } from './routes/carrier-webhooks';
import { registerChannelWebhookRoutes } from './routes/channel-webhooks';
import { registerCatalogRoutes } from './routes/catalog';
import { registerCustomerRoutes } from './routes/customers';
import { registerInventoryRoutes } from './routes/inventory';
import { registerOrderRoutes } from './routes/orders';
import { registerReportRoutes } from './routes/reports';
import { registerAccountingRoutes } from './routes/accounting';
import { registerInvoiceRoutes } from './routes/invoices';
import { registerTaxRoutes } from './routes/tax';
import { registerHeldRoutes } from './routes/back-office-held';
import { registerEventRoutes } from './routes/events';
import { registerSubscriptionRoutes } from './routes/subscriptions';
import { InventoryService } from './services/inventory-service';
import { OrderService } from './services/order-service';
import type { WorkflowStartRelay } from '../intake/workflow-starts';

export interface ApiDeps extends AppDeps {
  client: Client;
  sql: Sql;
  /** Starts the workflows of what the API accepted (intake/workflow-starts.ts). */
  starts: WorkflowStartRelay;
  taskQueue: string;
  orderSettings: OrderSettings;
  carrierSecrets: Record<string, string>;
  /** Per sales channel (OMS_CHANNEL_SECRETS); development secrets when absent. */
  channelSecrets?: Record<string, string>;
  returnWindows: Record<string, number>;
  /** Event subscribers' URLs: `https` only (production mode sets it), or `any` http(s) (the default). */
  subscriberUrls?: 'any' | 'https';
}

export function createApp(deps: ApiDeps): App {
  const app = createBaseApp(deps);
  registerOrderRoutes(
    app,
    new OrderService({
      client: deps.client,
      sql: deps.sql,
      starts: deps.starts,
      taskQueue: deps.taskQueue,
      settings: deps.orderSettings,
      returnWindows: deps.returnWindows,
    }),
  );
  registerCatalogRoutes(app, new CatalogRepo(deps.sql));
  registerInventoryRoutes(app, new InventoryService({ sql: deps.sql, client: deps.client, logger: deps.logger }));
  registerCustomerRoutes(app, new OrdersRepo(deps.sql));
  registerCarrierWebhookRoutes(app, {
    client: deps.client,
    orders: new OrdersRepo(deps.sql),
    secrets: deps.carrierSecrets,
    logger: deps.logger,
  });
  registerChannelWebhookRoutes(app, {
    client: deps.client,
    sql: deps.sql,
    starts: deps.starts,
    taskQueue: deps.taskQueue,
    settings: deps.orderSettings,
    returnWindows: deps.returnWindows,
    secrets: deps.channelSecrets ?? DEV_CHANNEL_SECRETS,
    logger: deps.logger,
  });
  registerReportRoutes(app, new ReportsRepo(deps.sql));
  registerEventRoutes(app, new EventsRepo(deps.sql));
  registerAccountingRoutes(app, new JournalRepo(deps.sql));
  registerInvoiceRoutes(app, new InvoicesRepo(deps.sql));
  registerTaxRoutes(app, new TaxDocumentsRepo(deps.sql));
  registerHeldRoutes(app, new BackOfficeHeldRepo(deps.sql));
  registerSubscriptionRoutes(app, new SubscriptionsRepo(deps.sql), { urls: deps.subscriberUrls ?? 'any' });
  addDocs(app);
  return app;
}
