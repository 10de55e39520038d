// npm run peers -- build [opa|vault|seaweedfs|govmomi] | up | down | status: the real peers the Kubernetes,
// policy, secrets and audit suites run against.
import { build, buildDir, buildGovmomi, buildOpa, buildSeaweedfs, buildVault, pins } from './build.ts'
import { down, isUp, kubeconfigPath, up } from './cluster.ts'
import { downVcsim, keptVcsimSettings, upVcsim } from './servers.ts'

const [command] = process.argv.slice(2)
switch (command) {
  case 'build': {
    const only = process.argv[3]
    if (only === 'opa') {
      const opa = buildOpa()
      process.stdout.write(`${opa.built ? 'built' : 'reusing'} opa ${pins.opa}: ${opa.path}\n`)
      break
    }
    if (only === 'govmomi') {
      const govmomi = buildGovmomi()
      process.stdout.write(
        `${govmomi.built ? 'built' : 'reusing'} vcsim and govc ${pins.govmomi}: ${govmomi.path}\n`,
      )
      break
    }
    if (only === 'vault' || only === 'seaweedfs') {
      const peer = only === 'vault' ? buildVault() : buildSeaweedfs()
      process.stdout.write(
        `${peer.built ? `built in ${peer.seconds} s` : 'reusing'} ${only} ${pins[only]}: ${peer.path}\n`,
      )
      break
    }
    const result = build()
    process.stdout.write(
      result.built
        ? `built ${JSON.stringify(pins)} in ${result.seconds} s into ${result.dir}\n`
        : `reusing ${result.dir} (pins unchanged)\n`,
    )
    break
  }
  case 'up': {
    build()
    process.stdout.write(`cluster up; kubeconfig: ${await up()}\n`)
    process.stdout.write(`vcsim up on 127.0.0.1:8989; SDDC_* settings: ${await upVcsim()}\n`)
    break
  }
  case 'down':
    await down()
    await downVcsim()
    process.stdout.write('cluster and vcsim down\n')
    break
  case 'status':
    process.stdout.write(
      `${isUp() ? `up; kubeconfig: ${kubeconfigPath}` : 'down'}; vcsim settings: ${keptVcsimSettings}; peers in ${buildDir}\n`,
    )
    break
  default:
    process.stderr.write('usage: npm run peers -- build [opa|vault|seaweedfs|govmomi] | up | down | status\n')
    process.exit(2)
}
