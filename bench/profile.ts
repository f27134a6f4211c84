#!/usr/bin/env node
/**
 * Summarises a V8 .cpuprofile (from BENCH_NODE_ARGS="--cpu-prof --cpu-prof-dir=DIR"): the functions with the most
 * self time, and self time by package. Only the main thread is profiled: argon2 runs on libuv workers and is absent.
 *
 *   node dist/bench/profile.js FILE.cpuprofile [--top N] [--match REGEX] [--after S]
 *
 * --after skips the first S seconds of the profile (start-up: module loading, the SAML schema validator's compile).
 * --match also lists inclusive time (self + callees) of the functions whose name or file match REGEX.
 */
import fs from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

function usage(message: string): never {
  process.stderr.write(
    `profile: ${message}\nusage: node dist/bench/profile.js FILE.cpuprofile [--top N] [--match REGEX] [--after S]\n`,
  );
  process.exit(2);
}

/** node_modules/<package> (scoped too), node:internal, the project's own files, or (program)/(gc)/(idle). */
function packageOf(url: string, functionName: string): string {
  if (!url) return functionName.startsWith('(') ? functionName : '(native)';
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (nm) return nm[1]!;
  if (url.startsWith('node:')) return `node:${url.slice(5).split('/')[0]}`;
  const own = /\/dist\/(src\/[^/]+)\//.exec(url);
  if (own) return `poort ${own[1]}`;
  return url;
}

function main(): void {
  const args = process.argv.slice(2);
  let file: string | undefined;
  let top = 30;
  let match: RegExp | undefined;
  let afterS = 0;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--top') {
      top = Number(args[++i]);
      if (!Number.isInteger(top) || top <= 0) usage('--top needs a positive whole number');
    } else if (arg === '--match') {
      const source = args[++i];
      if (!source) usage('--match needs a regular expression');
      match = new RegExp(source);
    } else if (arg === '--after') {
      afterS = Number(args[++i]);
      if (!Number.isFinite(afterS) || afterS < 0) usage('--after needs a number of seconds, 0 or more');
    } else if (arg.startsWith('-')) usage(`unknown argument "${arg}"`);
    else if (file) usage('one profile at a time');
    else file = arg;
  }
  if (!file) usage('no profile given');
  const profile = JSON.parse(fs.readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  const fromUs = profile.startTime + afterS * 1e6;
  let at = profile.startTime;
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i]!;
    const delta = profile.timeDeltas[i] ?? 0;
    at += delta;
    if (at < fromUs) continue;
    selfUs.set(id, (selfUs.get(id) ?? 0) + delta);
  }
  const totalUs = Math.max(0, profile.endTime - Math.max(profile.startTime, fromUs));
  const idleUs = [...selfUs]
    .filter(([id]) => byId.get(id)?.callFrame.functionName === '(idle)')
    .reduce((a, [, us]) => a + us, 0);
  const busyUs = totalUs - idleUs;

  const functions = new Map<string, number>();
  const packages = new Map<string, number>();
  for (const [id, us] of selfUs) {
    const { functionName, url, lineNumber } = byId.get(id)!.callFrame;
    if (functionName === '(idle)') continue;
    const where = url
      ? `${url.replace(/^file:\/\/.*?\/(node_modules|dist)\//, '$1/')}:${lineNumber + 1}`
      : '';
    const key = `${functionName || '(anonymous)'}  ${where}`;
    functions.set(key, (functions.get(key) ?? 0) + us);
    const pkg = packageOf(url, functionName);
    packages.set(pkg, (packages.get(pkg) ?? 0) + us);
  }
  const pct = (us: number) => `${((us / busyUs) * 100).toFixed(1).padStart(5)}%`;
  const ms = (us: number) => `${(us / 1000).toFixed(0).padStart(7)} ms`;
  const out: string[] = [];
  out.push(
    `${file}: ${(totalUs / 1e6).toFixed(1)} s profiled, main thread busy ${(busyUs / 1e6).toFixed(2)} s`,
  );
  out.push('', 'self time by package:');
  for (const [pkg, us] of [...packages].sort((a, b) => b[1] - a[1]).slice(0, 20))
    out.push(`${ms(us)} ${pct(us)}  ${pkg}`);
  out.push('', `top ${top} functions by self time:`);
  for (const [fn, us] of [...functions].sort((a, b) => b[1] - a[1]).slice(0, top))
    out.push(`${ms(us)} ${pct(us)}  ${fn}`);
  if (match) {
    // Inclusive time: each sample counts once for every distinct matching function on its stack.
    const parent = new Map<number, number>();
    for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
    const keyOf = (n: ProfileNode) => {
      const { functionName, url, lineNumber } = n.callFrame;
      const where = url
        ? `${url.replace(/^file:\/\/.*?\/(node_modules|dist)\//, '$1/')}:${lineNumber + 1}`
        : '';
      return `${functionName || '(anonymous)'}  ${where}`;
    };
    const inclusive = new Map<string, number>();
    for (const [id, us] of selfUs) {
      const seen = new Set<string>();
      for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
        const node = byId.get(at)!;
        const key = keyOf(node);
        if (seen.has(key) || !match.test(key)) continue;
        seen.add(key);
        inclusive.set(key, (inclusive.get(key) ?? 0) + us);
      }
    }
    out.push('', `top ${top} functions matching ${match} by inclusive time:`);
    for (const [fn, us] of [...inclusive].sort((a, b) => b[1] - a[1]).slice(0, top))
      out.push(`${ms(us)} ${pct(us)}  ${fn}`);
  }
  process.stdout.write(`${out.join('\n')}\n`);
}

main();
