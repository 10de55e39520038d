import type { ProviderSettings } from '@rxt/contracts'

/** What the operator sets for the cluster the adapter drives. */
export interface ClusterSettings {
  /** The IngressClass Ingresses name. */
  readonly ingressClass: string
  /** The namespace the ingress controller runs in: its pods may reach the environments. */
  readonly ingressNamespace: string
  /** Hostnames are given under it when a network spec names none. */
  readonly baseDomain: string
  /** The cert-manager ClusterIssuer certificates are asked of. */
  readonly clusterIssuer: string
  /** Requests a second each client address may make through the ingress controller. */
  readonly rateLimitRps: number
}

/** What the adapter creates when the provider.yaml sets nothing: the shipped rxt-spot.yaml's values. */
export const defaultClusterSettings: ClusterSettings = {
  baseDomain: 'rxt-spot.internal',
  ingressClass: 'nginx',
  ingressNamespace: 'ingress-nginx',
  clusterIssuer: 'letsencrypt',
  rateLimitRps: 50,
}

/** The cluster settings a plan carries (its provider's `spec.settings`), each missing one at its default. */
export const clusterSettingsOf = (settings: ProviderSettings): ClusterSettings => ({
  baseDomain: settings.baseDomain ?? defaultClusterSettings.baseDomain,
  ingressClass: settings.ingressClass ?? defaultClusterSettings.ingressClass,
  ingressNamespace: settings.ingressNamespace ?? defaultClusterSettings.ingressNamespace,
  clusterIssuer: settings.clusterIssuer ?? defaultClusterSettings.clusterIssuer,
  rateLimitRps: settings.rateLimitRps ?? defaultClusterSettings.rateLimitRps,
})
