import Type from 'typebox'
import { InputError } from '../errors.ts'
import type { HttpApp } from '../http/app.ts'
import { problemResponse } from '../http/problem.ts'
import type { Bus } from './bus.ts'

const DeadLetter = Type.Object(
  {
    id: Type.String({ format: 'uuid' }),
    context: Type.String(),
    consumer: Type.String(),
    messageId: Type.Union([Type.String(), Type.Null()]),
    type: Type.String(),
    envelope: Type.Unknown({ description: 'The message as it was delivered' }),
    error: Type.String({ description: 'The last error: why the consumer gave up' }),
    deliveries: Type.Integer(),
    deadAt: Type.String({ format: 'date-time' }),
    replayedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
    replays: Type.Integer(),
    discardedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()], {
      description: 'When an operator gave up on it (it no longer holds its key)',
    }),
  },
  { $id: 'DeadLetter' },
)

const ConsumerStatus = Type.Object(
  {
    consumer: Type.String(),
    context: Type.String(),
    types: Type.Array(Type.String()),
    lag: Type.Integer({ description: 'Messages not yet settled' }),
  },
  { $id: 'ConsumerStatus' },
)

const operatorsOnly = 'Platform operators only.'
/** Every route here is the platform operator's. */
const operator = { auth: { operator: true } } as const

/** The operator's view of the bus: dead letters (list, replay) and consumers (lag, replay). */
export function registerBusAdminRoutes(app: HttpApp, bus: Bus): void {
  app.addSchema(DeadLetter)
  app.addSchema(ConsumerStatus)
  const tags = ['admin']

  app.get(
    '/admin/dead-letters',
    {
      config: operator,
      schema: {
        tags,
        summary: 'Messages consumers gave up on, newest first',
        description: operatorsOnly,
        querystring: Type.Object({
          consumer: Type.Optional(Type.String({ minLength: 1 })),
          includeReplayed: Type.Optional(Type.Boolean({ default: false })),
          limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })),
        }),
        response: { 200: Type.Object({ items: Type.Array(Type.Ref('DeadLetter')) }) },
      },
    },
    async (request) => ({ items: await bus.deadLetters(request.query) }),
  )

  app.post(
    '/admin/dead-letters/:id/replay',
    {
      config: operator,
      schema: {
        tags,
        summary: 'Handle a dead letter again',
        description: `Runs the consumer's handler on the message once more (effectively once: in a transaction with its inbox row). 409 with the new error when it fails again. ${operatorsOnly}`,
        params: Type.Object({ id: Type.String({ format: 'uuid' }) }),
        response: {
          200: Type.Ref('DeadLetter'),
          404: problemResponse('No such dead letter'),
          409: problemResponse('The message failed again or is still invalid'),
        },
      },
    },
    async (request) => bus.replayDeadLetter(request.params.id),
  )

  app.post(
    '/admin/dead-letters/:id/discard',
    {
      config: operator,
      schema: {
        tags,
        summary: 'Give up on a dead letter',
        description: `It is not handled; a key its handler held goes on with its next message. 409 when it was already replayed or discarded. ${operatorsOnly}`,
        params: Type.Object({ id: Type.String({ format: 'uuid' }) }),
        response: {
          200: Type.Ref('DeadLetter'),
          404: problemResponse('No such dead letter'),
          409: problemResponse('It was already replayed or discarded'),
        },
      },
    },
    async (request) => bus.discardDeadLetter(request.params.id),
  )

  app.get(
    '/admin/consumers',
    {
      config: operator,
      schema: {
        tags,
        summary: 'The consumers running in this process, with their lag',
        description: operatorsOnly,
        response: { 200: Type.Object({ items: Type.Array(Type.Ref('ConsumerStatus')) }) },
      },
    },
    async () => ({ items: await bus.consumers() }),
  )

  app.post(
    '/admin/consumers/:name/replay',
    {
      config: operator,
      schema: {
        tags,
        summary: 'Rewind a consumer to a sequence number or a time',
        description: `Every matching message from there on is handled again, including those handled before. Give exactly one of fromSeq and fromTime. ${operatorsOnly}`,
        params: Type.Object({ name: Type.String({ minLength: 1 }) }),
        body: Type.Object(
          {
            fromSeq: Type.Optional(Type.Integer({ minimum: 1 })),
            fromTime: Type.Optional(Type.String({ format: 'date-time' })),
          },
          { additionalProperties: false },
        ),
        response: {
          202: Type.Object({ consumer: Type.String(), status: Type.Literal('replaying') }),
          400: problemResponse('Neither or both of fromSeq and fromTime'),
          401: problemResponse('Not authenticated'),
          403: problemResponse('Not a platform operator'),
          404: problemResponse('No such consumer in this process'),
        },
      },
    },
    async (request, reply) => {
      const { fromSeq, fromTime } = request.body
      if ((fromSeq === undefined) === (fromTime === undefined)) {
        throw new InputError('give exactly one of fromSeq and fromTime', [
          { path: '/body', message: 'exactly one of fromSeq, fromTime' },
        ])
      }
      await bus.replay(
        request.params.name,
        fromSeq !== undefined ? { seq: fromSeq } : { time: new Date(fromTime as string) },
      )
      return reply.code(202).send({ consumer: request.params.name, status: 'replaying' as const })
    },
  )
}
