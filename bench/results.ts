/**
 * Where the benchmarks' figures go: bench/results/<name>.node<major>.json,
 * one file per Node major, so the runtimes CI tests (the engines floor and
 * the image's) are compared run against run. Each records the Node that ran
 * it and the machine's 1-minute load average when it started and ended:
 * figures from a busy shared machine say more about the machine.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';

const loadAtStart = loadavg()[0];

export function machine(): Record<string, unknown> {
  return { cpus: cpus().length, model: cpus()[0]?.model, memoryGiB: Math.round(totalmem() / 2 ** 30), node: process.version };
}

/** Writes the result (with the load average) and prints it; returns the file written. */
export function writeResult(name: string, result: Record<string, unknown>): string {
  const file = join(new URL('.', import.meta.url).pathname, 'results', `${name}.node${process.versions.node.split('.')[0]}.json`);
  const recorded = { ...result, loadAverage1m: { start: loadAtStart, end: loadavg()[0] } };
  mkdirSync(join(file, '..'), { recursive: true });
  writeFileSync(file, `${JSON.stringify(recorded, null, 2)}\n`);
  console.log(JSON.stringify(recorded, null, 2));
  return file;
}
