/**
 * Registers the order search attributes on a real cluster (the dev launcher does it itself):
 *   TEMPORAL_ADDRESS=host:7233 TEMPORAL_NAMESPACE=orders npm run temporal:search-attributes
 * Attributes that already exist are left alone.
 */
import { Connection } from '@temporalio/client';
import { loadConfigOrExit } from '../lib/config';
import { ORDER_SEARCH_ATTRIBUTES } from '../workflows/search-attributes';
import { registerOrderSearchAttributes } from '../lib/temporal-server';
import { temporalConnectionOptions } from '../lib/temporal-connection';

const config = loadConfigOrExit();
const address = config.temporal.address ?? `127.0.0.1:${config.temporal.port}`;
const connection = await Connection.connect({ address, ...temporalConnectionOptions(config.temporal) });
try {
  const added = await registerOrderSearchAttributes(connection, config.temporal.namespace);
  console.log(
    added.length
      ? `Registered in ${config.temporal.namespace}: ${added.map((k) => `${k.name} (${k.type})`).join(', ')}`
      : `All ${ORDER_SEARCH_ATTRIBUTES.length} order search attributes already exist in ${config.temporal.namespace}.`,
  );
} finally {
  await connection.close();
}
