import { createHmac } from 'node:crypto'
import Type from 'typebox'

/**
 * The key webhook secrets are derived from: the registry shows a project's secret, and vcs checks
 * GitHub's signature with it, without the secret being stored or sent anywhere (ADR 0010).
 */
export const WebhookKeyField = Type.Optional(
  Type.String({
    minLength: 43,
    maxLength: 128,
    pattern: '^[A-Za-z0-9_-]+$',
    description:
      'The key every project webhook secret is derived from (base64url, at least 32 random bytes), the same in every process that runs registry or vcs. A secret: no default; `rxt-deploy up` keeps one in RXT_DATA_DIR/webhook.key when it is unset. Changing it changes every webhook secret.',
  }),
)

/** A project's webhook secret at a generation (a rotation is the next generation). */
export function webhookSecret(key: string, projectId: string, generation: number): string {
  return createHmac('sha256', Buffer.from(key, 'base64url'))
    .update(`rxt-deploy webhook ${projectId} ${generation}`)
    .digest('base64url')
}
