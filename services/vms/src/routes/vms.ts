import { type HttpApp, Permission, principalOf, tenantOf } from '@rxt/kit'
import Type from 'typebox'
import { maxBuckets, maxSpanDays, maxStepSeconds, minStepSeconds } from '../domain/range.ts'
import type { Vms } from '../service.ts'
import { errors, IdOf, Nullable, PowerStateSchema, Time, tags, VmParams } from './schemas.ts'

const Spec = Type.Object({
  cpu: Type.Integer({ description: 'vCPUs' }),
  memoryMiB: Type.Integer(),
  diskGiB: Type.Integer(),
  guestOs: Type.String(),
})
const LastMigration = Type.Object({
  fromHost: Type.String(),
  toHost: Type.String(),
  startedAt: Time,
  completedAt: Time,
})
const Vm = Type.Object({
  vmId: Type.String(),
  name: Nullable(Type.String(), 'The VM name, once the adapter named it (evt.sddc.vm.created)'),
  envId: Nullable(Type.String(), 'The environment it serves, or null outside any deployment'),
  deploymentId: Nullable(Type.String(), 'The deployment that created it, when known'),
  host: Nullable(Type.String(), 'The ESXi host it runs on (or was placed on)'),
  powerState: PowerStateSchema,
  spec: Nullable(Spec, 'vCPUs, memory, disk and guest OS; null until evt.vm.created arrived'),
  ipAddresses: Type.Array(Type.String(), {
    description: 'Guest addresses VMware Tools reported; [] if unknown',
  }),
  tags: Type.Array(Type.String(), { description: 'vSphere tags, when the adapter read them' }),
  createdAt: Nullable(Time),
  startedAt: Nullable(Time, 'When it last powered on'),
  stoppedAt: Nullable(Time, 'When it last powered off'),
  stopReason: Nullable(Type.String(), 'Why it last stopped'),
  lastMigration: Nullable(LastMigration),
  lastEventAt: Type.String({ format: 'date-time', description: 'When the latest lifecycle event happened' }),
})
const HistoryItem = Type.Object({
  messageId: Type.String({ description: 'The envelope id: each message is kept once' }),
  type: Type.String(),
  occurredAt: Type.String({
    format: 'date-time',
    description: "When it happened: the payload's own time where it has one, else the envelope's",
  }),
  publishedAt: Time,
  data: Type.Record(Type.String(), Type.Unknown()),
})
const Point = Type.Object({
  at: Type.String({ format: 'date-time', description: 'The start of the bucket' }),
  avg: Type.Number(),
  max: Type.Number(),
  sum: Type.Number(),
  samples: Type.Integer({ description: 'Samples in the bucket' }),
})
const Series = Type.Object({
  name: Type.String({
    description:
      'cpu, memory, disk (percent), diskReadBytes, diskWriteBytes, networkRxBytes, networkTxBytes (bytes per sample)',
  }),
  unit: Type.Union([Type.Literal('percent'), Type.Literal('bytes')]),
  points: Type.Array(Point, { description: 'Buckets with samples only, oldest first' }),
})
const Migration = Type.Object({
  id: Type.String({ description: 'The migration request' }),
  vmId: Type.String(),
  fromHost: Nullable(Type.String()),
  toHost: Type.String(),
  status: Type.Union([Type.Literal('requested'), Type.Literal('completed'), Type.Literal('failed')]),
  requestedBy: Type.String(),
  requestedAt: Time,
  finishedAt: Nullable(Time),
  reason: Nullable(Type.String(), 'Why it failed'),
  retryable: Nullable(Type.Boolean(), 'Whether asking again may succeed (a failure)'),
})

/** /v1/vms: the organisation's VMs, their history and metrics, migrations; and the operators' rebuild. */
export const vmRoutes = (vms: Vms) => (app: HttpApp) => {
  const reads = { auth: { permission: Permission.deploymentsRead } } as const
  const writes = { auth: { permission: Permission.deploymentsWrite } } as const

  app.get(
    '/vms',
    {
      config: reads,
      schema: {
        tags,
        summary: "The organisation's VMs, by id; `next` is the cursor of the following page",
        querystring: Type.Object(
          {
            envId: Type.Optional(IdOf('Only VMs of this environment')),
            powerState: Type.Optional(PowerStateSchema),
            host: Type.Optional(IdOf('Only VMs on this ESXi host')),
            cursor: Type.Optional(IdOf('The `next` of a page')),
            limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 50 })),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({
            items: Type.Array(Vm),
            next: Nullable(Type.String(), 'The cursor of the next page, or null on the last'),
          }),
          ...errors,
        },
      },
    },
    async (request) => {
      const { cursor, limit = 50, ...filter } = request.query
      return vms.list(tenantOf(request), filter, { ...(cursor === undefined ? {} : { cursor }), limit })
    },
  )
  app.get(
    '/vms/:vmId',
    {
      config: reads,
      schema: {
        tags,
        summary: 'A VM: spec, power state, host, addresses, environment, deployment, tags, last migration',
        params: VmParams,
        response: { 200: Vm, ...errors },
      },
    },
    async (request) => vms.get(tenantOf(request), request.params.vmId),
  )
  app.get(
    '/vms/:vmId/history',
    {
      config: reads,
      schema: {
        tags,
        summary: "A VM's lifecycle events, each once, in the order its state is folded from them",
        params: VmParams,
        response: { 200: Type.Object({ items: Type.Array(HistoryItem) }), ...errors },
      },
    },
    async (request) => vms.history(tenantOf(request), request.params.vmId),
  )
  app.get(
    '/vms/:vmId/metrics',
    {
      config: reads,
      schema: {
        tags,
        summary: "A VM's CPU, memory, disk and network series over [from, to), rolled up per step",
        description: `Samples whose window ends in [from, to), in buckets of \`step\` aligned to the epoch: avg, max and sum per bucket. At most ${maxSpanDays} days per request; step between ${minStepSeconds} s and ${maxStepSeconds} s (seconds, or 5m, 1h, 1d; default: the finest of 1m, 5m, 15m, 1h, 6h, 1d giving at most 300 buckets), at most ${maxBuckets} buckets.`,
        params: VmParams,
        querystring: Type.Object(
          {
            from: Type.Optional(Type.String({ format: 'date-time', description: 'Required: the start' })),
            to: Type.Optional(
              Type.String({ format: 'date-time', description: 'Required: the end (excluded)' }),
            ),
            step: Type.Optional(
              Type.String({
                minLength: 1,
                maxLength: 12,
                description: 'Bucket size: seconds, or 30s, 5m, 1h, 1d',
              }),
            ),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({
            vmId: Type.String(),
            from: Type.Optional(Type.String({ format: 'date-time', description: 'Required: the start' })),
            to: Type.Optional(
              Type.String({ format: 'date-time', description: 'Required: the end (excluded)' }),
            ),
            stepSeconds: Type.Integer(),
            series: Type.Array(Series),
          }),
          ...errors,
        },
      },
    },
    async (request) => vms.metrics(tenantOf(request), request.params.vmId, request.query),
  )
  app.post(
    '/vms/:vmId/migrate',
    {
      config: writes,
      schema: {
        tags,
        summary:
          'Move a VM to another ESXi host (vMotion): 202 and a migration request, done when the VM runs there (GET its migration)',
        params: VmParams,
        body: Type.Object(
          { toHost: IdOf('The ESXi host to move it to, e.g. host-21') },
          { additionalProperties: false },
        ),
        response: { 202: Migration, ...errors },
      },
    },
    async (request, reply) => {
      const migration = await vms.migrate(
        principalOf(request),
        tenantOf(request),
        request.params.vmId,
        request.body.toHost,
      )
      return reply
        .code(202)
        .header('location', `/v1/vms/${encodeURIComponent(migration.vmId)}/migrations/${migration.id}`)
        .send(migration)
    },
  )
  app.get(
    '/vms/:vmId/migrations/:migrationId',
    {
      config: reads,
      schema: {
        tags,
        summary: 'A migration request: requested, completed (the VM runs on toHost) or failed (why)',
        params: Type.Object({
          vmId: VmParams.properties.vmId,
          migrationId: Type.String({ minLength: 1, maxLength: 64 }),
        }),
        response: { 200: Migration, ...errors },
      },
    },
    async (request) => vms.migration(tenantOf(request), request.params.vmId, request.params.migrationId),
  )
  app.post(
    '/admin/vms/rebuild',
    {
      config: { auth: { operator: true } },
      schema: {
        tags,
        summary:
          "Rebuild every organisation's VM projection from the stored history (operators): what a changed fold needs",
        response: {
          200: Type.Object({ tenants: Type.Integer(), vms: Type.Integer() }),
          ...errors,
        },
      },
    },
    async () => vms.rebuildAll(),
  )
}
