// The command tree of `rxt` (commander): every command, option and description, and nothing else. The
// code of a command is imported when it runs, so `rxt --version` and `--help` load only this file.
import { Argument, Command, InvalidArgumentError, Option } from 'commander'
import type { RunContext } from './context.ts'

type Handler = (ctx: RunContext, args: string[], options: Record<string, unknown>) => Promise<void>
type Load = () => Promise<Record<string, unknown>>

/** Runs `name` of the module `load` imports, with a run context made of the command's global options. */
const lazy =
  (load: Load, name: string) =>
  async (...params: unknown[]): Promise<void> => {
    const command = params[params.length - 1] as Command
    const args = command.args
    const options = command.optsWithGlobals() as Record<string, unknown>
    const [module, { createRunContext }] = await Promise.all([load(), import('./context.ts')])
    const recover = command.name() === 'login' || command.name() === 'logout'
    const ctx = await createRunContext({ json: options.json === true, recover })
    await (module[name] as Handler)(ctx, args, options)
  }

const commands = {
  auth: () => import('./commands/auth.ts'),
  orgs: () => import('./commands/orgs.ts'),
  projects: () => import('./commands/projects.ts'),
  manifest: () => import('./commands/manifest.ts'),
  deploy: () => import('./commands/deploy.ts'),
  explain: () => import('./commands/explain.ts'),
  secrets: () => import('./commands/secrets.ts'),
  webhook: () => import('./commands/webhook.ts'),
  audit: () => import('./commands/audit.ts'),
}

/** An option's value as a whole number from `min` to `max`; anything else is a usage error (exit 2). */
export const integer =
  (min: number, max = Number.MAX_SAFE_INTEGER) =>
  (value: string): number => {
    const n = /^[0-9]+$/.test(value.trim()) ? Number(value) : Number.NaN
    if (!Number.isSafeInteger(n)) throw new InvalidArgumentError('not a whole number.')
    if (n < min || n > max)
      throw new InvalidArgumentError(
        max === Number.MAX_SAFE_INTEGER ? `less than ${min}.` : `not ${min}–${max}.`,
      )
    return n
  }

const projectOption = () =>
  new Option('-p, --project <id|slug>', 'the project (default: RXT_PROJECT, rxt projects use)')
const envOption = (what = 'the environment') =>
  new Option('-e, --env <id|name>', `${what} (default: the project's only one)`)

export function createProgram(version: string): Command {
  const program = new Command('rxt')
    .description('The command line of RXT Deploy: sign in, describe what to run, deploy it and follow it.')
    .version(version, '-V, --version')
    .option('--json', 'print one JSON document on standard output (what scripts read)')
    .showHelpAfterError('(rxt --help lists the commands)')
    // Every command inherits it: a usage error throws (exit 2) instead of exiting with commander's 1.
    .exitOverride()
    .addHelpText(
      'after',
      '\nEnvironment: RXT_URL (default http://127.0.0.1:8080), RXT_TOKEN or RXT_API_KEY (CI), RXT_ORG, RXT_PROJECT.\nExit codes: 0 ok, 1 failed, 2 usage, 3 not signed in or not allowed, 4 not found, 5 invalid input, 6 server unreachable or failing, 130 interrupted while following a deployment (it goes on).',
    )

  program
    .command('login')
    .description(
      'sign in with an email and password (the password on standard input or a prompt), or an API key',
    )
    .option('--email <email>', 'the account')
    .option('--password-stdin', 'read the password from standard input')
    .option('--api-key', 'sign in with an API key (read from standard input or a prompt)')
    .option('--url <url>', 'the server (default: RXT_URL, then the stored one)')
    .action(lazy(commands.auth, 'login'))
  program.command('logout').description('end the sign-in and forget it').action(lazy(commands.auth, 'logout'))
  program
    .command('whoami')
    .description('who the server takes you to be, and where')
    .action(lazy(commands.auth, 'whoami'))

  const orgs = program.command('orgs').description('your organisations')
  orgs.command('list', { isDefault: true }).description('list them').action(lazy(commands.orgs, 'list'))
  orgs
    .command('create')
    .argument('<name>')
    .description('create one (you own it)')
    .action(lazy(commands.orgs, 'create'))
  orgs
    .command('use')
    .argument('<id|name>')
    .description('act in this organisation from now on')
    .action(lazy(commands.orgs, 'use'))

  const projects = program.command('projects').description("the organisation's projects")
  projects
    .command('list', { isDefault: true })
    .description('list them')
    .action(lazy(commands.projects, 'list'))
  projects
    .command('create')
    .argument('<slug>')
    .description('create one')
    .option('--name <name>', 'its name (default: the slug)')
    .option('--repository <owner/name>', 'its GitHub repository')
    .option('--deploy-branch <branch...>', 'the branches whose CI runs deploy')
    .option('--ci-workflow <file>', 'the workflow that builds the image (default build.yml)')
    .option('--ci-image <repository>', 'where that workflow pushes <image>:<commit>')
    .option('--show-webhook-secret', 'print the webhook secret (shown this once)')
    .action(lazy(commands.projects, 'create'))
  projects
    .command('use')
    .argument('<id|slug>')
    .description('the project commands act on from now on')
    .action(lazy(commands.projects, 'use'))

  const envs = program.command('envs').description("a project's environments")
  envs
    .command('list', { isDefault: true })
    .description('list them')
    .addOption(projectOption())
    .action(lazy(commands.projects, 'listEnvs'))
  envs
    .command('create')
    .argument('<name>')
    .description('add one')
    .addOption(projectOption())
    .addOption(
      new Option('--type <type>', 'its type')
        .choices(['preview', 'development', 'staging', 'production'])
        .makeOptionMandatory(),
    )
    .option('--promotion-order <n>', 'its place in the promotion order', integer(0))
    .action(lazy(commands.projects, 'createEnv'))

  const manifest = program.command('manifest').description('deploy.yaml')
  manifest
    .command('validate')
    .argument('<file>')
    .description('check a deploy.yaml (problems as file:line:column: path: message)')
    .action(lazy(commands.manifest, 'validate'))
  manifest
    .command('push')
    .argument('<file>')
    .description("record a deploy.yaml in the project's (or an environment's) history")
    .addOption(projectOption())
    .addOption(new Option('-e, --env <name>', 'the environment it is for (default: the project)'))
    .option('--commit <sha>', 'the commit it comes from')
    .action(lazy(commands.manifest, 'push'))

  program
    .command('deploy')
    .description('deploy an image to an environment and follow it to its end')
    .addOption(projectOption())
    .addOption(envOption())
    .option(
      '-i, --image <ref>',
      'the image (registry/repository:tag[@sha256:…]; default: what the environment runs)',
    )
    .option('--commit <sha>', 'the commit it was built from')
    .option('--idempotency-key <key>', 'the same key is the same deployment (a retried CI job)')
    .option('-d, --detach', 'print the deployment id and exit')
    .action(lazy(commands.deploy, 'deploy'))
  program
    .command('deployments')
    .description("an environment's deployments, newest first")
    .addOption(projectOption())
    .addOption(envOption())
    .option('--limit <n>', 'how many (1–100)', integer(1, 100), 20)
    .action(lazy(commands.deploy, 'deployments'))
  program
    .command('status')
    .argument('[deployment]', "a deployment id (default: the environment's newest)")
    .description('a deployment with its steps, failure and URLs')
    .addOption(projectOption())
    .addOption(envOption())
    .action(lazy(commands.deploy, 'status'))
  program
    .command('rollback')
    .argument(
      '[deployment]',
      "the deployment to go back to (default: the one before the environment's current)",
    )
    .description('deploy an earlier deployment again and follow it')
    .addOption(projectOption())
    .addOption(envOption())
    .option('-d, --detach', 'print the deployment id and exit')
    .action(lazy(commands.deploy, 'rollback'))
  program
    .command('promote')
    .description('deploy what is healthy in one environment to another and follow it')
    .addOption(projectOption())
    .requiredOption('--from <env>', 'where it runs healthy')
    .requiredOption('--to <env>', 'where it goes')
    .option('-d, --detach', 'print the deployment id and exit')
    .action(lazy(commands.deploy, 'promote'))
  program
    .command('cancel')
    .argument('<deployment>')
    .description('cancel a deployment: what it did is undone')
    .action(lazy(commands.deploy, 'cancel'))
  program
    .command('explain')
    .description("why the environment's last deploy runs where it does (the placement decision)")
    .addOption(projectOption())
    .addOption(envOption())
    .action(lazy(commands.explain, 'explain'))

  const secrets = program.command('secrets').description("a project's secrets (values are never shown)")
  secrets
    .command('set')
    .argument('<name>', 'what deploy.yaml names it by (secret://<name>)')
    .description('store a secret; its value on standard input or a prompt')
    .addOption(projectOption())
    .addOption(new Option('-e, --env <id|name>', "one environment's secret (default: the project's)"))
    .option('--redeploy-on-rotation', 'a rotation redeploys the environments using it')
    .action(lazy(commands.secrets, 'set'))
  secrets
    .command('list', { isDefault: true })
    .description('list them')
    .addOption(projectOption())
    .addOption(new Option('-e, --env <id|name>', "one environment's"))
    .action(lazy(commands.secrets, 'list'))
  secrets
    .command('rotate')
    .argument('<name|id>')
    .description('a new value as the current version; on standard input or a prompt')
    .addOption(projectOption())
    .addOption(new Option('-e, --env <id|name>', "one environment's secret (default: the project's)"))
    .action(lazy(commands.secrets, 'rotate'))

  const webhook = program.command('webhook').description("the project's GitHub webhook")
  webhook
    .command('show', { isDefault: true })
    .description('its URL and whether a delivery proved it')
    .addOption(projectOption())
    .action(lazy(commands.webhook, 'show'))
  webhook
    .command('rotate')
    .description('a new secret (the old one stops at once)')
    .addOption(projectOption())
    .option('--show-secret', 'print the new secret (shown this once)')
    .action(lazy(commands.webhook, 'rotate'))

  program
    .command('audit')
    .description("the organisation's audit trail, newest first")
    .option('--limit <n>', 'how many (1–500)', integer(1, 500), 50)
    .option('--action <action>', 'only this action')
    .option('--actor <actor>', 'only this actor (user:<id>, api-key:<id>)')
    .option('--object <object>', 'only this object')
    .option('--since <time>', 'from this time (ISO 8601)')
    .action(lazy(commands.audit, 'audit'))

  program
    .command('completion')
    .addArgument(new Argument('<shell>', 'bash, zsh or fish').choices(['bash', 'zsh', 'fish']))
    .description('print a shell completion script (e.g. rxt completion bash > /etc/bash_completion.d/rxt)')
    .action(async (shell: string) => {
      const { completionScript } = await import('./completion.ts')
      process.stdout.write(completionScript(program, shell))
    })
  return program
}
