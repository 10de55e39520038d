// A simulation of the NSX Policy API, not NSX: see nsx-simulator.ts and docs/adr/0029.
export {
  builtInPaths,
  type NsxSimulator,
  type NsxSimulatorOptions,
  type RecordedRequest,
  startNsxSimulator,
} from './nsx-simulator.ts'
