import { dictionary } from '@zxcvbn-ts/language-common'

/**
 * What a new password must be, after NIST SP 800-63B-4 §3.1.1.2 (passwords as the only factor): long
 * enough, counted in characters after Unicode normalisation (NFKC); not on a list of common or breached
 * passwords, nor the account's or the service's own names; and nothing else — no composition rules
 * (no required digit, case or symbol), spaces and every script allowed.
 */
export const passwordLength = { min: 15, max: 256 } as const

/** The form a password is hashed and compared in: the same text typed on any keyboard is one password. */
export const normalisePassword = (password: string): string => password.normalize('NFKC')

/** The account's own words, which a password may not be (nor be made of). */
export interface PasswordContext {
  readonly email: string
  readonly name?: string
  readonly orgName?: string
}

/** The service's own name, which nobody's password may be. */
const serviceNames = ['rxt deploy', 'rxt-deploy', 'rxtdeploy']

/** ~49,000 passwords found most often in breaches (zxcvbn-ts's list), folded as candidates are. */
let common: ReadonlySet<string> | undefined
const commonPasswords = (): ReadonlySet<string> => {
  common ??= new Set(dictionary['passwords-common'].map(fold))
  return common
}

/** Lower case, no white space: "Pass Word" and "password" are one password to guess. */
function fold(text: string): string {
  return normalisePassword(text).toLowerCase().replace(/\s+/gu, '')
}
/** Letters and digits only, for comparing with names and addresses. */
const lettersAndDigits = (text: string): string => fold(text).replace(/[^\p{L}\p{N}]+/gu, '')
/** Without the digits and symbols put around a word to make it long enough ("Password123!"). */
const core = (text: string): string => text.replace(/^[\p{N}\p{P}\p{S}]+|[\p{N}\p{P}\p{S}]+$/gu, '')
/** The unit a text repeats ("abcabcabc" → "abc"), or undefined. */
const repeatedUnit = (text: string): string | undefined => /^(.+?)\1+$/su.exec(text)?.[1]

/** Every step between neighbours the same +1 or -1 (digits wrap: …8 9 0 1…): "123456…", "zyxw…". */
function isSequence(text: string): boolean {
  const points = [...text].map((c) => c.codePointAt(0) as number)
  if (points.length < 4) return false
  const step = (a: number, b: number) => {
    if (a === 0x39 && b === 0x30) return 1 // 9 → 0
    if (a === 0x30 && b === 0x39) return -1 // 0 → 9
    return b - a
  }
  const first = step(points[0] as number, points[1] as number)
  if (first !== 1 && first !== -1) return false
  return points.every((p, i) => i === 0 || step(points[i - 1] as number, p) === first)
}

/**
 * What is wrong with a password someone chooses, as messages a person can act on; empty when it is
 * fine. Signing in checks none of this: a password chosen under an older rule still signs in.
 */
export function passwordProblems(password: string, context: PasswordContext): string[] {
  const problems: string[] = []
  const normalised = normalisePassword(password)
  const length = [...normalised].length
  if (/\p{Cc}/u.test(normalised)) problems.push('a password may not contain control characters')
  if (length < passwordLength.min) {
    problems.push(
      `a password has at least ${passwordLength.min} characters (this one has ${length}, counted after Unicode normalisation): a few words with spaces make a good one`,
    )
  }
  if (length > passwordLength.max) {
    problems.push(`a password has at most ${passwordLength.max} characters (this one has ${length})`)
  }
  if (length > 0 && /^\s+$/u.test(normalised)) problems.push('a password may not be only spaces')
  const folded = fold(password)
  if (folded === '') return problems

  const unit = repeatedUnit(folded)
  if (unit !== undefined && [...unit].length <= 4) {
    problems.push('a password may not be one character or a short sequence repeated')
  }
  if (isSequence(folded)) problems.push('a password may not be a sequence such as 123456… or abcdef…')

  const own = [
    context.email,
    context.email.split('@')[0] ?? '',
    context.name ?? '',
    context.orgName ?? '',
    ...serviceNames,
  ]
    .map(lettersAndDigits)
    .filter((word) => word.length >= 3)
  const asWords = lettersAndDigits(password)
  const wordUnit = repeatedUnit(asWords)
  const ownCandidates = [
    asWords,
    core(asWords),
    ...(wordUnit === undefined ? [] : [wordUnit, core(wordUnit)]),
  ]
  if (ownCandidates.some((candidate) => own.includes(candidate))) {
    problems.push(
      "a password may not be your email, your name, your organisation's name or this service's name",
    )
  }

  const candidates = [folded, core(folded), ...(unit === undefined ? [] : [unit, core(unit)])]
  if (candidates.some((candidate) => candidate !== '' && commonPasswords().has(candidate))) {
    problems.push(
      'this password is one of the most common ones (perhaps with digits or symbols around it, or repeated): attackers try those first; choose a passphrase of a few unrelated words',
    )
  }
  return problems
}
