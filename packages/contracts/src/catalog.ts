import { createCatalog, type MessageCatalog, type MessageContract } from './envelope.ts'
import { accessContracts } from './messages/access.ts'
import { deployContracts } from './messages/deploy.ts'
import { operationsContracts } from './messages/operations.ts'
import { placementContracts } from './messages/placement.ts'
import { policyContracts } from './messages/policy.ts'
import { provisioningContracts } from './messages/provisioning.ts'
import { routingContracts } from './messages/routing.ts'
import { sddcContracts } from './messages/sddc.ts'
import { sourceContracts } from './messages/source.ts'
import { spotContracts } from './messages/spot.ts'
import { vmContracts } from './messages/vm.ts'

/** Every message the platform speaks, in the order the docs list them. */
export const contracts: readonly MessageContract[] = [
  ...deployContracts,
  ...placementContracts,
  ...policyContracts,
  ...provisioningContracts,
  ...routingContracts,
  ...spotContracts,
  ...sddcContracts,
  ...vmContracts,
  ...sourceContracts,
  ...accessContracts,
  ...operationsContracts,
]

export const catalog: MessageCatalog = createCatalog(contracts)
