import { randomBytes } from 'node:crypto'

/** A PKI mount of its own on the run's Vault, with a root CA and a role that issues for any name. */
export async function preparePki(addr: string, token: string): Promise<{ mount: string; role: string }> {
  const mount = `pki-${randomBytes(4).toString('hex')}`
  const vault = async (path: string, body: unknown) => {
    const response = await fetch(`${addr}/v1/${path}`, {
      method: 'POST',
      headers: { 'x-vault-token': token, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    })
    if (!response.ok) throw new Error(`vault ${path}: ${response.status} ${await response.text()}`)
  }
  await vault(`sys/mounts/${mount}`, { type: 'pki', config: { max_lease_ttl: '8760h' } })
  await vault(`${mount}/root/generate/internal`, { common_name: 'rxt test root', ttl: '8760h' })
  await vault(`${mount}/roles/rxt-deploy`, {
    allow_any_name: true,
    enforce_hostnames: true,
    max_ttl: '2160h',
  })
  return { mount, role: 'rxt-deploy' }
}
