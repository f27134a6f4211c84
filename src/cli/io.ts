import { CliError } from './context.js';

/** The longest line accepted on standard input; anything longer is not a password or secret. */
const MAX_LINE_BYTES = 64 * 1024;

/**
 * Reads a password or secret. From a pipe or file: the first line, without its `\n` or `\r\n`.
 * From a terminal: a prompt on stderr with echo off, asked twice when `confirm` is set.
 * Empty input is an error. The value is never echoed.
 */
export async function readSecret(what: string, options: { confirm?: boolean } = {}): Promise<string> {
  const stdin = process.stdin;
  let value: string;
  if (stdin.isTTY) {
    value = await promptHidden(`${capitalise(what)}: `);
    if (value !== '' && options.confirm) {
      const again = await promptHidden(`Repeat the ${what}: `);
      if (again !== value) throw new CliError(`the two ${what}s differ`);
    }
  } else {
    value = await readFirstLine(stdin);
  }
  if (value === '') throw new CliError(`no ${what} on standard input (expected it on one line)`);
  return value;
}

function capitalise(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

/** The first line of a stream, without its line ending; stops reading at the first `\n`. */
export async function readFirstLine(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : (chunk as Buffer);
    const newline = buf.indexOf(0x0a);
    const part = newline >= 0 ? buf.subarray(0, newline) : buf;
    size += part.length;
    if (size > MAX_LINE_BYTES)
      throw new CliError(`the line on standard input is longer than ${MAX_LINE_BYTES} bytes`);
    chunks.push(part);
    if (newline >= 0) break;
  }
  return Buffer.concat(chunks).toString('utf8').replace(/\r$/, '');
}

/** A prompt on a terminal with echo off (raw mode): Enter ends, Backspace deletes, Ctrl-C aborts. */
function promptHidden(prompt: string): Promise<string> {
  const stdin = process.stdin;
  return new Promise((resolve, reject) => {
    let value = '';
    const finish = (err?: Error) => {
      stdin.off('data', onData);
      stdin.setRawMode(false);
      stdin.pause();
      process.stderr.write('\n');
      if (err) reject(err);
      else resolve(value);
    };
    const onData = (chunk: Buffer | string) => {
      for (const ch of typeof chunk === 'string' ? chunk : chunk.toString('utf8')) {
        if (ch === '\r' || ch === '\n' || ch === '\u0004') return finish();
        if (ch === '\u0003') return finish(new CliError('interrupted', 130));
        if (ch === '\u007f' || ch === '\b') value = [...value].slice(0, -1).join('');
        else if (ch >= ' ') value += ch;
      }
    };
    process.stderr.write(prompt);
    stdin.setRawMode(true);
    stdin.on('data', onData);
    stdin.resume();
  });
}

/** Writes a value as JSON to stdout, and nothing else. */
export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

export function print(line = ''): void {
  process.stdout.write(`${line}\n`);
}

/** Rows under a header, in columns two spaces apart; the last column is not padded. */
export function printTable(header: string[], rows: string[][], empty: string): void {
  if (rows.length === 0) {
    print(empty);
    return;
  }
  const width = (s: string) => [...s].length;
  const widths = header.map((h, i) => Math.max(width(h), ...rows.map((r) => width(r[i] ?? ''))));
  for (const row of [header, ...rows]) {
    const cells = row.map((cell, i) =>
      i === row.length - 1 ? cell : cell + ' '.repeat(widths[i]! - width(cell)),
    );
    print(cells.join('  ').trimEnd());
  }
}

/** Label: value lines with the values aligned, for `show` commands. */
export function printFields(fields: Array<[string, string]>): void {
  const width = Math.max(...fields.map(([label]) => label.length)) + 1;
  for (const [label, value] of fields) print(`${`${label}:`.padEnd(width)}  ${value}`.trimEnd());
}

export function yesNo(value: boolean): string {
  return value ? 'yes' : 'no';
}

export function list(values: readonly string[]): string {
  return values.length > 0 ? values.join(', ') : '-';
}
