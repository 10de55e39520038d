import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { normalisePassword, passwordProblems } from './password-policy.ts'

const account = { email: 'ada.lovelace@example.com', name: 'Ada Lovelace', orgName: 'Analytical Engines' }
const problemsOf = (password: string) => passwordProblems(password, account)

describe('the password rules (NIST SP 800-63B-4)', () => {
  it('counts characters after Unicode normalisation, from 15 to 256', () => {
    expect(problemsOf('fourteen chars')).toEqual([expect.stringContaining('at least 15 characters')])
    expect(problemsOf('fifteen letters')).toEqual([])
    // 16 code points, 8 characters: e followed by a combining acute accent is é.
    expect(problemsOf('e\u0301'.repeat(8)).join()).toContain('this one has 8')
    // One code point that is two characters once normalised (the ligature ﬃ is ffi): 5 × 3 = 15.
    expect(problemsOf('ﬃ'.repeat(5)).join()).not.toContain('at least')
    const words = Array.from({ length: 60 }, (_, i) => `word${i}`).join(' ')
    expect(problemsOf(words.slice(0, 256))).toEqual([])
    expect(problemsOf(words.slice(0, 257))).toEqual([expect.stringContaining('at most 256 characters')])
    expect(problemsOf('q'.repeat(257)).join()).toContain('at most 256 characters')
  })

  it('allows spaces, any script and no particular composition, but not only spaces or control characters', () => {
    for (const fine of [
      'all lower case words',
      'ALL UPPER CASE WORDS',
      'Ωραίο καλοκαίρι στη θάλασσα',
      '長い日本語のパスフレーズです十五文字',
      '  leading and trailing spaces  ',
    ]) {
      expect(problemsOf(fine), fine).toEqual([])
    }
    expect(problemsOf(' '.repeat(20))).toContain('a password may not be only spaces')
    expect(problemsOf('\u00a0\u2003\u3000'.repeat(7))).toContain('a password may not be only spaces')
    expect(problemsOf('a long pass\u0000phrase')).toContain('a password may not contain control characters')
    expect(problemsOf('a long\tpassphrase here')).toContain('a password may not contain control characters')
  })

  it('refuses common and breached passwords, also dressed up with digits, symbols, case, spaces or repetition', () => {
    for (const common of [
      'password1234567890',
      'Password 1234567890!',
      'ｐａｓｓｗｏｒｄ１２３４５６７８',
      'qwertyuiop!!!!!!',
      '!!!!!!dragon!!!!!!',
      'passwordpassword',
      'Iloveyou Iloveyou',
    ]) {
      expect(problemsOf(common).join(), common).toContain('most common')
    }
  })

  it("refuses repetition, sequences, and the account's or the service's own names", () => {
    expect(problemsOf('zzzzzzzzzzzzzzzzzzzz').join()).toContain('repeated')
    expect(problemsOf('abcdabcdabcdabcd').join()).toContain('repeated')
    expect(problemsOf('123456789012345678').join()).toContain('sequence')
    expect(problemsOf('zyxwvutsrqponmlkji').join()).toContain('sequence')
    for (const own of [
      'ada.lovelace@example.com',
      'Ada Lovelace 1815-1852',
      'analytical engines!!',
      'AdaLovelaceAdaLovelace',
      'rxt-deploy 2024 2025',
    ]) {
      expect(problemsOf(own).join(), own).toContain('your email, your name')
    }
    // A word of the account inside a longer passphrase is fine: only the name itself is refused.
    expect(problemsOf('ada wrote the first program')).toEqual([])
  })

  it('gives every form of the same text the same answer (normalisation first)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 40 }), (text) => {
        expect(passwordProblems(text.normalize('NFD'), account)).toEqual(
          passwordProblems(text.normalize('NFC'), account),
        )
        expect(normalisePassword(text.normalize('NFD'))).toBe(normalisePassword(text.normalize('NFC')))
      }),
      { seed: 16, numRuns: 300 },
    )
  })

  it('refuses every password made only of white space, whatever its length', () => {
    const space = fc.constantFrom(' ', '\u00a0', '\u2002', '\u2003', '\u3000', '\u205f')
    fc.assert(
      fc.property(fc.array(space, { minLength: 1, maxLength: 300 }), (spaces) => {
        expect(problemsOf(spaces.join('')).length).toBeGreaterThan(0)
      }),
      { seed: 16, numRuns: 200 },
    )
  })
})
