import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { createClient } from './client.ts'
import { configPath, defaultUrl, readConfig, settingsOf, updateConfig, writeConfig } from './config.ts'
import { createRunContext } from './context.ts'

describe('the config file', () => {
  const dirs: string[] = []
  afterEach(async () => {
    for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true })
  })
  const fresh = async () => {
    const dir = await mkdtemp(join(tmpdir(), 'rxt-config-'))
    dirs.push(dir)
    return dir
  }

  it('lives under XDG_CONFIG_HOME, else ~/.config', () => {
    expect(configPath({ XDG_CONFIG_HOME: '/x/conf', HOME: '/home/ada' })).toBe('/x/conf/rxt/config.json')
    expect(configPath({ HOME: '/home/ada' })).toBe('/home/ada/.config/rxt/config.json')
    expect(configPath({ XDG_CONFIG_HOME: '', HOME: '/home/ada' })).toBe('/home/ada/.config/rxt/config.json')
  })

  it('is written 0600 in a 0700 directory whatever the umask, and over a looser file', async () => {
    const path = join(await fresh(), 'rxt', 'config.json')
    const umask = process.umask(0o000)
    try {
      await writeConfig(path, { accessToken: 'a' })
      await writeFile(path, '{}', { mode: 0o644 })
      await writeConfig(path, { accessToken: 'b', refreshToken: 'c' })
    } finally {
      process.umask(umask)
    }
    expect((await stat(path)).mode & 0o777).toBe(0o600)
    expect((await stat(join(path, '..'))).mode & 0o777).toBe(0o700)
    expect(JSON.parse(await readFile(path, 'utf8'))).toEqual({ accessToken: 'b', refreshToken: 'c' })
  })

  it('leaves no temporary file beside it', async () => {
    const dir = await fresh()
    const path = join(dir, 'config.json')
    await writeConfig(path, { accessToken: 'a' })
    await updateConfig(path, { org: 'o' })
    expect(await readdir(dir)).toEqual(['config.json'])
  })

  it('is called corrupt without repeating what it holds, and rxt login and logout replace it', async () => {
    const dir = await fresh()
    const path = join(dir, 'rxt', 'config.json')
    await writeConfig(path, {})
    await writeFile(path, '{"accessToken": "secret-token-text"')
    const failure = readConfig(path)
    await expect(failure).rejects.toThrow(
      `${path} is not valid JSON: fix or delete it (rxt login writes a new one)`,
    )
    await expect(failure).rejects.not.toThrow(/secret-token-text/)
    const env = { XDG_CONFIG_HOME: dir }
    await expect(createRunContext({ json: false }, env)).rejects.toThrow(/is not valid JSON/)
    const recovering = await createRunContext({ json: false, recover: true }, env)
    await recovering.saveConfig({ url: 'https://rxt.example', accessToken: 'a' })
    expect(await readConfig(path)).toEqual({ url: 'https://rxt.example', accessToken: 'a' })
  })

  it('reads as empty when there is none', async () => {
    expect(await readConfig(join(await fresh(), 'absent.json'))).toEqual({})
  })
})

describe('the settings of a run', () => {
  it("send the file's sign-in only to the server that issued it", () => {
    const stored = { url: 'https://rxt.acme.example', accessToken: 'at', refreshToken: 'rt', org: 'o' }
    const elsewhere = settingsOf(stored, { RXT_URL: 'https://evil.example' })
    expect(elsewhere.url).toBe('https://evil.example')
    expect(elsewhere.credentials).toBeUndefined()
    expect(elsewhere.credentialsFromFile).toBe(false)
    expect(elsewhere.signedInElsewhere).toBe('https://rxt.acme.example')
    expect(settingsOf({ ...stored, apiKey: 'k' }, { RXT_URL: 'https://evil.example' }).credentials).toBe(
      undefined,
    )
    expect(settingsOf(stored, { RXT_URL: 'https://rxt.acme.example/' }).credentials).toEqual({
      kind: 'token',
      accessToken: 'at',
      refreshToken: 'rt',
    })
    // A sign-in stored without a server was the default one's.
    expect(settingsOf({ accessToken: 'at' }, { RXT_URL: 'https://evil.example' }).credentials).toBe(undefined)
  })

  it('say which server the sign-in is for when another refuses the request', async () => {
    const seen: (string | null)[] = []
    const client = createClient({
      url: 'https://evil.example',
      credentials: undefined,
      org: undefined,
      signedInElsewhere: 'https://rxt.acme.example',
      fetch: async (_url, init) => {
        seen.push(new Headers(init?.headers).get('authorization'))
        return new Response(JSON.stringify({ status: 401, detail: 'no credentials' }), { status: 401 })
      },
    })
    const refused = client.request('GET', '/v1/auth/whoami')
    await expect(refused).rejects.toMatchObject({
      message: 'no credentials',
      exitCode: 3,
      details: [
        'not signed in to https://evil.example: rxt login (the stored sign-in is for https://rxt.acme.example)',
      ],
    })
    expect(seen).toEqual([null])
  })

  it('defaults the server to the local one', () => {
    expect(settingsOf({}, {})).toEqual({
      url: defaultUrl,
      credentials: undefined,
      credentialsFromFile: false,
      org: undefined,
      project: undefined,
    })
  })

  it("take the file's sign-in, refreshable", () => {
    const settings = settingsOf(
      { url: 'https://rxt.acme.example/', accessToken: 'at', refreshToken: 'rt', org: 'o', project: 'p' },
      {},
    )
    expect(settings).toEqual({
      url: 'https://rxt.acme.example',
      credentials: { kind: 'token', accessToken: 'at', refreshToken: 'rt' },
      credentialsFromFile: true,
      org: 'o',
      project: 'p',
    })
  })

  it("let the environment win: RXT_URL, RXT_TOKEN over RXT_API_KEY over the file's, RXT_ORG, RXT_PROJECT", () => {
    const stored = {
      url: 'https://file.example',
      accessToken: 'at',
      refreshToken: 'rt',
      org: 'o',
      project: 'p',
    }
    const env = { RXT_URL: 'https://env.example', RXT_API_KEY: 'key', RXT_ORG: 'o2', RXT_PROJECT: 'p2' }
    expect(settingsOf(stored, env)).toEqual({
      url: 'https://env.example',
      credentials: { kind: 'api-key', apiKey: 'key' },
      credentialsFromFile: false,
      org: 'o2',
      project: 'p2',
    })
    expect(settingsOf(stored, { ...env, RXT_TOKEN: 'tok' }).credentials).toEqual({
      kind: 'token',
      accessToken: 'tok',
    })
  })
})
