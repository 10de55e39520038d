/**
 * Kubernetes-style quantities as deploy.yaml writes them (`500m`, `0.5`, `512Mi`, `2Gi`), read into
 * numbers the router computes with (prices, plans); adapters write them back as their platforms want.
 */

/** vCPUs per replica when deploy.yaml sets no `resources.cpu`: half a core, enough for a small service. */
export const defaultCpu = 0.5

/** MiB of memory per replica when deploy.yaml sets no `resources.memory`: 512 MiB. */
export const defaultMemoryMiB = 512

const cpuPattern = /^(?:([0-9]+)m|([0-9]+(?:\.[0-9]+)?))$/
const bytesPattern = /^([0-9]+)(Ki|Mi|Gi|Ti)$/
const mibPerUnit: Readonly<Record<string, number>> = { Ki: 1 / 1024, Mi: 1, Gi: 1024, Ti: 1024 * 1024 }

/** vCPUs in a CPU quantity: `500m` → 0.5, `2` → 2. Throws a RangeError on text deploy.yaml would refuse. */
export function parseCpu(text: string): number {
  const match = cpuPattern.exec(text.trim())
  if (!match) throw new RangeError(`"${text}" is not a CPU quantity such as 500m or 0.5`)
  const [, millis, cores] = match
  return millis !== undefined ? Number(millis) / 1000 : Number(cores)
}

/** MiB in a byte quantity: `512Mi` → 512, `2Gi` → 2048, `64Ki` → 0.0625. Throws a RangeError otherwise. */
export function parseBytesMiB(text: string): number {
  const match = bytesPattern.exec(text.trim())
  const factor = match?.[2] === undefined ? undefined : mibPerUnit[match[2]]
  if (!match || factor === undefined) {
    throw new RangeError(`"${text}" is not a size such as 512Mi or 2Gi`)
  }
  return Number(match[1]) * factor
}

/** MiB as GiB, for prices and disks quoted per GiB. */
export const mibToGiB = (mib: number): number => mib / 1024

/** A dollar amount as people read it: `$41.20`. */
export const formatUsd = (usd: number): string => `$${usd.toFixed(2)}`
