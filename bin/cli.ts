import { runCli } from '../src/cli/main.js';

/** `npm run cli -- <command>`: the terminal client (src/cli). Token and URL from flags or CODELAB_TOKEN / CODELAB_URL. */
process.exitCode = await runCli(process.argv.slice(2), {
  env: process.env,
  stdin: process.stdin,
  out: (line) => void process.stdout.write(`${line}\n`),
  err: (line) => void process.stderr.write(`${line}\n`),
});
// stdin may hold the process open (the approval question): the command is done.
process.stdin.destroy();
