// How the identity context's secrets look on the wire: `<prefix>_<id without dashes>_<secret>`.
export const apiKeyPrefix = 'rxtk'
export const refreshPrefix = 'rxtr'
export const invitePrefix = 'rxti'
export const servicePrefix = 'rxts'
export const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

/** `<prefix>_<id without dashes>_<secret>`: the id finds the row, the secret proves possession. */
export const compose = (prefix: string, id: string, secret: string) =>
  `${prefix}_${id.replaceAll('-', '')}_${secret}`
export function parse(prefix: string, value: string): { id: string; secret: string } | undefined {
  const m = new RegExp(`^${prefix}_([0-9a-f]{32})_([A-Za-z0-9_-]{43})$`).exec(value)
  if (m === null) return undefined
  const h = m[1] as string
  return {
    id: `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`,
    secret: m[2] as string,
  }
}
