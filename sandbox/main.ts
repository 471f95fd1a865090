/** Standalone sandbox for development: `tsx sandbox/main.ts`; Ctrl-C stops it. */
import { startSandbox } from './server';

const sandbox = await startSandbox({
  port: Number(process.env.SANDBOX_PORT ?? 4000),
  host: process.env.SANDBOX_HOST ?? '127.0.0.1',
  omsBaseUrl: process.env.OMS_BASE_URL ?? 'http://127.0.0.1:3000',
});
console.log(`Sandbox listening on ${sandbox.url}`);

const shutdown = (): void => {
  void sandbox.stop().then(() => process.exit(0));
};
process.once('SIGINT', shutdown);
process.once('SIGTERM', shutdown);
