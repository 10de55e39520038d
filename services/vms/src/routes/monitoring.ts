import { type HttpApp, Permission, principalOf, tenantOf } from '@rxt/kit'
import Type from 'typebox'
import { AlertMetric, RuleKind } from '../domain/alerts.ts'
import type { Vms } from '../service.ts'
import { errors, IdOf, Nullable, Time, tags } from './schemas.ts'

const Alert = Type.Object({
  id: Type.String(),
  ruleId: Type.String(),
  ruleName: Type.String(),
  kind: Type.Union([Type.Literal(RuleKind.threshold), Type.Literal(RuleKind.poweredOff)]),
  vmId: Type.String(),
  state: Type.Union([Type.Literal('firing'), Type.Literal('resolved')]),
  firstSeen: Type.String({ format: 'date-time', description: 'When the condition began to hold' }),
  resolvedAt: Nullable(Time),
  value: Nullable(Type.Number(), 'The metric when it fired (threshold rules)'),
  detail: Type.String(),
})
const Metric = Type.Union(
  [Type.Literal(AlertMetric.cpu), Type.Literal(AlertMetric.memory), Type.Literal(AlertMetric.disk)],
  { description: "The metric, a percentage of the VM's capacity" },
)
const Rule = Type.Object({
  id: Type.String(),
  name: Type.String(),
  kind: Type.Union([Type.Literal(RuleKind.threshold), Type.Literal(RuleKind.poweredOff)]),
  metric: Type.Optional(Metric),
  above: Type.Optional(Type.Number()),
  forSeconds: Type.Optional(Type.Integer()),
  envId: Nullable(Type.String(), "Only this environment's VMs; null: every VM of the organisation"),
  createdBy: Type.String(),
  createdAt: Time,
})

/** /v1/monitoring: the organisation's alerts and alert rules. */
export const monitoringRoutes = (vms: Vms) => (app: HttpApp) => {
  const reads = { auth: { permission: Permission.deploymentsRead } } as const
  const writes = { auth: { permission: Permission.deploymentsWrite } } as const

  app.get(
    '/monitoring/alerts',
    {
      config: reads,
      schema: {
        tags,
        summary: "The organisation's alerts, per VM and rule: firing, or resolved; newest first",
        querystring: Type.Object(
          {
            state: Type.Optional(Type.Union([Type.Literal('firing'), Type.Literal('resolved')])),
            vmId: Type.Optional(IdOf('Only this VM')),
            limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 100 })),
          },
          { additionalProperties: false },
        ),
        response: { 200: Type.Object({ items: Type.Array(Alert) }), ...errors },
      },
    },
    async (request) => {
      const { limit = 100, ...filter } = request.query
      return vms.alerts(tenantOf(request), filter, limit)
    },
  )
  app.get(
    '/monitoring/alert-rules',
    {
      config: reads,
      schema: {
        tags,
        summary: "The organisation's alert rules",
        response: { 200: Type.Object({ items: Type.Array(Rule) }), ...errors },
      },
    },
    async (request) => vms.rules(tenantOf(request)),
  )
  app.post(
    '/monitoring/alert-rules',
    {
      config: writes,
      schema: {
        tags,
        summary:
          'A rule of the organisation: `threshold` (metric above a level for forSeconds) or `powered-off` (a VM stopped for a reason RXT Deploy did not cause)',
        body: Type.Object(
          {
            name: Type.String({ minLength: 1, maxLength: 200 }),
            kind: Type.Union([Type.Literal(RuleKind.threshold), Type.Literal(RuleKind.poweredOff)]),
            metric: Type.Optional(Metric),
            above: Type.Optional(
              Type.Number({ minimum: 0, exclusiveMaximum: 100, description: 'The level, a percentage' }),
            ),
            forSeconds: Type.Optional(
              Type.Integer({ minimum: 60, maximum: 86_400, description: 'How long it must stay above' }),
            ),
            envId: Type.Optional(IdOf("Only this environment's VMs (default: every VM)")),
          },
          { additionalProperties: false },
        ),
        response: { 201: Rule, ...errors },
      },
    },
    async (request, reply) =>
      reply.code(201).send(await vms.createRule(principalOf(request), tenantOf(request), request.body)),
  )
  app.delete(
    '/monitoring/alert-rules/:ruleId',
    {
      config: writes,
      schema: {
        tags,
        summary: 'Delete an alert rule and its alerts',
        params: Type.Object({ ruleId: Type.String({ minLength: 1, maxLength: 64 }) }),
        response: { 204: Type.Null(), ...errors },
      },
    },
    async (request, reply) => {
      await vms.deleteRule(tenantOf(request), request.params.ruleId)
      return reply.code(204).send(null)
    },
  )
}
