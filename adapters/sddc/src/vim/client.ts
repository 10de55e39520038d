// A vim25 SOAP client over fetch: one session per client (login, keep-alive, a new login when vCenter
// ends it), calls as methods on managed objects, faults as VimError. The password is sent in Login's
// body and nowhere else: no error, log line or exception message holds it or the session cookie.
import { createRequire } from 'node:module'
import type * as Undici from 'undici'
import {
  type Decoded,
  envelope,
  type Fault,
  field,
  parseResponse,
  type Ref,
  ref,
  refOf,
  type VimValue,
} from './xml.ts'

export interface VimClientOptions {
  /** The SDK endpoint, `https://vcenter.example/sdk`. */
  readonly url: string
  readonly username: string
  readonly password: string
  /** PEM of the CA (or the self-signed certificate) vCenter's certificate chains to; the system's CAs when absent. */
  readonly ca?: string
  /** How long one call may take (default 60 s); a task's wait has its own deadline. */
  readonly callTimeoutMs?: number
  /** How often an idle session is kept alive (default 5 minutes; vCenter ends idle ones after 30). */
  readonly keepAliveMs?: number
  /** Counts each SOAP call by method (the benchmark's calls per environment). */
  readonly onCall?: (method: string) => void
}

/** Why a call failed: vCenter's fault (its vim25 class), or no answer in time, or none at all. */
export class VimError extends Error {
  override readonly name = 'VimError'
  readonly kind: 'fault' | 'unavailable' | 'timeout'
  /** The fault's vim25 class (NotAuthenticated, DuplicateName, InvalidPowerState…), when vCenter answered one. */
  readonly fault: string | undefined
  readonly detail: Fault['detail']
  constructor(kind: VimError['kind'], message: string, fault?: string, detail?: Fault['detail']) {
    super(message)
    this.kind = kind
    this.fault = fault
    this.detail = detail
  }
}

/** The managed objects of the ServiceInstance the client uses. */
export interface ServiceContent {
  readonly rootFolder: Ref
  readonly propertyCollector: Ref
  readonly viewManager: Ref
  readonly searchIndex: Ref
  readonly sessionManager: Ref
  readonly customFieldsManager: Ref
  readonly perfManager: Ref
  readonly eventManager: Ref
  readonly taskManager: Ref
  readonly apiVersion: string
}

export interface VimClient {
  /** Calls `method` on `self`; logs in first, and again once when vCenter says the session ended. */
  call(method: string, self: Ref, args?: Readonly<Record<string, VimValue>>): Promise<Decoded | undefined>
  /** The ServiceInstance's content (fetched once). */
  content(): Promise<ServiceContent>
  /** Ends the session and the keep-alive. */
  close(): Promise<void>
}

const serviceInstance = ref('ServiceInstance', 'ServiceInstance')

/** undici, loaded with the first client: a process whose SDDC context is off (SDDC_URL unset) never needs it. */
const undici = (): typeof Undici => createRequire(import.meta.url)('undici') as typeof Undici

export function createVimClient(options: VimClientOptions): VimClient {
  const { Agent, fetch } = undici()
  const dispatcher = new Agent({
    connect: options.ca === undefined ? {} : { ca: options.ca },
    keepAliveTimeout: 30_000,
    connections: 16,
  })
  const callTimeoutMs = options.callTimeoutMs ?? 60_000
  let cookie: string | undefined
  let loggingIn: Promise<void> | undefined
  let serviceContent: Promise<ServiceContent> | undefined
  let keepAlive: NodeJS.Timeout | undefined
  let closed = false

  /** One POST of one envelope; the session cookie kept from any answer that sets one. */
  const post = async (method: string, self: Ref, args: Readonly<Record<string, VimValue>>) => {
    options.onCall?.(method)
    let response: Awaited<ReturnType<typeof fetch>>
    let body: string
    try {
      response = await fetch(options.url, {
        method: 'POST',
        dispatcher,
        headers: {
          'content-type': 'text/xml; charset=utf-8',
          soapaction: 'urn:vim25/6.5',
          ...(cookie === undefined ? {} : { cookie }),
        },
        body: envelope(method, self, args),
        signal: AbortSignal.timeout(callTimeoutMs),
      })
      body = await response.text()
    } catch (error) {
      const timedOut = (error as Error).name === 'TimeoutError'
      throw new VimError(
        timedOut ? 'timeout' : 'unavailable',
        timedOut
          ? `vCenter did not answer ${method} within ${callTimeoutMs} ms`
          : `vCenter cannot be reached for ${method} (${(error as { cause?: { code?: string } }).cause?.code ?? (error as Error).message})`,
      )
    }
    const setCookie = response.headers.get('set-cookie')
    if (setCookie !== null) cookie = setCookie.split(';')[0]
    if (response.status >= 500 && !body.includes('Fault>'))
      throw new VimError('unavailable', `vCenter answered ${method} with HTTP ${response.status}`)
    let parsed: ReturnType<typeof parseResponse>
    try {
      parsed = parseResponse(body)
    } catch {
      throw new VimError(
        'unavailable',
        `vCenter answered ${method} with HTTP ${response.status} and no SOAP envelope`,
      )
    }
    if (!parsed.ok)
      throw new VimError(
        'fault',
        `${method}: ${parsed.fault.name}${parsed.fault.message === '' ? '' : `: ${parsed.fault.message}`}`,
        parsed.fault.name,
        parsed.fault.detail,
      )
    return parsed.value
  }

  const content = () => {
    serviceContent ??= post('RetrieveServiceContent', serviceInstance, {}).then((value) => {
      const r = (name: string) => {
        const found = refOf(field(value, name))
        if (found === undefined) throw new VimError('unavailable', `the service content names no ${name}`)
        return found
      }
      return {
        rootFolder: r('rootFolder'),
        propertyCollector: r('propertyCollector'),
        viewManager: r('viewManager'),
        searchIndex: r('searchIndex'),
        sessionManager: r('sessionManager'),
        customFieldsManager: r('customFieldsManager'),
        perfManager: r('perfManager'),
        eventManager: r('eventManager'),
        taskManager: r('taskManager'),
        apiVersion: String(field(field(value, 'about'), 'apiVersion') ?? ''),
      }
    })
    serviceContent.catch(() => {
      serviceContent = undefined
    })
    return serviceContent
  }

  const login = () => {
    loggingIn ??= (async () => {
      const { sessionManager } = await content()
      cookie = undefined
      try {
        await post('Login', sessionManager, { userName: options.username, password: options.password })
      } catch (error) {
        if (error instanceof VimError && error.fault === 'InvalidLogin')
          throw new VimError(
            'fault',
            "vCenter refused the adapter's user name or password (InvalidLogin)",
            'InvalidLogin',
          )
        throw error
      }
      keepAlive ??= setInterval(() => {
        // CurrentTime keeps the session from idling out; a failure is met by the next call's login.
        void post('CurrentTime', serviceInstance, {}).catch(() => undefined)
      }, options.keepAliveMs ?? 300_000)
      keepAlive.unref()
    })().finally(() => {
      loggingIn = undefined
    })
    return loggingIn
  }

  return {
    content,
    async call(method, self, args = {}) {
      if (closed) throw new VimError('unavailable', `the vCenter client is closed (${method})`)
      if (cookie === undefined) await login()
      const sent = cookie
      try {
        return await post(method, self, args)
      } catch (error) {
        if (!(error instanceof VimError) || error.fault !== 'NotAuthenticated') throw error
        // The session ended (idle, restarted vCenter, an operator's logout): log in once more. A call made
        // on a session another call already replaced is sent again without a login of its own.
        if (loggingIn !== undefined) await loggingIn
        else if (cookie === sent) await login()
        return post(method, self, args)
      }
    },
    async close() {
      if (closed) return
      closed = true
      if (keepAlive !== undefined) clearInterval(keepAlive)
      if (cookie !== undefined) {
        const { sessionManager } = await content()
        await post('Logout', sessionManager, {}).catch(() => undefined)
      }
      await dispatcher.close()
    },
  }
}
