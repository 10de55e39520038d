import { PolicyAdmitMessage } from '@rxt/contracts'
import { defineContext, on, perContext, tenantOfMessage } from '@rxt/kit'
import Type from 'typebox'
import { policyRoutes } from './routes.ts'
import { createPolicy, type PolicyConfig } from './service.ts'

/** One policy service per context database: routes, handler, job and start share it. */
const policyOf = perContext(createPolicy)

/** Policy (OPA): admission by Rego compiled to WebAssembly, evaluated in-process; bundles; break-glass. */
export const policy = defineContext<PolicyConfig>({
  name: 'policy',
  description:
    'Admission of placed deployments by OPA policies (WebAssembly, in-process), versioned bundles, stored decisions, break-glass overrides',
  config: Type.Object({
    POLICY_DEFAULT_PLAN: Type.String({
      default: 'standard',
      pattern: '^[a-z0-9][a-z0-9-]*$',
      description:
        "The plan every organisation's quotas are those of (identity keeps no plan per organisation yet); a key of the bundle's data.plans",
    }),
    POLICY_BUNDLE_POLL_MS: Type.Integer({
      default: 2000,
      minimum: 100,
      description:
        'How often each process checks which policy bundle is active (an activation reaches it by then)',
    }),
  }),
  migrations: new URL('../migrations/', import.meta.url),
  routes: (app, deps) => policyRoutes(policyOf(deps))(app),
  handlers: (deps) => [
    // The envelope's tenant is the one decided for (and whose overrides apply), whatever the payload says.
    on(PolicyAdmitMessage, { id: 'admit' }, (data, ctx, message) =>
      policyOf(deps).admit(ctx, { ...data, tenantId: tenantOfMessage(message) }),
    ),
  ],
  jobs: (deps) => [
    {
      name: 'policy-bundle-poll',
      everyMs: deps.config.POLICY_BUNDLE_POLL_MS,
      run: () => policyOf(deps).bundles.refresh(),
    },
  ],
  ready: async (deps) => {
    const revision = await policyOf(deps).start()
    deps.log.info(
      { shipped: revision, active: policyOf(deps).bundles.active().revision },
      'policy bundles ready',
    )
  },
})
export { createPolicy, type Policy, type PolicyConfig } from './service.ts'
