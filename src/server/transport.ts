import type { Server } from 'node:https';

/**
 * Cipher suites of the admission listener. TLS 1.2: forward-secret key
 * exchange (ECDHE) with AEAD ciphers only, the suites kube-apiserver's
 * `--tls-cipher-suites` recommends; no RSA key exchange, no CBC. TLS 1.3:
 * Node's own three, in Node's order (all of them AEAD and forward-secret).
 */
export const TLS_CIPHERS = [
  'TLS_AES_256_GCM_SHA384',
  'TLS_CHACHA20_POLY1305_SHA256',
  'TLS_AES_128_GCM_SHA256',
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
].join(':');

/**
 * How long a client may take, and how many may be connected. The API
 * server connects, sends a request of at most 3 MiB at once and waits at
 * most 30 s for the answer (a webhook's timeoutSeconds is capped at 30), so
 * anything slower is not the API server.
 */
export const TRANSPORT_LIMITS = {
  /** TLS handshake, from the TCP connection (Node's default is 120 s). */
  handshakeTimeoutMs: 10_000,
  /**
   * Request line and headers, from a new connection's start (so one that
   * sends nothing is closed too, with a 408) or from a later request's first
   * byte; an idle keep-alive connection waits for keepAliveTimeout instead.
   * Must be shorter than the request's bound, or Node swaps the two.
   */
  headersTimeoutMs: 10_000,
  /** A whole request, body included. */
  requestTimeoutMs: 30_000,
  /** How often Node enforces the two above; at its default of 30 s they fired up to 30 s late. */
  connectionsCheckingIntervalMs: 1_000,
  /**
   * Open connections; more are refused on arrival. The API server opens
   * one per concurrent admission (tens); each idle TLS connection costs
   * about 33 KiB, so the cap holds them to about 17 MiB (docs/performance.md).
   */
  maxConnections: 512,
} as const;

/** TLS settings of the listener, for the first certificate and every reloaded one (setSecureContext replaces them all). */
export function tlsSettings(minVersion: 'TLSv1.2' | 'TLSv1.3'): { minVersion: 'TLSv1.2' | 'TLSv1.3'; ciphers: string } {
  return { minVersion, ciphers: TLS_CIPHERS };
}

/** Options for `https.createServer` (fastify passes them on) that enforce the timeouts above. */
export function listenerTimeouts(): { handshakeTimeout: number; headersTimeout: number; requestTimeout: number; connectionsCheckingInterval: number } {
  return {
    handshakeTimeout: TRANSPORT_LIMITS.handshakeTimeoutMs,
    headersTimeout: TRANSPORT_LIMITS.headersTimeoutMs,
    requestTimeout: TRANSPORT_LIMITS.requestTimeoutMs,
    connectionsCheckingInterval: TRANSPORT_LIMITS.connectionsCheckingIntervalMs,
  };
}

/** Caps the listener's connections; `onRefused` counts each one refused on arrival. */
export function guardConnections(server: Server, onRefused: () => void): void {
  server.maxConnections = TRANSPORT_LIMITS.maxConnections;
  server.on('drop', onRefused);
}
