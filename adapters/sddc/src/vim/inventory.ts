// The vCenter operations the SDDC Flex adapter uses, each one vim25 method (or a task and its wait):
// finding objects by path, folders, resource pools, distributed port groups, custom attributes, cloning
// from a template, reconfiguring, power, relocation, destruction. The faults vCenter answers pass up as
// VimError; a task's end is awaited through the property collector (awaitTask).
import { type VimClient, VimError } from './client.ts'
import { awaitTask, retrieve } from './collector.ts'
import { asList, type Decoded, field, type Ref, refOf, text, typed, type VimValue } from './xml.ts'

/** How long a task may run before the call answers `timeout` (it may still finish). */
export interface TaskDeadline {
  readonly taskTimeoutMs: number
}

export interface VmConfig {
  readonly numCPUs?: number
  readonly memoryMB?: number
  readonly annotation?: string
  /** `guestinfo.*` keys and their values: what the VM's agent reads (image, environment, ports). */
  readonly extraConfig?: Readonly<Record<string, string>>
  /** The NIC to put on a port group: the template's card and the port group's switch. */
  readonly network?: { readonly nic: Nic; readonly portGroup: PortGroup }
}

/** A VM's network card, as its template has it: its device key and class. */
export interface Nic {
  readonly key: number
  readonly type: string
  readonly unitNumber: string
  readonly controllerKey: string
  readonly macAddressType: string
}

/** A distributed port group: its reference, its key and its switch's UUID (what a NIC's backing names). */
export interface PortGroup {
  readonly ref: Ref
  readonly key: string
  readonly switchUuid: string
}

/** vim25's VirtualMachineConfigSpec, its fields in the WSDL's order. */
function configSpec(config: VmConfig): Record<string, VimValue> {
  const nic = config.network
  return {
    annotation: config.annotation,
    numCPUs: config.numCPUs,
    memoryMB: config.memoryMB,
    deviceChange:
      nic === undefined
        ? undefined
        : [
            {
              operation: 'edit',
              device: typed(nic.nic.type, {
                key: nic.nic.key,
                backing: typed('VirtualEthernetCardDistributedVirtualPortBackingInfo', {
                  port: { switchUuid: nic.portGroup.switchUuid, portgroupKey: nic.portGroup.key },
                }),
                controllerKey: nic.nic.controllerKey === '' ? undefined : Number(nic.nic.controllerKey),
                unitNumber: nic.nic.unitNumber === '' ? undefined : Number(nic.nic.unitNumber),
                addressType: nic.nic.macAddressType === '' ? undefined : nic.nic.macAddressType,
              }),
            },
          ],
    extraConfig:
      config.extraConfig === undefined
        ? undefined
        : Object.entries(config.extraConfig).map(([key, value]) =>
            typed('OptionValue', { key, value: typed('xsd:string', value) }),
          ),
  }
}

export function createInventory(client: VimClient, deadline: TaskDeadline) {
  const task = async (method: string, self: Ref, args: Record<string, VimValue> = {}) => {
    const started = refOf(await client.call(method, self, args))
    if (started === undefined) throw new VimError('unavailable', `${method} answered no task`)
    return awaitTask(client, started, deadline.taskTimeoutMs)
  }
  const inventory = {
    /** The object at an inventory path (`DC0/vm/rxt`), or undefined. */
    async find(path: string): Promise<Ref | undefined> {
      const { searchIndex } = await client.content()
      return refOf(await client.call('FindByInventoryPath', searchIndex, { inventoryPath: path }))
    },
    /** The object at `path`, or a VimError saying which is missing (a setting that names nothing). */
    async require(path: string, what: string): Promise<Ref> {
      const found = await inventory.find(path)
      if (found === undefined) throw new VimError('fault', `vCenter has no ${what} at ${path}`, 'NotFound')
      return found
    },
    /** A folder `name` in `parent`: made, or the one already there. */
    async folder(parent: Ref, name: string): Promise<Ref> {
      try {
        const made = refOf(await client.call('CreateFolder', parent, { name }))
        if (made !== undefined) return made
      } catch (error) {
        const existing = duplicateOf(error)
        if (existing !== undefined) return existing
        throw error
      }
      throw new VimError('unavailable', 'CreateFolder answered no folder')
    },
    /** A resource pool `name` in `parent`, memory limited to `memoryMiB` (-1: none): made, or the one there. */
    async resourcePool(parent: Ref, name: string, memoryMiB: number): Promise<Ref> {
      const allocation = (limit: number) => ({
        reservation: 0,
        expandableReservation: true,
        limit,
        shares: { shares: 4000, level: 'normal' },
      })
      try {
        const made = refOf(
          await client.call('CreateResourcePool', parent, {
            name,
            spec: { cpuAllocation: allocation(-1), memoryAllocation: allocation(memoryMiB) },
          }),
        )
        if (made !== undefined) return made
      } catch (error) {
        const existing = duplicateOf(error)
        if (existing !== undefined) return existing
        throw error
      }
      throw new VimError('unavailable', 'CreateResourcePool answered no pool')
    },
    /** A distributed port group `name` on `dvs`, early binding: made, or the one there. */
    async portGroup(dvs: Ref, name: string, networkFolderPath: string): Promise<PortGroup> {
      let pg = await inventory.find(`${networkFolderPath}/${name}`)
      if (pg === undefined) {
        try {
          await task('AddDVPortgroup_Task', dvs, { spec: [{ name, numPorts: 32, type: 'earlyBinding' }] })
        } catch (error) {
          if (!(error instanceof VimError && error.fault === 'DuplicateName')) throw error
        }
        pg = await inventory.require(`${networkFolderPath}/${name}`, 'port group')
      }
      const [props] = await retrieve(
        client,
        'DistributedVirtualPortgroup',
        [pg],
        ['key', 'config.distributedVirtualSwitch'],
      )
      const switchRef = refOf(props?.props['config.distributedVirtualSwitch'])
      const [sw] =
        switchRef === undefined
          ? []
          : await retrieve(client, 'DistributedVirtualSwitch', [switchRef], ['uuid'])
      return { ref: pg, key: text(props?.props.key), switchUuid: text(sw?.props.uuid) }
    },
    /** The key of the custom attribute `name` (on every kind of object), defined when missing. */
    async customField(name: string): Promise<number> {
      const { customFieldsManager } = await client.content()
      const defined = async () => {
        const [manager] = await retrieve(client, 'CustomFieldsManager', [customFieldsManager], ['field'])
        const def = asList(manager?.props.field).find((d) => text(field(d, 'name')) === name)
        return def === undefined ? undefined : Number(text(field(def, 'key')))
      }
      const before = await defined()
      if (before !== undefined) return before
      try {
        const def = await client.call('AddCustomFieldDef', customFieldsManager, { name })
        return Number(text(field(def, 'key')))
      } catch (error) {
        if (!(error instanceof VimError && error.fault === 'DuplicateName')) throw error
        const after = await defined()
        if (after === undefined) throw error
        return after
      }
    },
    /** Sets a custom attribute of `entity`. */
    async setField(entity: Ref, key: number, value: string): Promise<void> {
      const { customFieldsManager } = await client.content()
      await client.call('SetField', customFieldsManager, { entity, key, value })
    },
    /** A clone of `template` named `name` in `folder`, placed in `pool` on `datastore`, configured, powered on if asked. */
    async clone(
      template: Ref,
      into: { folder: Ref; pool: Ref; datastore: Ref; host?: Ref },
      name: string,
      config: VmConfig,
      powerOn: boolean,
    ): Promise<Ref> {
      const result = await task('CloneVM_Task', template, {
        folder: into.folder,
        name,
        spec: {
          location: { datastore: into.datastore, pool: into.pool, host: into.host },
          template: false,
          config: configSpec(config),
          // Powered on once its configuration is known to hold (below).
          powerOn: false,
        },
      })
      const vm = refOf(result)
      if (vm === undefined) throw new VimError('unavailable', `the clone of ${name} answered no VM`)
      // vcsim (v0.46.0) drops a clone spec's numCPUs, memoryMB, annotation and extraConfig (it sets them
      // on a copy); vCenter keeps them. What the clone lacks is set again, so both end the same.
      const [made] = await retrieve(
        client,
        'VirtualMachine',
        [vm],
        ['config.hardware.numCPU', 'config.hardware.memoryMB', 'config.annotation', 'config.extraConfig'],
      )
      const extra = new Map(
        asList(made?.props['config.extraConfig']).map((o) => [
          text(field(o, 'key')),
          text(field(o, 'value')),
        ]),
      )
      const differs =
        (config.numCPUs !== undefined &&
          text(made?.props['config.hardware.numCPU']) !== String(config.numCPUs)) ||
        (config.memoryMB !== undefined &&
          text(made?.props['config.hardware.memoryMB']) !== String(config.memoryMB)) ||
        (config.annotation !== undefined && text(made?.props['config.annotation']) !== config.annotation) ||
        Object.entries(config.extraConfig ?? {}).some(([k, v]) => extra.get(k) !== v)
      if (differs) await inventory.reconfigure(vm, { ...config, network: undefined })
      if (powerOn) await inventory.powerOn(vm)
      return vm
    },
    async reconfigure(vm: Ref, config: VmConfig): Promise<void> {
      await task('ReconfigVM_Task', vm, { spec: configSpec(config) })
    },
    /** Powers a VM on; one already on is left so. */
    async powerOn(vm: Ref): Promise<void> {
      try {
        await task('PowerOnVM_Task', vm)
      } catch (error) {
        if (!(error instanceof VimError && error.fault === 'InvalidPowerState')) throw error
      }
    },
    /** Powers a VM off (hard); one already off is left so. */
    async powerOff(vm: Ref): Promise<void> {
      try {
        await task('PowerOffVM_Task', vm)
      } catch (error) {
        if (!(error instanceof VimError && error.fault === 'InvalidPowerState')) throw error
      }
    },
    /** Moves a running VM to `host` (and `pool`), vMotion; answers when it is done. */
    async relocate(vm: Ref, to: { host: Ref; pool?: Ref; datastore?: Ref }): Promise<void> {
      await task('RelocateVM_Task', vm, {
        spec: { datastore: to.datastore, pool: to.pool, host: to.host },
        priority: 'defaultPriority',
      })
    },
    /** Destroys an object (a VM, powered off first; a folder or pool, with what it holds); one already gone is fine. */
    async destroy(entity: Ref): Promise<void> {
      try {
        if (entity.type === 'VirtualMachine') await inventory.powerOff(entity)
        await task('Destroy_Task', entity)
      } catch (error) {
        if (!(error instanceof VimError && error.fault === 'ManagedObjectNotFound')) throw error
      }
    },
    /** The first network card of a VM (its template's), which a clone's edit puts on a port group. */
    async nicOf(vm: Ref): Promise<Nic | undefined> {
      const [props] = await retrieve(client, 'VirtualMachine', [vm], ['config.hardware.device'])
      const card = asList(props?.props['config.hardware.device']).find(
        (d) => field(d, 'macAddress') !== undefined || field(d, 'addressType') !== undefined,
      )
      if (card === undefined) return undefined
      return {
        key: Number(text(field(card, 'key'))),
        type: (card as { _type?: string })._type ?? 'VirtualVmxnet3',
        unitNumber: text(field(card, 'unitNumber')),
        controllerKey: text(field(card, 'controllerKey')),
        macAddressType: text(field(card, 'addressType')),
      }
    },
  }
  return inventory
}
export type Inventory = ReturnType<typeof createInventory>

/** The object a DuplicateName fault names (what is already there), if that is the fault. */
function duplicateOf(error: unknown): Ref | undefined {
  if (!(error instanceof VimError) || error.fault !== 'DuplicateName') return undefined
  return refOf(field(error.detail as Decoded | undefined, 'object'))
}
