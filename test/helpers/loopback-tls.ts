import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { createCertificateAuthority, issueServerCertificate } from '../../src/certs/issue.js';

export interface LoopbackTlsServer {
  readonly port: number;
  /** PEM of the server's own CA, for clients to trust (verification stays on). */
  readonly caCert: string;
  /** Closes the listener and destroys every open connection (watch streams included). */
  close(): Promise<void>;
}

/** An HTTPS stand-in on 127.0.0.1 with a CA of its own, for the fake API server and fake ARM. */
export async function startLoopbackTlsServer(
  caName: string,
  handle: (req: IncomingMessage, res: ServerResponse) => void,
  options: { extraHosts?: readonly string[]; clientCa?: string } = {},
): Promise<LoopbackTlsServer> {
  const ca = await createCertificateAuthority(caName);
  // extraHosts: names a client reaches through a tunnel (e.g. login.microsoftonline.com via a CONNECT proxy).
  const pair = await issueServerCertificate(ca, { dnsNames: ['localhost', ...(options.extraHosts ?? [])], ipAddresses: ['127.0.0.1'] });
  // clientCa: only clients presenting a certificate signed by it complete the handshake (kube-apiserver's --client-ca-file).
  const clientAuth = options.clientCa ? { requestCert: true, rejectUnauthorized: true, ca: options.clientCa } : {};
  const server = createServer({ cert: pair.cert, key: pair.key, ...clientAuth }, handle);
  const sockets = new Set<Duplex>();
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    caCert: ca.cert,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
