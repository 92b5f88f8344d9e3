// Load generator, run in its own process pinned to its own core by
// bench/throughput.ts. Two modes:
//   open <port> <path> <bodyFile> <rate> <seconds>
//     open loop at a fixed rate: request i is due at start + i/rate and its
//     latency is measured from when it was due, so a stall is not hidden
//     (coordinated omission); many keep-alive connections so no request
//     waits for a free socket.
//   saturate <port> <path> <bodyFile> <connections> <seconds>
//     closed loop with autocannon: throughput at saturation.
// The server's CA comes through NODE_EXTRA_CA_CERTS (verification stays on).
// Prints one JSON line.
import { readFileSync } from 'node:fs';
import { Agent, request } from 'node:https';
import autocannon from 'autocannon';

const [mode, portText, path, bodyFile, amountText, secondsText] = process.argv.slice(2);
const port = Number(portText);
const body = readFileSync(bodyFile);
const seconds = Number(secondsText);

function percentile(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

async function open(rate) {
  const agent = new Agent({ keepAlive: true, maxSockets: 256 });
  const total = Math.round(rate * seconds);
  const latencies = [];
  let errors = 0;
  let issued = 0;
  let done = 0;
  const start = performance.now();
  await new Promise((resolve) => {
    const send = (due) => {
      const req = request({ host: '127.0.0.1', port, path, method: 'POST', agent, servername: 'localhost', headers: { 'content-type': 'application/json', 'content-length': body.length } }, (res) => {
        res.resume();
        res.on('end', () => {
          latencies.push(performance.now() - due);
          if (res.statusCode !== 200) errors++;
          if (++done === total) resolve();
        });
      });
      req.on('error', () => {
        errors++;
        if (++done === total) resolve();
      });
      req.end(body);
    };
    const tick = () => {
      const elapsed = performance.now() - start;
      const due = Math.min(total, Math.floor((elapsed / 1000) * rate) + 1);
      while (issued < due) {
        send(start + (issued * 1000) / rate);
        issued++;
      }
      if (issued < total) setImmediate(tick);
    };
    tick();
  });
  agent.destroy();
  latencies.sort((a, b) => a - b);
  return {
    mode: 'open',
    rate,
    requests: total,
    errors,
    achievedPerSecond: Math.round(total / ((performance.now() - start) / 1000)),
    latencyMs: { p50: round(percentile(latencies, 50)), p99: round(percentile(latencies, 99)), p999: round(percentile(latencies, 99.9)), max: round(latencies.at(-1)) },
  };
}

async function saturate(connections) {
  const result = await autocannon({
    url: `https://127.0.0.1:${port}${path}`,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body,
    connections,
    duration: seconds,
    servername: 'localhost',
  });
  return {
    mode: 'saturate',
    connections,
    requests: result.requests.total,
    errors: result.errors + result.non2xx,
    throughputPerSecond: Math.round(result.requests.average),
    latencyMs: { p50: result.latency.p50, p99: result.latency.p99, p999: result.latency.p99_9 },
  };
}

function round(x) {
  return Math.round(x * 1000) / 1000;
}

const result = mode === 'open' ? await open(Number(amountText)) : await saturate(Number(amountText));
process.stdout.write(`${JSON.stringify(result)}\n`);
