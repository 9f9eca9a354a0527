import { readSync } from 'node:fs';
import { isatty } from 'node:tty';
import { Interrupted } from './signals.js';

/**
 * The password of `username` from stdin, as etcdctl asks for it when `--user` has none: typed
 * without echo on a terminal, else the first line of whatever is piped in. Reads one byte at a
 * time so that nothing after that line is taken from a command that inherits stdin (`lock --
 * command`). Undefined when stdin is empty or closed.
 */
export async function readPassword(username: string): Promise<string | undefined> {
  if (isatty(0)) return promptWithoutEcho(`Password for ${username}: `);
  return readLineSync();
}

function readLineSync(): string | undefined {
  const bytes: number[] = [];
  const one = Buffer.alloc(1);
  for (;;) {
    let n: number;
    try {
      n = readSync(0, one, 0, 1, null);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EAGAIN') {
        // a non-blocking pipe with nothing in it yet: wait a moment without spinning
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10);
        continue;
      }
      if (code === 'EOF' || code === 'EBADF' || code === 'ENXIO') break;
      throw err;
    }
    if (n === 0 || one[0] === 0x0a) break;
    bytes.push(one[0]!);
  }
  if (bytes.length === 0) return undefined;
  const line = Buffer.from(bytes).toString('utf8');
  return line.endsWith('\r') ? line.slice(0, -1) : line;
}

function promptWithoutEcho(prompt: string): Promise<string | undefined> {
  const stdin = process.stdin;
  process.stderr.write(prompt);
  stdin.setRawMode(true);
  stdin.resume();
  return new Promise((resolve, reject) => {
    let typed = '';
    const done = (finish: () => void) => {
      stdin.off('data', onData);
      stdin.setRawMode(false);
      stdin.pause();
      process.stderr.write('\n');
      finish();
    };
    const onData = (chunk: Buffer) => {
      for (const ch of chunk.toString('utf8')) {
        if (ch === '\r' || ch === '\n') {
          done(() => {
            resolve(typed === '' ? undefined : typed);
          });
          return;
        }
        if (ch === '\u0003') {
          done(() => {
            reject(new Interrupted('SIGINT'));
          });
          return;
        }
        if (ch === '\u0004') {
          done(() => {
            resolve(typed === '' ? undefined : typed);
          });
          return;
        }
        if (ch === '\u007f' || ch === '\b') typed = typed.slice(0, -1);
        else typed += ch;
      }
    };
    stdin.on('data', onData);
  });
}
