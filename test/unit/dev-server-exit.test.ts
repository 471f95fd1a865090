import { describe, expect, it } from 'vitest';
import { whyGoProcessStopped } from '../../lib/dev-services';

// The shape of what `temporal server start-dev` (Go) prints when it dies at start: warnings, then
// the panic line, then the goroutine dump. Only the panic line says why.
const PANIC_AT_START = [
  'time=2026-12-01T23:01:02Z level=WARN msg="sqlite db is in-memory"',
  'panic: failed assigning ephemeral port: failed to assign a free port: listen tcp 127.0.0.1:0: bind: address already in use',
  '',
  'goroutine 1 [running]:',
  'github.com/temporalio/cli/temporalcli/devserver.MustGetFreePort(...)',
  '\t/root/go/pkg/mod/github.com/temporalio/cli@v1.5.1/temporalcli/devserver/freeport.go:89',
  'main.main()',
  '\t/root/go/pkg/mod/github.com/temporalio/cli@v1.5.1/cmd/temporal/main.go:18 +0x96',
].join('\n');

describe('why the dev server stopped', () => {
  it('names the panic line, not the end of the goroutine dump', () => {
    expect(whyGoProcessStopped(PANIC_AT_START)).toBe(
      'panic: failed assigning ephemeral port: failed to assign a free port: listen tcp 127.0.0.1:0: bind: address already in use',
    );
  });

  it('falls back to an error line, then to the last line', () => {
    expect(whyGoProcessStopped('starting\nunable to start server: listen tcp 127.0.0.1:7233: bind failed\nbye')).toBe(
      'unable to start server: listen tcp 127.0.0.1:7233: bind failed',
    );
    expect(whyGoProcessStopped('one\ntwo\n')).toBe('two');
    expect(whyGoProcessStopped('')).toBe('');
  });
});
