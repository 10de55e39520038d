// The vim25 SOAP encoding: a request's envelope from plain values, and a response's body back to plain
// values. Pure. vcsim and vCenter read elements in the order of the WSDL's sequences, so every caller
// writes an object's fields in that order (JavaScript keeps insertion order).
import { XMLParser } from 'fast-xml-parser'

/** A managed object reference: `<tag type="VirtualMachine">vm-42</tag>`. */
export class Ref {
  readonly type: string
  readonly value: string
  constructor(type: string, value: string) {
    this.type = type
    this.value = value
  }
  toString(): string {
    return `${this.type}:${this.value}`
  }
}

/** A value written with its `xsi:type`: a subtype where the WSDL names the base (TraversalSpec), or xsd:string in an anyType. */
export class Typed {
  readonly xsiType: string
  readonly value: VimValue
  constructor(xsiType: string, value: VimValue) {
    this.xsiType = xsiType
    this.value = value
  }
}

export type VimValue =
  | string
  | number
  | boolean
  | Date
  | Ref
  | Typed
  | undefined
  | readonly VimValue[]
  | { readonly [field: string]: VimValue }

export const ref = (type: string, value: string) => new Ref(type, value)
export const typed = (xsiType: string, value: VimValue) => new Typed(xsiType, value)

const escapeXml = (raw: string) =>
  raw.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;')

/** One element `name` holding `value`; arrays repeat the element, undefined writes nothing. */
export function element(name: string, value: VimValue, xsiType?: string): string {
  if (value === undefined) return ''
  if (Array.isArray(value)) return value.map((item) => element(name, item, xsiType)).join('')
  const typeAttr = xsiType === undefined ? '' : ` xsi:type="${escapeXml(xsiType)}"`
  if (value instanceof Typed) return element(name, value.value, value.xsiType)
  if (value instanceof Ref)
    return `<${name}${typeAttr} type="${escapeXml(value.type)}">${escapeXml(value.value)}</${name}>`
  if (value instanceof Date) return `<${name}${typeAttr}>${value.toISOString()}</${name}>`
  if (typeof value === 'object') {
    const fields = Object.entries(value as Record<string, VimValue>)
      .map(([field, v]) => element(field, v))
      .join('')
    return `<${name}${typeAttr}>${fields}</${name}>`
  }
  return `<${name}${typeAttr}>${escapeXml(String(value))}</${name}>`
}

/** The SOAP envelope of a call: `method` on `self`, its arguments in the WSDL's order. */
export function envelope(method: string, self: Ref, args: Readonly<Record<string, VimValue>>): string {
  const body =
    element('_this', self) +
    Object.entries(args)
      .map(([name, v]) => element(name, v))
      .join('')
  return (
    '<?xml version="1.0" encoding="UTF-8"?>' +
    '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"' +
    ' xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">' +
    `<soapenv:Body><${method} xmlns="urn:vim25">${body}</${method}></soapenv:Body></soapenv:Envelope>`
  )
}

/** A decoded element: text, a reference, or an object of fields (an element repeated is an array). */
export type Decoded = string | Ref | DecodedObject | Decoded[]
export interface DecodedObject {
  /** Its `xsi:type`, when the response gave one (an event's class, a fault's). */
  readonly _type?: string
  readonly [field: string]: Decoded | undefined
}

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '@',
  textNodeName: '#text',
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: false,
  // Character references too (vcsim writes a quote as &#34;): the parser's HTML mode is the one that
  // decodes them; a well-formed response holds no other HTML entity.
  htmlEntities: true,
})

const localName = (name: string) => name.slice(name.indexOf(':') + 1)

function decode(node: unknown): Decoded {
  if (Array.isArray(node)) return node.map(decode)
  if (node === null || typeof node !== 'object')
    return node === undefined || node === null ? '' : String(node)
  const record = node as Record<string, unknown>
  // `xsi:type`, whatever prefix the document bound the XMLSchema-instance namespace to.
  const xsiKey = Object.keys(record).find(
    (k) => k.startsWith('@') && k.includes(':') && localName(k) === 'type',
  )
  const xsiType = xsiKey === undefined ? undefined : (record[xsiKey] as string)
  const text = record['#text']
  const fields = Object.keys(record).filter((k) => !k.startsWith('@') && k !== '#text')
  if (typeof record['@type'] === 'string' && fields.length === 0)
    return new Ref(record['@type'], text === undefined ? '' : String(text))
  // A fault or an object of a subtype with no fields (<fault xsi:type="NotSupported"/>) keeps its type.
  if (
    fields.length === 0 &&
    text === undefined &&
    xsiType !== undefined &&
    !localName(xsiType).startsWith('ArrayOf') &&
    !xsiType.startsWith('xsd:')
  )
    return { _type: localName(xsiType) } as DecodedObject
  if (fields.length === 0) return text === undefined ? '' : String(text)
  const out: Record<string, Decoded | string | undefined> = {}
  if (xsiType !== undefined) out._type = localName(xsiType)
  for (const field of fields) out[localName(field)] = decode(record[field])
  // ArrayOfManagedObjectReference, ArrayOfString…: the array of its one kind of element.
  if (xsiType !== undefined && localName(xsiType).startsWith('ArrayOf') && fields.length === 1)
    return asList(out[localName(fields[0] as string)] as Decoded)
  return out as DecodedObject
}

/** A value that may be one element or several, as a list. */
export function asList(value: Decoded | undefined): Decoded[] {
  if (value === undefined || value === '') return []
  return Array.isArray(value) ? value : [value]
}

/** What a SOAP fault said: its vim25 class (NotAuthenticated, InvalidArgument…) and its message. */
export interface Fault {
  readonly name: string
  readonly message: string
  readonly detail: DecodedObject | undefined
}

/** A response's `returnval` (undefined for a void method), or its fault. */
export function parseResponse(
  xml: string,
): { ok: true; value: Decoded | undefined } | { ok: false; fault: Fault } {
  const document = parser.parse(xml) as Record<string, unknown>
  const envelopeKey = Object.keys(document).find((k) => localName(k) === 'Envelope')
  const soap = envelopeKey === undefined ? undefined : (document[envelopeKey] as Record<string, unknown>)
  const bodyKey = soap === undefined ? undefined : Object.keys(soap).find((k) => localName(k) === 'Body')
  const body = bodyKey === undefined ? undefined : (soap?.[bodyKey] as Record<string, unknown> | '')
  if (body === undefined || body === '' || typeof body !== 'object')
    throw new Error('the response is not a SOAP envelope')
  const faultKey = Object.keys(body).find((k) => localName(k) === 'Fault')
  if (faultKey !== undefined) {
    const fault = body[faultKey] as Record<string, unknown>
    const detail = fault.detail as Record<string, unknown> | undefined
    const detailKey = detail === undefined || typeof detail !== 'object' ? undefined : Object.keys(detail)[0]
    const decoded = detailKey === undefined ? undefined : (decode(detail?.[detailKey]) as DecodedObject)
    const name =
      (typeof decoded === 'object' && !(decoded instanceof Ref) && !Array.isArray(decoded)
        ? decoded._type
        : undefined) ?? (detailKey === undefined ? 'SoapFault' : localName(detailKey).replace(/Fault$/, ''))
    const faultstring = fault.faultstring
    const message =
      typeof faultstring === 'object' && faultstring !== null
        ? String((faultstring as Record<string, unknown>)['#text'] ?? '')
        : String(faultstring ?? '')
    return {
      ok: false,
      fault: {
        name,
        message,
        detail:
          typeof decoded === 'object' && !(decoded instanceof Ref) && !Array.isArray(decoded)
            ? decoded
            : undefined,
      },
    }
  }
  const responseKey = Object.keys(body).find((k) => !k.startsWith('@'))
  const response = responseKey === undefined ? undefined : body[responseKey]
  if (response === undefined || response === '' || typeof response !== 'object')
    return { ok: true, value: undefined }
  const returnval = (response as Record<string, unknown>).returnval
  return { ok: true, value: returnval === undefined ? undefined : decode(returnval) }
}

/** A field of a decoded object, or undefined (for reading responses without casts). */
export function field(value: Decoded | undefined, name: string): Decoded | undefined {
  if (value === undefined || typeof value === 'string' || value instanceof Ref || Array.isArray(value))
    return undefined
  return value[name]
}

/** A decoded value as text ('' for none). */
export const text = (value: Decoded | undefined): string => (typeof value === 'string' ? value : '')

/** A decoded value as a reference, or undefined. */
export const refOf = (value: Decoded | undefined): Ref | undefined =>
  value instanceof Ref ? value : undefined
