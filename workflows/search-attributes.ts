/**
 * Custom search attributes of order workflows. Ops filter on these in the Web UI and with
 * `temporal workflow list --query`. The launcher registers them on the dev server, and
 * `npm run temporal:search-attributes` registers them on a real cluster.
 */
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

export const OrderStatusKey = defineSearchAttributeKey('OrderStatus', SearchAttributeType.KEYWORD);
export const ChannelKey = defineSearchAttributeKey('Channel', SearchAttributeType.KEYWORD);
export const CustomerIdKey = defineSearchAttributeKey('CustomerId', SearchAttributeType.KEYWORD);
export const NeedsAttentionKey = defineSearchAttributeKey('NeedsAttention', SearchAttributeType.BOOL);
export const EscalationLevelKey = defineSearchAttributeKey('EscalationLevel', SearchAttributeType.INT);
export const WarehouseKey = defineSearchAttributeKey('Warehouse', SearchAttributeType.KEYWORD_LIST);
export const CarrierKey = defineSearchAttributeKey('Carrier', SearchAttributeType.KEYWORD_LIST);
export const OrderTotalKey = defineSearchAttributeKey('OrderTotal', SearchAttributeType.DOUBLE);

export const ORDER_SEARCH_ATTRIBUTES = [
  OrderStatusKey,
  ChannelKey,
  CustomerIdKey,
  NeedsAttentionKey,
  EscalationLevelKey,
  WarehouseKey,
  CarrierKey,
  OrderTotalKey,
] as const;

/** The CLI's spelling of each type, for `--search-attribute Name=Type`. */
export const CLI_TYPE_NAMES: Record<SearchAttributeType, string> = {
  [SearchAttributeType.TEXT]: 'Text',
  [SearchAttributeType.KEYWORD]: 'Keyword',
  [SearchAttributeType.INT]: 'Int',
  [SearchAttributeType.DOUBLE]: 'Double',
  [SearchAttributeType.BOOL]: 'Bool',
  [SearchAttributeType.DATETIME]: 'Datetime',
  [SearchAttributeType.KEYWORD_LIST]: 'KeywordList',
};
