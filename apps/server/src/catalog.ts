import { sddc } from '@rxt/adapter-sddc'
import { sim } from '@rxt/adapter-sim'
import { spot } from '@rxt/adapter-spot'
import { audit } from '@rxt/audit'
import { consoleContext } from '@rxt/console'
import { gateway } from '@rxt/gateway'
import { identity } from '@rxt/identity'
import type { ContextDefinition } from '@rxt/kit'
import { orchestrator } from '@rxt/orchestrator'
import { placement } from '@rxt/placement'
import { policy } from '@rxt/policy'
import { registry } from '@rxt/registry'
import { router } from '@rxt/router'
import { secrets } from '@rxt/secrets'
import { system } from '@rxt/system'
import { vcs } from '@rxt/vcs'
import { vms } from '@rxt/vms'

/** Every context this build can run, in start order. A new context is one line here. */
// biome-ignore lint/suspicious/noExplicitAny: contexts type their own config
export const catalog: readonly ContextDefinition<any>[] = [
  identity,
  registry,
  vcs,
  sim,
  spot,
  sddc,
  router,
  placement,
  policy,
  secrets,
  orchestrator,
  vms,
  audit,
  system,
  consoleContext,
  gateway,
]
