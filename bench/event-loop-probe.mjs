// Loaded into the server by bench/hostile.ts (`node --import`), so the
// server's own event-loop delay is measured without any code in src/ for it.
// Over the IPC channel: 'reset' starts a new measurement window, 'read'
// answers with the delay since the last reset and the process's peak RSS.
import { monitorEventLoopDelay } from 'node:perf_hooks';

const histogram = monitorEventLoopDelay({ resolution: 5 });
histogram.enable();

if (process.send) {
  process.on('message', (message) => {
    if (message === 'reset') {
      histogram.reset();
      process.send({ reset: true });
    } else if (message === 'read') {
      const ms = (ns) => Math.round(ns / 1e4) / 100;
      process.send({
        maxMs: ms(histogram.max),
        p99Ms: ms(histogram.percentile(99)),
        meanMs: ms(histogram.mean),
        // kB on Linux: the high-water mark of the resident set since start.
        maxRssKiB: process.resourceUsage().maxRSS,
      });
    }
  });
  // After the listener (adding it refs the channel): the channel must not
  // keep the server alive once it shuts down.
  process.channel?.unref();
}
