import { connect, createServer, type AddressInfo, type Socket } from 'node:net';

export interface TcpProxy {
  readonly port: number;
  /**
   * From now on no byte passes in either direction, on open connections and
   * on new ones, and no connection is closed: to both ends the peer has gone
   * silent without a FIN or RST, as behind a dead NAT entry or a cut cable.
   */
  freeze(): void;
  /** Lets bytes pass again (what was held is delivered). */
  thaw(): void;
  /** Connections the client side closed while frozen. */
  closedWhileFrozen(): number;
  close(): Promise<void>;
}

interface Pair {
  readonly client: Socket;
  upstream: Socket | undefined;
}

/** A TCP proxy on 127.0.0.1 in front of `targetPort` that can freeze (see TcpProxy). */
export async function startTcpProxy(targetPort: number): Promise<TcpProxy> {
  const pairs = new Set<Pair>();
  let frozen = false;
  let closedWhileFrozen = 0;
  const flow = (pair: Pair): void => {
    pair.upstream ??= connect(targetPort, '127.0.0.1');
    const upstream = pair.upstream;
    upstream.on('error', () => pair.client.destroy());
    pair.client.pipe(upstream);
    upstream.pipe(pair.client);
  };
  const hold = (pair: Pair): void => {
    pair.client.unpipe();
    pair.upstream?.unpipe();
    pair.client.pause();
    pair.upstream?.pause();
  };
  const server = createServer((client) => {
    const pair: Pair = { client, upstream: undefined };
    pairs.add(pair);
    client.on('error', () => pair.upstream?.destroy());
    client.on('close', () => {
      if (frozen) closedWhileFrozen++;
      pair.upstream?.destroy();
      pairs.delete(pair);
    });
    if (frozen) client.pause();
    else flow(pair);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    freeze: () => {
      frozen = true;
      pairs.forEach(hold);
    },
    thaw: () => {
      frozen = false;
      for (const pair of pairs) {
        flow(pair);
        pair.client.resume();
        pair.upstream?.resume();
      }
    },
    closedWhileFrozen: () => closedWhileFrozen,
    close: async () => {
      for (const pair of pairs) {
        pair.client.destroy();
        pair.upstream?.destroy();
      }
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export interface BalancingProxy {
  readonly port: number;
  /** Connections handed to each target so far, by target port. */
  readonly connections: Map<number, number>;
  close(): Promise<void>;
}

/**
 * A TCP load balancer on 127.0.0.1, as a Service in front of replicas: each
 * new connection goes to the next of `targets()` in turn (TLS passes through
 * untouched, so each replica presents its own certificate).
 */
export async function startBalancingProxy(targets: () => readonly number[]): Promise<BalancingProxy> {
  const sockets = new Set<Socket>();
  const connections = new Map<number, number>();
  let next = 0;
  const server = createServer((client) => {
    const ports = targets();
    const port = ports[next++ % ports.length];
    if (port === undefined) return client.destroy();
    connections.set(port, (connections.get(port) ?? 0) + 1);
    const upstream = connect(port, '127.0.0.1');
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
    }
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    connections,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
