import { execFileSync } from 'node:child_process'
import { describe, expect, it } from 'vitest'
import { completionScript, completionTree } from './completion.ts'
import { CliError } from './exit-codes.ts'
import { createProgram } from './program.ts'

/** What bash completes after `words` (the last one being typed), with the generated script loaded. */
const bashCompletes = (script: string, words: string[]) =>
  execFileSync(
    'bash',
    [
      '-c',
      `${script}\nCOMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _rxt_complete; printf '%s\\n' "\${COMPREPLY[@]}"`,
    ],
    { encoding: 'utf8' },
  )
    .split('\n')
    .filter((l) => l !== '')

describe('shell completion', () => {
  const program = createProgram('0.0.0')

  it('has a node for every command of the tree, with its options', () => {
    const paths = completionTree(program).map((n) => n.path.join(' '))
    for (const path of ['', 'deploy', 'manifest validate', 'secrets rotate', 'webhook rotate', 'promote'])
      expect(paths).toContain(path)
    const deploy = completionTree(program).find((n) => n.path.join(' ') === 'deploy')
    expect(deploy?.options.map((o) => o.flag)).toEqual(
      expect.arrayContaining(['--env', '--image', '--detach', '--json']),
    )
  })

  it('completes commands, subcommands and options in bash', () => {
    const script = completionScript(program, 'bash')
    expect(bashCompletes(script, ['rxt', 'ma'])).toEqual(['manifest'])
    expect(bashCompletes(script, ['rxt', 'manifest', ''])).toEqual(['validate', 'push', '--json', '--help'])
    expect(bashCompletes(script, ['rxt', 'deploy', '--env', 'staging', '--im'])).toEqual(['--image'])
  })

  it('writes zsh (through bashcompinit) and fish scripts, and refuses another shell', () => {
    expect(completionScript(program, 'zsh')).toMatch(/^#compdef rxt\nautoload -U \+X bashcompinit/)
    const fish = completionScript(program, 'fish')
    expect(fish).toContain("complete -c rxt -n '__fish_use_subcommand' -a deploy")
    expect(fish).toContain("complete -c rxt -n '__fish_seen_subcommand_from deploy' -l image")
    expect(() => completionScript(program, 'tcsh')).toThrow(CliError)
  })
})
