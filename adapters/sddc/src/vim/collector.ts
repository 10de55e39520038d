// The property collector: reading properties of many objects in one call (RetrievePropertiesEx, paged
// with ContinueRetrievePropertiesEx), and waiting on changes (WaitForUpdatesEx) instead of polling — a
// task's end, a VM's power state and host.
import { setTimeout as sleep } from 'node:timers/promises'
import { type VimClient, VimError } from './client.ts'
import { asList, type Decoded, field, Ref, refOf, text, typed, type VimValue } from './xml.ts'

/** The `xsi:type` of a decoded object (a fault's, an event's class). */
export const typeOf = (value: Decoded | undefined): string | undefined =>
  value !== undefined && typeof value === 'object' && !(value instanceof Ref) && !Array.isArray(value)
    ? value._type
    : undefined

/** An object and the properties read of it, by path (`runtime.powerState`). */
export interface ObjectProps {
  readonly ref: Ref
  readonly props: Readonly<Record<string, Decoded>>
}

const propsOf = (objects: Decoded | undefined): ObjectProps[] =>
  asList(objects).flatMap((o) => {
    const obj = refOf(field(o, 'obj'))
    if (obj === undefined) return []
    const props: Record<string, Decoded> = {}
    for (const p of asList(field(o, 'propSet'))) props[text(field(p, 'name'))] = field(p, 'val') ?? ''
    return [{ ref: obj, props }]
  })

/** The properties `paths` of `objects` (all of `type`), in one call per page. A missing object is left out. */
export async function retrieve(
  client: VimClient,
  type: string,
  objects: readonly Ref[],
  paths: readonly string[],
): Promise<ObjectProps[]> {
  if (objects.length === 0) return []
  try {
    return await retrieveBySpec(client, {
      propSet: [{ type, all: false, pathSet: [...paths] }],
      objectSet: objects.map((obj) => ({ obj, skip: false })),
    })
  } catch (error) {
    if (!(error instanceof VimError && error.fault === 'ManagedObjectNotFound')) throw error
    // One of them is gone: the others are read one by one.
    if (objects.length === 1) return []
    return (await Promise.all(objects.map((obj) => retrieve(client, type, [obj], paths)))).flat()
  }
}

/** The properties `paths` of every object of `type` under `container` (a folder, a cluster…), through a container view. */
export async function retrieveUnder(
  client: VimClient,
  container: Ref,
  type: string,
  paths: readonly string[],
): Promise<ObjectProps[]> {
  const { viewManager } = await client.content()
  const view = refOf(
    await client.call('CreateContainerView', viewManager, { container, type: [type], recursive: true }),
  )
  if (view === undefined) throw new VimError('unavailable', 'CreateContainerView answered no view')
  try {
    return await retrieveBySpec(client, {
      propSet: [{ type, all: false, pathSet: [...paths] }],
      objectSet: [
        {
          obj: view,
          skip: true,
          selectSet: [
            typed('TraversalSpec', { name: 'view', type: 'ContainerView', path: 'view', skip: false }),
          ],
        },
      ],
    })
  } finally {
    await client.call('DestroyView', view).catch(() => undefined)
  }
}

async function retrieveBySpec(client: VimClient, spec: Record<string, VimValue>): Promise<ObjectProps[]> {
  const { propertyCollector } = await client.content()
  let page = await client.call('RetrievePropertiesEx', propertyCollector, { specSet: [spec], options: {} })
  const found = propsOf(field(page, 'objects'))
  for (let token = text(field(page, 'token')); token !== ''; token = text(field(page, 'token'))) {
    page = await client.call('ContinueRetrievePropertiesEx', propertyCollector, { token })
    found.push(...propsOf(field(page, 'objects')))
  }
  return found
}

/** One change of a property an update reported: its path, `assign`/`modify`/`remove`…, and its value. */
export interface Change {
  readonly obj: Ref
  readonly kind: string
  readonly name: string
  readonly op: string
  readonly val: Decoded | undefined
}

/**
 * A property collector of its own (so that concurrent waits do not take each other's updates) with one
 * filter: `waitForUpdates` long-polls it (WaitForUpdatesEx), answering each batch of changes.
 */
export async function openWatch(
  client: VimClient,
  type: string,
  objects: readonly Ref[],
  paths: readonly string[],
  selectSet?: VimValue,
): Promise<{ next(maxWaitSeconds: number): Promise<Change[] | undefined>; close(): Promise<void> }> {
  const { propertyCollector } = await client.content()
  const collector = refOf(await client.call('CreatePropertyCollector', propertyCollector))
  if (collector === undefined)
    throw new VimError('unavailable', 'CreatePropertyCollector answered no collector')
  try {
    await client.call('CreateFilter', collector, {
      spec: {
        propSet: [{ type, all: false, pathSet: [...paths] }],
        objectSet: objects.map((obj) => ({ obj, skip: selectSet !== undefined, selectSet })),
      },
      partialUpdates: false,
    })
  } catch (error) {
    await client.call('DestroyPropertyCollector', collector).catch(() => undefined)
    throw error
  }
  let version = ''
  return {
    /** The changes since the last call; undefined when none came within `maxWaitSeconds`. */
    async next(maxWaitSeconds) {
      const update = await client.call('WaitForUpdatesEx', collector, {
        version,
        options: { maxWaitSeconds: Math.max(0, Math.round(maxWaitSeconds)) },
      })
      if (update === undefined || update === '') return undefined
      version = text(field(update, 'version'))
      return asList(field(update, 'filterSet')).flatMap((filter) =>
        asList(field(filter, 'objectSet')).flatMap((o) => {
          const obj = refOf(field(o, 'obj'))
          if (obj === undefined) return []
          const kind = text(field(o, 'kind'))
          const changes = asList(field(o, 'changeSet'))
          if (changes.length === 0) return [{ obj, kind, name: '', op: kind, val: undefined }]
          return changes.map((c) => ({
            obj,
            kind,
            name: text(field(c, 'name')),
            op: text(field(c, 'op')),
            val: field(c, 'val'),
          }))
        }),
      )
    },
    async close() {
      await client.call('DestroyPropertyCollector', collector).catch(() => undefined)
    },
  }
}

/**
 * Waits for a task to end, through the property collector; answers its result (the clone's VM…), or
 * throws its fault as VimError, or a `timeout` VimError past `deadlineMs` (the task may still finish).
 */
export async function awaitTask(
  client: VimClient,
  task: Ref,
  deadlineMs: number,
): Promise<Decoded | undefined> {
  const end = Date.now() + deadlineMs
  const watch = await openWatch(client, 'Task', [task], ['info.state', 'info.error', 'info.result'])
  try {
    const info: Record<string, Decoded | undefined> = {}
    for (;;) {
      const left = end - Date.now()
      if (left <= 0)
        throw new VimError('timeout', `the task ${task.value} did not end within ${deadlineMs} ms`)
      // Each wait is held at most 20 s: well inside a call's own timeout (60 s by default), however
      // long the task runs.
      const changes = await watch.next(Math.min(20, Math.ceil(left / 1000)))
      for (const change of changes ?? []) info[change.name] = change.val
      const state = text(info['info.state'])
      if (state === 'success') return info['info.result']
      if (state === 'error') {
        const error = info['info.error']
        const fault = field(error, 'fault')
        const name = typeOf(fault) ?? 'TaskFault'
        const message = text(field(error, 'localizedMessage'))
        throw new VimError('fault', `${name}${message === '' ? '' : `: ${message}`}`, name, undefined)
      }
      // vcsim answers at once when nothing changed and maxWaitSeconds ran out.
      if (changes === undefined) await sleep(250)
    }
  } finally {
    await watch.close()
  }
}
