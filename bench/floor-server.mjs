// The floor for bench/throughput.ts: a bare node:https server on the same TLS
// settings that reads the body, optionally JSON.parses it (any webhook must),
// and returns a canned response of the same size as wi-admission's answer.
//   node bench/floor-server.mjs <certDir> <responseFile> <parse: yes|no>
import { readFileSync } from 'node:fs';
import { createServer } from 'node:https';
import { join } from 'node:path';

const [certDir, responseFile, parse] = process.argv.slice(2);
const canned = readFileSync(responseFile);
const server = createServer(
  { cert: readFileSync(join(certDir, 'tls.crt')), key: readFileSync(join(certDir, 'tls.key')), minVersion: 'TLSv1.3', keepAliveTimeout: 120_000 },
  (req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      if (parse === 'yes') JSON.parse(Buffer.concat(chunks).toString('utf8'));
      res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': canned.length });
      res.end(canned);
    });
  },
);
server.listen(0, '127.0.0.1', () => process.stdout.write(`${JSON.stringify({ port: server.address().port })}\n`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
