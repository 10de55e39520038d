import { AsyncResource } from 'node:async_hooks'

/** How a commit queue runs its batches. */
export interface CommitQueueOptions<I, O> {
  /**
   * Writes one batch, usually in one transaction, and resolves once it committed: one result per item,
   * in the items' order. An item's own failure that can be told apart (a duplicate key) belongs in its
   * result, not in a throw; a throw fails the batch, which is then run again one item at a time.
   */
  readonly run: (items: readonly I[]) => Promise<readonly O[]>
  /** The most items one batch takes (default 256); the rest wait for the next. */
  readonly maxBatch?: number
}

/** Group commit: work submitted while a batch is being written goes together in the next batch. */
export interface CommitQueue<I, O> {
  /** Queues `item`; resolves with its result once its batch committed, rejects with its own error. */
  submit(item: I): Promise<O>
  /** Resolves once nothing is queued or being written. */
  drain(): Promise<void>
}

interface Waiting<I, O> {
  readonly item: I
  readonly resolve: (value: O) => void
  readonly reject: (error: unknown) => void
}

/**
 * A commit queue (group commit): one batch is written at a time; what is submitted meanwhile waits and
 * goes in the next, so that many concurrent writes cost one transaction and one round trip per
 * statement. An idle queue starts its batch once the I/O that has already arrived was handled (on
 * `setImmediate`, no timer): what those callbacks submit goes in the same batch, which matters where
 * the database answers inside the event loop's turn (PGlite runs in this thread, so a transaction
 * may commit before any other request is read). A lone item waits for no timer. Each item is
 * answered only after its batch committed. A batch that fails is written again one item at a time, each
 * alone in its own `run`, so that the error reaches the item that caused it and the others commit.
 *
 * Batches run in the async context the queue was created in, not in that of whoever submitted first
 * (a request's scope, an open transaction): an item carries what it needs of its own.
 */
export function createCommitQueue<I, O>(options: CommitQueueOptions<I, O>): CommitQueue<I, O> {
  const maxBatch = options.maxBatch ?? 256
  if (!Number.isInteger(maxBatch) || maxBatch < 1) throw new Error('maxBatch must be a positive integer')
  const waiting: Waiting<I, O>[] = []
  let writing: Promise<void> | undefined

  const runChecked = async (items: readonly I[]): Promise<readonly O[]> => {
    const results = await options.run(items)
    if (results.length !== items.length)
      throw new Error(`a batch of ${items.length} gave ${results.length} results`)
    return results
  }

  const write = async (batch: readonly Waiting<I, O>[]): Promise<void> => {
    let results: readonly O[]
    try {
      results = await runChecked(batch.map((w) => w.item))
    } catch (error) {
      if (batch.length === 1) {
        batch[0]?.reject(error)
        return
      }
      // Which item failed it is not known: each alone, in its own batch.
      for (const one of batch) {
        try {
          const [result] = await runChecked([one.item])
          one.resolve(result as O)
        } catch (itsError) {
          one.reject(itsError)
        }
      }
      return
    }
    for (const [i, one] of batch.entries()) one.resolve(results[i] as O)
  }

  // The loop runs in the queue's own context (see above).
  const loop = AsyncResource.bind(async (): Promise<void> => {
    while (waiting.length > 0) await write(waiting.splice(0, maxBatch))
  })

  const start = () => {
    writing ??= new Promise((resolve) => setImmediate(resolve)).then(loop).finally(() => {
      writing = undefined
      // Submitted after the loop's last look: a batch of their own.
      if (waiting.length > 0) start()
    })
  }

  return {
    submit(item) {
      return new Promise<O>((resolve, reject) => {
        waiting.push({ item, resolve, reject })
        start()
      })
    },
    async drain() {
      while (writing !== undefined) await writing
    },
  }
}
