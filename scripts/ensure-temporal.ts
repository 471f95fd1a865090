/**
 * Makes sure a Temporal CLI is available before the tests start (the first build takes minutes
 * and prints progress), unless TEMPORAL_ADDRESS points at a cluster already.
 */
import { loadConfigOrExit } from '../lib/config';
import { ensureTemporalCli, NO_TEMPORAL_CLI_HELP } from '../lib/temporal-cli';

const config = loadConfigOrExit();
if (!config.temporal.address) {
  const cli = await ensureTemporalCli(config.temporal.cliPath, (l) => console.log(l));
  if (cli) console.log(`Temporal CLI (${cli.source}): ${cli.path}`);
  else console.log(`${NO_TEMPORAL_CLI_HELP}\nThe test harness will try the SDK download.`);
}
