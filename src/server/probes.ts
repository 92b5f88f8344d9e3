import Fastify, { type FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';

/** Readiness parts, each reported by /readyz so an admin sees what is missing. */
export interface ReadinessChecks {
  certificate: boolean;
  serviceAccounts: boolean;
  kubernetesVersion: boolean;
  identityInventory: boolean;
  /** With --cert-mode self: the Secret is settled and the CA bundle written. */
  caBundle: boolean;
  /** The admission listener is bound (the probe listener opens first). */
  listening: boolean;
  notShuttingDown: boolean;
}

export interface ProbeDeps {
  readonly readiness: () => ReadinessChecks;
  /** Prometheus registry for /metrics; omitted when metrics are served elsewhere. */
  readonly registry?: Registry;
  readonly serveProbes: boolean;
}

/**
 * Plain-HTTP side server: /healthz (the process answers), /readyz (ready only
 * when a certificate is loaded, the ServiceAccount cache has synced and the
 * API server version is known, and not draining), /metrics. None of these
 * requests is logged.
 */
export function buildProbesApp(deps: ProbeDeps): FastifyInstance {
  const app = Fastify({ logger: false, forceCloseConnections: true });
  if (deps.serveProbes) {
    app.get('/healthz', async (_request, reply) => reply.type('text/plain').send('ok'));
    app.get('/readyz', async (_request, reply) => {
      const checks = deps.readiness();
      const ready = Object.values(checks).every(Boolean);
      return reply.code(ready ? 200 : 503).send({ ready, checks });
    });
  }
  const registry = deps.registry;
  if (registry) {
    app.get('/metrics', async (_request, reply) =>
      reply.type(registry.contentType).send(await registry.metrics()),
    );
  }
  return app;
}
