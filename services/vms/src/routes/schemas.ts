import { problemResponses } from '@rxt/kit'
import Type from 'typebox'
import { PowerState } from '../domain/projection.ts'

/** Schemas the vms routes share. */

export const tags = ['vms']
export const errors = problemResponses
export const Time = Type.String({ format: 'date-time' })
export const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(
  schema: T,
  description?: string,
) => Type.Union([schema, Type.Null()], description === undefined ? {} : { description })
export const IdOf = (description: string) =>
  Type.String({ minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9][A-Za-z0-9._:-]*$', description })
export const VmParams = Type.Object({ vmId: IdOf('The VM managed object id, e.g. vm-1042') })
export const PowerStateSchema = Type.Union(
  [Type.Literal(PowerState.unknown), Type.Literal(PowerState.on), Type.Literal(PowerState.off)],
  { description: '`on`, `off`, or `unknown` (no lifecycle event has said yet)' },
)
