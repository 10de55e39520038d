import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { configPath, defaultUrl, readConfig, settingsOf, writeConfig } from './config.ts'

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

  it('reads as empty when there is none', async () => {
    expect(await readConfig(join(await fresh(), 'absent.json'))).toEqual({})
  })
})

describe('the settings of a run', () => {
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
