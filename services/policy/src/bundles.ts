import { readFile } from 'node:fs/promises'
import {
  type ContextBus,
  type ContextDb,
  InputError,
  type Logger,
  NotFoundError,
  UnavailableError,
} from '@rxt/kit'
import {
  BundleProblem,
  type Evaluator,
  loadBundle,
  maxBundleBytes,
  readBundle,
  revisionOf,
} from './domain/bundle.ts'
import { shippedBundleFile } from './shipped.ts'

/** A bundle as the API lists it. */
export interface BundleView {
  readonly revision: string
  readonly size: number
  readonly entrypoints: readonly string[]
  readonly shipped: boolean
  readonly uploadedBy: string
  readonly uploadedAt: string
  readonly active: boolean
}

type BundleRow = {
  revision: string
  size: number
  entrypoints: string[]
  shipped: boolean
  uploaded_by: string
  uploaded_at: Date | string
  active: boolean
}

const viewOf = (row: BundleRow): BundleView => ({
  revision: row.revision,
  size: row.size,
  entrypoints: row.entrypoints,
  shipped: row.shipped,
  uploadedBy: row.uploaded_by,
  uploadedAt: new Date(row.uploaded_at).toISOString(),
  active: row.active,
})

const listed = `SELECT b.revision, b.size, b.entrypoints, b.shipped, b.uploaded_by, b.uploaded_at,
  (a.revision IS NOT NULL) AS active
  FROM bundles b LEFT JOIN active_bundle a ON a.revision = b.revision`

/**
 * The policy bundles: the shipped one (the default), operators' uploads kept by digest, and the one
 * active, which this process evaluates with. Every process re-reads the active revision on a short
 * poll (and at once after its own activation), so an activation reaches every replica without a restart.
 */
export function createBundles(deps: { db: ContextDb; bus: ContextBus; log: Logger }) {
  const { db, bus, log } = deps
  let current: Evaluator | undefined
  /** Loads in turn: a refresh asked during another runs after it, and sees what is stored by then. */
  let queue: Promise<void> = Promise.resolve()

  const load = async (revision: string): Promise<Evaluator> => {
    const { rows } = await db.query<{ archive: Uint8Array }>(
      'SELECT archive FROM bundles WHERE revision = $1',
      [revision],
    )
    const archive = rows[0]?.archive
    if (archive === undefined)
      throw new UnavailableError(`the active policy bundle ${revision} is not stored`)
    return loadBundle(new Uint8Array(archive))
  }

  /** Loads the active bundle when it is not the one in use. */
  const reload = async (): Promise<void> => {
    const { rows } = await db.query<{ revision: string }>('SELECT revision FROM active_bundle')
    const revision = rows[0]?.revision
    if (revision === undefined || revision === current?.revision) return
    const previous = current?.revision
    current = await load(revision)
    log.info({ revision, previous }, 'policy bundle loaded')
  }
  const refresh = (): Promise<void> => {
    const next = queue.then(reload)
    queue = next.catch(() => undefined)
    return next
  }

  return {
    refresh,

    /**
     * The release's bundle stored, and active unless an operator activated another: a new release's
     * bundle replaces the previous release's as the default, never an operator's choice.
     */
    async ensureShipped(): Promise<string> {
      const archive = new Uint8Array(await readFile(shippedBundleFile))
      const revision = revisionOf(archive)
      const { entrypoints } = readBundle(archive)
      await db.transaction(async (tx) => {
        await tx.query(
          `INSERT INTO bundles (revision, archive, size, entrypoints, shipped, uploaded_by)
           VALUES ($1, $2, $3, $4, true, 'shipped') ON CONFLICT (revision) DO NOTHING`,
          [revision, archive, archive.length, JSON.stringify(entrypoints)],
        )
        await tx.query(
          `INSERT INTO active_bundle (revision, shipped_default, activated_by) VALUES ($1, true, 'shipped')
           ON CONFLICT (one) DO UPDATE SET revision = excluded.revision, activated_at = now()
           WHERE active_bundle.shipped_default AND active_bundle.revision <> excluded.revision`,
          [revision],
        )
      })
      await refresh()
      return revision
    },

    /** The bundle deciding now in this process. */
    active(): Evaluator {
      if (current === undefined)
        throw new UnavailableError('no policy bundle is loaded yet', { retryable: true })
      return current
    },

    async list(): Promise<BundleView[]> {
      const { rows } = await db.query<BundleRow>(`${listed} ORDER BY b.uploaded_at DESC, b.revision`)
      return rows.map(viewOf)
    },

    /** An operator's upload: kept by its digest once it loads and answers the decision entrypoint. */
    async upload(actor: string, archive: Uint8Array): Promise<{ bundle: BundleView; created: boolean }> {
      if (archive.length === 0) throw new InputError('the body is empty: send the tar.gz opa build wrote')
      if (archive.length > maxBundleBytes)
        throw new InputError(`the bundle is over ${maxBundleBytes} bytes`, [], { unprocessable: true })
      let evaluator: Evaluator
      let entrypoints: readonly string[]
      try {
        entrypoints = readBundle(archive).entrypoints
        evaluator = await loadBundle(archive)
      } catch (error) {
        if (error instanceof BundleProblem)
          throw new InputError(
            `the bundle does not load: ${error.message}`,
            [{ path: '', message: error.message }],
            {
              unprocessable: true,
            },
          )
        throw error
      }
      const { rowCount } = await db.query(
        `INSERT INTO bundles (revision, archive, size, entrypoints, uploaded_by)
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (revision) DO NOTHING`,
        [evaluator.revision, archive, archive.length, JSON.stringify(entrypoints), actor],
      )
      const { rows } = await db.query<BundleRow>(`${listed} WHERE b.revision = $1`, [evaluator.revision])
      const row = rows[0]
      if (row === undefined) throw new UnavailableError('the bundle vanished as it was stored')
      return { bundle: viewOf(row), created: rowCount === 1 }
    },

    /** Makes a stored bundle the one every process decides with, from its next poll (this one at once). */
    async activate(actor: string, revision: string): Promise<BundleView> {
      const view = await db.transaction(async (tx) => {
        const { rows } = await tx.query<BundleRow>(`${listed} WHERE b.revision = $1`, [revision])
        const row = rows[0]
        if (row === undefined) throw new NotFoundError(`no policy bundle ${revision}`)
        const before = await tx.query<{ revision: string }>('SELECT revision FROM active_bundle FOR UPDATE')
        const previous = before.rows[0]?.revision ?? null
        await tx.query(
          `INSERT INTO active_bundle (revision, shipped_default, activated_by) VALUES ($1, false, $2)
           ON CONFLICT (one) DO UPDATE SET revision = excluded.revision, shipped_default = false,
             activated_by = excluded.activated_by, activated_at = now()`,
          [revision, actor],
        )
        await bus.publish(tx, {
          type: 'evt.policy.bundle.activated',
          tenantId: null,
          key: 'policy-bundle',
          data: { revision, previous, activatedBy: actor },
        })
        return viewOf({ ...row, active: true })
      })
      await refresh()
      return view
    },
  }
}
export type Bundles = ReturnType<typeof createBundles>
