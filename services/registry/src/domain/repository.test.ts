import { describe, expect, it } from 'vitest'
import { repositoryName, repositoryUrl } from './repository.ts'

describe('a repository as written', () => {
  it.each([
    ['acme/shop', 'acme/shop'],
    ['Acme-Inc/shop.web', 'Acme-Inc/shop.web'],
    ['https://github.com/acme/shop', 'acme/shop'],
    ['https://github.com/acme/shop.git', 'acme/shop'],
    ['https://github.com/acme/shop/', 'acme/shop'],
    ['https://github.com/acme/shop.git/', 'acme/shop'],
    ['https://GITHUB.com/acme/shop', 'acme/shop'],
    ['https://github.com/acme/shop.web.git', 'acme/shop.web'],
  ])('%s is %s', (written, name) => {
    expect(repositoryName(written)).toBe(name)
  })

  it.each([
    'http://github.com/acme/shop',
    'https://gitlab.com/acme/shop',
    'https://github.com.evil.example/acme/shop',
    'https://github.com/acme',
    'https://github.com/acme/shop/tree/main',
    'https://github.com/acme/shop?tab=readme',
    'https://github.com/acme/shop#readme',
    'https://ada@github.com/acme/shop',
    'https://github.com:443/acme/shop',
    'git@github.com:acme/shop.git',
    'ssh://git@github.com/acme/shop.git',
    'github.com/acme/shop',
    'https://github.com/../shop',
    'acme/..',
    'acme',
    'acme/shop/extra',
    ' acme/shop',
    '',
  ])('%j names no GitHub repository', (written) => {
    expect(repositoryName(written)).toBeUndefined()
  })

  it('has the URL GitHub serves it at', () => {
    expect(repositoryUrl('acme/shop')).toBe('https://github.com/acme/shop')
  })
})
