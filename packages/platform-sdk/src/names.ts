import { createHash } from 'node:crypto'

/**
 * Names the platforms accept (Kubernetes, vSphere, NSX), derived deterministically: what the router
 * renders and what the adapters apply name things alike.
 */

/** The first 8 hex characters of the SHA-256 of a text: short, stable, and keeps derived names distinct. */
export function shortHash(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 8)
}

/** Shortens to `max` characters, ending in `-` and a hash of the whole so that different long texts stay different. */
function shorten(text: string, max: number, trim: RegExp): string {
  if (text.length <= max) return text
  return `${text.slice(0, max - 9).replace(trim, '')}-${shortHash(text)}`
}

/** Lower-case letters, digits and single `-`, neither first nor last. */
const clean = (text: string): string =>
  text
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/-+/g, '-')
    .replace(/^-+|-+$/g, '')

/**
 * A DNS label (RFC 1123): lower-case letters, digits and `-`, at most `max` characters (63 at most
 * for a label; a shorter `max` leaves room for a suffix).
 */
export function dnsLabel(text: string, max = 63): string {
  const cleaned = clean(text)
  return shorten(cleaned === '' ? 'rxt' : cleaned, max, /-+$/)
}

/** A Kubernetes label value: letters, digits, `._-`, at most 63, starting and ending alphanumeric. */
export function labelValue(text: string): string {
  const cleaned = text.replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^[^A-Za-z0-9]+|[^A-Za-z0-9]+$/g, '')
  return shorten(cleaned, 63, /[^A-Za-z0-9]+$/)
}

/** A name derived from another, still a DNS label: `named('shop', 'tls')` → `shop-tls`. */
export const named = (base: string, suffix: string): string => dnsLabel(`${base}-${suffix}`)

/**
 * The name a plan gives an environment (`ProvisionRequest.name`): `<app>-<environment>` as a DNS label
 * short enough to leave room for {@link platformName}'s suffix.
 */
export const environmentName = (app: string, environment: string): string =>
  dnsLabel(`${app}-${environment}`, 63 - 9)

/**
 * The platform name of one tenant's environment (the namespace, the VM folder, and the prefix of NSX
 * names): its name, `-` and the first 8 hex of sha256(`<tenantId>/<envId>`), so two tenants (or
 * environments) never share it. A DNS label ≤ 63.
 */
export function platformName(request: { name: string; tenantId: string; envId: string }): string {
  return `${dnsLabel(request.name, 63 - 9)}-${shortHash(`${request.tenantId}/${request.envId}`)}`
}

/** What manages every object RXT Deploy creates (`app.kubernetes.io/managed-by`). */
export const managedBy = 'rxt-deploy'

const prefix = 'deploy.rxt.dev'

/** The labels on platform objects: who manages them, the app, and whose they are. */
export const Label = {
  managedBy: 'app.kubernetes.io/managed-by',
  name: 'app.kubernetes.io/name',
  tenant: `${prefix}/tenant`,
  project: `${prefix}/project`,
  environment: `${prefix}/environment`,
} as const

/** The annotations adapters keep on platform objects: exact ids, and what a revision was made from. */
export const Annotation = {
  tenantId: `${prefix}/tenant-id`,
  projectId: `${prefix}/project-id`,
  envId: `${prefix}/env-id`,
  revision: `${prefix}/revision`,
  requestDigest: `${prefix}/request-digest`,
  image: `${prefix}/image`,
  /** The deploy request (without its key) a pod template was rendered from: what a rollback deploys again. */
  request: `${prefix}/request`,
} as const

/** The ownership labels of an environment's objects: managed by RXT Deploy, and whose. */
export const ownerLabels = (request: { tenantId: string; projectId: string; envId: string }) => ({
  [Label.managedBy]: managedBy,
  [Label.tenant]: labelValue(request.tenantId),
  [Label.project]: labelValue(request.projectId),
  [Label.environment]: labelValue(request.envId),
})

/** A DNS-1035 label, as Service names must be: a DNS label that starts with a letter (`2048-game` → `app-2048-game`). */
export function serviceName(text: string): string {
  const label = dnsLabel(text)
  return /^[a-z]/.test(label) ? label : dnsLabel(`app-${label}`)
}

/** The longest StatefulSet (and Deployment) name: longer ones break the controller-revision-hash label. */
export const maxWorkloadNameLength = 52

/** The name of the Deployment or StatefulSet: a DNS label of at most 52 characters. */
export const workloadName = (app: string): string => dnsLabel(app, maxWorkloadNameLength)

/** The longest container port name Kubernetes accepts (IANA_SVC_NAME). */
export const maxPortNameLength = 15

/**
 * A container port name Kubernetes accepts (≤ 15 characters, `[a-z0-9-]` with at least one letter,
 * no `-` first, last or twice in a row) for a deploy.yaml port name: the name itself when it
 * already is one; else its first characters, `-` and a hash of the whole name, so two ports stay apart.
 */
export function portName(name: string): string {
  const valid = /^[a-z0-9](-?[a-z0-9])*$/.test(name) && /[a-z]/.test(name)
  if (valid && name.length <= maxPortNameLength) return name
  const cleaned = clean(name)
  const room = maxPortNameLength - 9
  const head = (/[a-z]/.test(cleaned.slice(0, room)) ? cleaned : `p${cleaned}`).slice(0, room)
  return `${head.replace(/-+$/, '')}-${shortHash(name)}`
}

/**
 * The Kubernetes Secret a `secret://` reference is materialised in: `rxt-secret-<path>`, then `-` and
 * the first 8 hex of sha256(ref), so `secret://a/b`, `secret://a.b` and `secret://a-b` stay apart.
 * A DNS subdomain (here without dots) of at most 253 characters.
 */
export function secretName(ref: string): string {
  return `${dnsLabel(`rxt-secret-${ref.replace(/^secret:\/\//, '')}`, 253 - 9)}-${shortHash(ref)}`
}

/**
 * The Kubernetes Secret a `secret://` reference is materialised in (by the secrets context, never
 * here; named by {@link secretName}), and its key: the object refers to it, so no value appears in
 * what the router produces.
 */
export function secretKeyRef(ref: string): { name: string; key: string } {
  return { name: secretName(ref), key: 'value' }
}
