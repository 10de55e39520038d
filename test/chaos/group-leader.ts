// Runs a program (a peer binary such as nats-server) as the child of a Node process that a test starts
// with `spawnRxt` (apps/server/test/process.ts): that process leads a process group of its own, has the
// orphan guard preloaded, and the program stays in its group, so the program ends with the group however
// the test ends (the test ending its children, its worker ending, or its worker killed outright).
import { spawn } from 'node:child_process'

const [command, ...args] = process.argv.slice(2)
if (command === undefined) throw new Error('usage: group-leader.ts <command> [args…]')
const child = spawn(command, args, { stdio: 'inherit' })
child.once('exit', (code, signal) => process.exit(code ?? (signal === null ? 1 : 128)))
for (const signal of ['SIGTERM', 'SIGINT'] as const) process.on(signal, () => child.kill(signal))
