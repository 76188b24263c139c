/** Help texts of the terminal client (`npm run cli -- <command> --help`). */

const COMMON = `Common options:
  --url URL       the API (default $CODELAB_URL, else http://localhost:3000)
  --token JWT     the bearer token (default $CODELAB_TOKEN; make one with: npm run -s token -- --sub you)
  --json          machine-readable output (newline-delimited JSON)
  -h, --help      this help`;

export const HELP: { main: string; [command: string]: string } = {
  main: `Usage: npm run cli -- <command> [options]

Commands:
  projects                              list your projects
  agents --project ID                   list a project's agents
  plans --project ID [--status S]       list a project's plans, newest first
  chat --project ID [--session ID] "message"
                                        ask; follow the plan live, answer its approval, print the answer
  watch --project ID PLAN_ID            follow a plan to its end
  approve --project ID PLAN_ID          approve a plan waiting for approval
  reject --project ID PLAN_ID [--reason TEXT]
                                        reject a plan waiting for approval

Exit codes: 0 done (a plan completed), 1 a plan failed, ended partially, was rejected,
expired or cancelled, or the API refused the request; 2 usage error.

${COMMON}`,
  projects: `Usage: npm run cli -- projects [--json]\n\nLists your projects, newest first.\n\n${COMMON}`,
  agents: `Usage: npm run cli -- agents --project ID [--json]\n\nLists the project's agents (starter pack included).\n\n${COMMON}`,
  plans: `Usage: npm run cli -- plans --project ID [--status STATUS] [--limit N] [--json]\n\nLists the project's plans, newest first.\n\n${COMMON}`,
  chat: `Usage: npm run cli -- chat --project ID [--session ID] [--yes | --no] [--json] "message"

Sends the message, then follows its plan live: a progress bar over the tasks
and one line per task event. When the plan needs approval it asks y/n on
stdin (--yes approves, --no rejects, for scripts; no answer rejects). Prints
the final answer. With --json: every event as one JSON line, then the final plan.

Exit code: 0 when the plan completed; 1 when it failed, ended partially,
was rejected, expired or was cancelled.

${COMMON}`,
  watch: `Usage: npm run cli -- watch --project ID [--yes | --no] [--json] PLAN_ID\n\nFollows a plan to its end, like chat does after sending.\n\n${COMMON}`,
  approve: `Usage: npm run cli -- approve --project ID PLAN_ID\n\nApproves a plan waiting for approval (exit 1 when it is not waiting).\n\n${COMMON}`,
  reject: `Usage: npm run cli -- reject --project ID PLAN_ID [--reason TEXT]\n\nRejects a plan waiting for approval (exit 1 when it is not waiting).\n\n${COMMON}`,
};
