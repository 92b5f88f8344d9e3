// A watch whose connection goes silent without being closed (a half-open
// TCP connection: a dead NAT entry, a node gone) is noticed by its timeout:
// nothing, not even the end the API server sends at timeoutSeconds, arrived
// within timeoutSeconds plus a margin. The connection runs through a TCP
// proxy the test freezes; the timeouts are injected (a second each), so the
// test waits on events, not on sleeps.
import t from 'tap';
import { createListWatchSource } from '../../src/kube/client.js';
import { loadKubeConnection } from '../../src/kube/kubeconfig.js';
import { KUBE_PATHS } from '../../src/kube/paths.js';
import { KubeRestClient } from '../../src/kube/rest-client.js';
import { ServiceAccountCache } from '../../src/kube/service-account-cache.js';
import type { RestartCause } from '../../src/kube/informer.js';
import { FakeKubeApi } from '../helpers/fake-kube-api.js';
import { eventually } from '../helpers/https-client.js';
import { createLogSink } from '../helpers/log-sink.js';
import { startTcpProxy } from '../helpers/tcp-proxy.js';

void t.test('a frozen watch connection is detected, dropped and replaced; what it held back arrives on the new watch', async (t) => {
  const api = new FakeKubeApi();
  await api.start();
  t.teardown(() => api.stop());
  api.putServiceAccount('default', 'before');
  const proxy = await startTcpProxy(api.port());
  t.teardown(() => proxy.close());

  // A kubeconfig for the stand-in, reached through the proxy.
  const dir = t.testdir({});
  const kubeconfig = api.writeKubeconfig(dir);
  const direct = loadKubeConnection(kubeconfig, {});
  const client = new KubeRestClient({ ...direct, server: `https://127.0.0.1:${proxy.port}` });
  t.teardown(() => client.close());

  const restarts: RestartCause[] = [];
  const sink = createLogSink();
  const cache = new ServiceAccountCache(
    createListWatchSource(client, KUBE_PATHS.serviceAccounts, { timeoutSeconds: { min: 1, max: 1 }, silenceMarginMs: 1000 }),
    client,
    sink.log,
    { onRestart: (cause) => void restarts.push(cause) },
  );
  cache.start();
  t.teardown(() => cache.stop());

  await eventually(() => cache.hasSynced() && cache.getCached('default', 'before') !== undefined, 10_000, 'synced');
  await eventually(() => restarts.includes('closed'), 10_000, 'a watch ended by the server at its timeoutSeconds');
  t.notOk(restarts.includes('stalled'), 'healthy watches end by the server, never by the silence check');

  proxy.freeze();
  api.putServiceAccount('default', 'during-freeze'); // its event is held in the frozen connection
  await eventually(() => restarts.includes('stalled'), 15_000, 'the silent watch detected');
  t.equal(cache.getCached('default', 'during-freeze'), undefined, 'nothing got through while frozen');
  t.notOk(restarts.includes('error'), 'no connection error either: the client saw no close, only silence');
  // The proxy hears of the close a moment after the client decided it.
  await eventually(() => proxy.closedWhileFrozen() >= 1, 5000, 'the client to drop the silent connection itself (no FIN or RST came)');
  t.match(sink.lines.find((l) => l.msg === 'watch connection silent past its timeout, reconnecting'), { level: 40, err: { type: 'WatchStalledError' } });

  proxy.thaw();
  await eventually(() => cache.getCached('default', 'during-freeze') !== undefined, 15_000, 'the event on a new watch');
});
