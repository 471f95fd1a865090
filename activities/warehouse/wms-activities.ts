/** The warehouse system: pick and pack one shipment. */
import { callJson, type OutsideSystem } from '../http';

export function createWmsActivities(wms: OutsideSystem) {
  return {
    async createPickOrder(input: {
      orderId: string;
      shipmentId: string;
      warehouseId: string;
      lines: { sku: string; quantity: number; weightGrams?: number }[];
    }): Promise<{ pickOrderId: string; weightGrams: number }> {
      return callJson(wms, '/v1/pick-orders', { body: input, idempotencyKey: `${input.shipmentId}:pick` });
    },
    async cancelPickOrder(input: { pickOrderId: string; shipmentId: string }): Promise<{ status: string }> {
      return callJson(wms, `/v1/pick-orders/${encodeURIComponent(input.pickOrderId)}/cancel`, {
        body: {},
        idempotencyKey: `${input.shipmentId}:pick-cancel`,
      });
    },
  };
}
