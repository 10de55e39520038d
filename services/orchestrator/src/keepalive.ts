// A Server-Sent Events stream that is quiet for long (a deploy waiting on a rollout) still sends a
// comment every so often: a proxy's idle timeout (the gateway's is 30 s) never cuts it, and the client
// ignores what starts with a colon.

/** The comment an open event stream sends every `intervalMs` (15 s unless told). */
export const keepaliveComment = ': keepalive\n\n'

export const keepaliveIntervalMs = 15_000

/** Writes the keepalive comment every `intervalMs` until the returned function is called. */
export function startKeepalive(write: (text: string) => void, intervalMs = keepaliveIntervalMs): () => void {
  const timer = setInterval(() => write(keepaliveComment), intervalMs)
  timer.unref()
  return () => clearInterval(timer)
}
