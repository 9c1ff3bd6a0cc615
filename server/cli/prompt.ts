import { createInterface } from 'node:readline';
import { CliError } from './errors';

/** The first line of a piped stdin (`echo "$PASSWORD" | airlock user add …`), without its line ending. */
async function readFirstLine(stdin: NodeJS.ReadStream): Promise<string | null> {
  const lines = createInterface({ input: stdin, crlfDelay: Number.POSITIVE_INFINITY });
  try {
    for await (const line of lines) return line;
    return null;
  } finally {
    lines.close();
    // nothing else reads stdin: let the process exit without waiting for the writer to close it
    stdin.destroy();
  }
}

/** Read a line from the terminal without echoing it. */
function hiddenPrompt(stdin: NodeJS.ReadStream, prompt: string): Promise<string> {
  return new Promise((resolve, reject) => {
    process.stderr.write(prompt);
    let value = '';
    const done = (error?: Error) => {
      stdin.off('data', onData);
      stdin.setRawMode(false);
      stdin.pause();
      process.stderr.write('\n');
      if (error) reject(error);
      else resolve(value);
    };
    const onData = (chunk: Buffer) => {
      for (const char of chunk.toString('utf8')) {
        if (char === '\r' || char === '\n' || char === '\u0004') return done();
        if (char === '\u0003') return done(new CliError(130, 'cancelled'));
        if (char === '\u007f' || char === '\b') value = [...value].slice(0, -1).join('');
        else if (char >= ' ') value += char;
      }
    };
    stdin.setRawMode(true);
    stdin.resume();
    stdin.on('data', onData);
  });
}

/**
 * A new password from stdin: a hidden prompt, asked twice, on a terminal; otherwise the
 * first piped line. Never from an argument, which would land in shell history and `ps`.
 */
export async function readNewPassword(stdin: NodeJS.ReadStream = process.stdin): Promise<string> {
  if (!stdin.isTTY) {
    const line = await readFirstLine(stdin);
    if (!line)
      throw new CliError(
        1,
        'no password on stdin: pipe one line, run in a terminal to be prompted, or use --no-password for single sign-on users',
      );
    return line;
  }
  const first = await hiddenPrompt(stdin, 'Password: ');
  const second = await hiddenPrompt(stdin, 'Repeat password: ');
  if (first !== second) throw new CliError(1, 'the passwords do not match');
  return first;
}
