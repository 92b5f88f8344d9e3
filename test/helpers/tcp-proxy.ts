import { connect, createServer, type AddressInfo, type Socket } from 'node:net';

export interface TcpProxy {
  readonly port: number;
  /**
   * From now on no byte passes in either direction, on open connections and
   * on new ones, and no close is passed on: to both ends the peer has gone
   * silent without a FIN or RST, as behind a dead NAT entry or a cut cable.
   * The proxy itself keeps reading (and holding) what each end sends, so it
   * still sees an end close its side.
   */
  freeze(): void;
  /** Lets bytes pass again: what was held is delivered first. */
  thaw(): void;
  /** Connections the client side closed while frozen. */
  closedWhileFrozen(): number;
  close(): Promise<void>;
}

/** One direction of a connection: held bytes (and a held end) while frozen. */
interface Direction {
  readonly from: Socket;
  readonly to: Socket;
  held: Buffer[];
  ended: boolean;
  holding?: { data: (chunk: Buffer) => void; end: () => void };
}

interface Pair {
  readonly client: Socket;
  directions: Direction[];
}

function hold(direction: Direction): void {
  if (direction.holding) return;
  direction.from.unpipe(direction.to);
  direction.holding = { data: (chunk) => void direction.held.push(chunk), end: () => void (direction.ended = true) };
  direction.from.on('data', direction.holding.data);
  direction.from.on('end', direction.holding.end);
}

function release(direction: Direction): void {
  if (direction.holding) {
    direction.from.off('data', direction.holding.data);
    direction.from.off('end', direction.holding.end);
    direction.holding = undefined;
  }
  for (const chunk of direction.held.splice(0)) direction.to.write(chunk);
  if (direction.ended) direction.to.end();
  else direction.from.pipe(direction.to);
}

/** A TCP proxy on 127.0.0.1 in front of `targetPort` that can freeze (see TcpProxy). */
export async function startTcpProxy(targetPort: number): Promise<TcpProxy> {
  const pairs = new Set<Pair>();
  let frozen = false;
  let closedWhileFrozen = 0;
  const connectUpstream = (pair: Pair): void => {
    const upstream = connect(targetPort, '127.0.0.1');
    // While frozen the client hears nothing of the upstream side, its close included (held as an end, delivered on thaw).
    upstream.on('error', () => frozen || pair.client.destroy());
    upstream.on('close', () => frozen || pair.client.destroy());
    pair.directions = [
      { from: pair.client, to: upstream, held: pair.directions[0]?.held ?? [], ended: pair.directions[0]?.ended ?? false },
      { from: upstream, to: pair.client, held: [], ended: false },
    ];
  };
  const server = createServer((client) => {
    const pair: Pair = { client, directions: [] };
    pairs.add(pair);
    client.on('error', () => pair.directions[1]?.from.destroy());
    client.on('close', () => {
      if (frozen) closedWhileFrozen++;
      pair.directions[1]?.from.destroy();
      pairs.delete(pair);
    });
    if (frozen) {
      // Not even connected upstream yet: what the client sends waits here.
      pair.directions = [{ from: client, to: client, held: [], ended: false }];
      hold(pair.directions[0] as Direction);
      return;
    }
    connectUpstream(pair);
    pair.directions.forEach((d) => d.from.pipe(d.to));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    freeze: () => {
      frozen = true;
      for (const pair of pairs) pair.directions.forEach(hold);
    },
    thaw: () => {
      frozen = false;
      for (const pair of pairs) {
        if (pair.directions[0]?.to === pair.client) {
          // Accepted while frozen: connect it now, keeping what it already sent.
          const waiting = pair.directions[0];
          waiting.from.off('data', waiting.holding?.data ?? (() => undefined));
          waiting.from.off('end', waiting.holding?.end ?? (() => undefined));
          waiting.holding = undefined;
          connectUpstream(pair);
        }
        pair.directions.forEach(release);
      }
    },
    closedWhileFrozen: () => closedWhileFrozen,
    close: async () => {
      for (const pair of pairs) pair.directions.forEach((d) => d.from.destroy());
      for (const pair of pairs) pair.client.destroy();
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
