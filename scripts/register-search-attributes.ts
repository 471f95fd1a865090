/**
 * Registers the order search attributes on a real cluster (the dev launcher does it itself):
 *   TEMPORAL_ADDRESS=host:7233 TEMPORAL_NAMESPACE=orders npm run temporal:search-attributes
 * Attributes that already exist are left alone.
 */
import { Connection } from '@temporalio/client';
import { loadConfigOrExit } from '../lib/config';
import { ORDER_SEARCH_ATTRIBUTES } from '../workflows/search-attributes';

const INDEXED_VALUE_TYPE: Record<string, number> = { TEXT: 1, KEYWORD: 2, INT: 3, DOUBLE: 4, BOOL: 5, DATETIME: 6, KEYWORD_LIST: 7 };

const config = loadConfigOrExit();
const address = config.temporal.address ?? `127.0.0.1:${config.temporal.port}`;
const connection = await Connection.connect({ address });
try {
  const existing = await connection.operatorService.listSearchAttributes({ namespace: config.temporal.namespace });
  const missing = ORDER_SEARCH_ATTRIBUTES.filter((k) => !(k.name in (existing.customAttributes ?? {})));
  if (missing.length === 0) {
    console.log(`All ${ORDER_SEARCH_ATTRIBUTES.length} order search attributes already exist in ${config.temporal.namespace}.`);
  } else {
    await connection.operatorService.addSearchAttributes({
      namespace: config.temporal.namespace,
      searchAttributes: Object.fromEntries(missing.map((k) => [k.name, INDEXED_VALUE_TYPE[k.type]!])),
    });
    console.log(`Registered in ${config.temporal.namespace}: ${missing.map((k) => `${k.name} (${k.type})`).join(', ')}`);
  }
} finally {
  await connection.close();
}
