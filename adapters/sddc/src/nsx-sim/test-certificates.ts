import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export interface TestCertificates {
  /** A CA, and a certificate it signed for 127.0.0.1 (the simulation's HTTPS). */
  readonly ca: string
  readonly server: { readonly key: string; readonly cert: string }
  /** A self-signed certificate and its key, as a tenant imports for a virtual server. */
  readonly site: { readonly key: string; readonly cert: string }
}

/** Fresh keys and certificates made with openssl, for tests (each run its own; nothing is kept). */
export function makeTestCertificates(): TestCertificates {
  const dir = mkdtempSync(join(tmpdir(), 'rxt-nsx-pki-'))
  const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' })
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes']
  try {
    openssl(
      'req',
      '-x509',
      ...ec,
      '-keyout',
      'ca.key',
      '-out',
      'ca.crt',
      '-days',
      '2',
      '-subj',
      '/CN=rxt test CA',
    )
    openssl('req', ...ec, '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=127.0.0.1')
    writeFileSync(join(dir, 'server.ext'), 'subjectAltName=IP:127.0.0.1\n')
    openssl(
      'x509',
      '-req',
      '-in',
      'server.csr',
      '-CA',
      'ca.crt',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-out',
      'server.crt',
      '-days',
      '2',
      '-extfile',
      'server.ext',
    )
    openssl(
      'req',
      '-x509',
      ...ec,
      '-keyout',
      'site.key',
      '-out',
      'site.crt',
      '-days',
      '2',
      '-subj',
      '/CN=shop.test',
    )
    const read = (name: string) => readFileSync(join(dir, name), 'utf8')
    return {
      ca: read('ca.crt'),
      server: { key: read('server.key'), cert: read('server.crt') },
      site: { key: read('site.key'), cert: read('site.crt') },
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}
