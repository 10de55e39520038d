import { describe, expect, it } from 'vitest'
import { envelope, parseResponse, Ref, ref, typed } from './xml.ts'

describe('the vim25 SOAP encoding', () => {
  it('writes a call with its arguments in order, references with their type, subtypes with xsi:type, and escapes text', () => {
    const xml = envelope('CloneVM_Task', ref('VirtualMachine', 'vm-1'), {
      folder: ref('Folder', 'group-3'),
      name: 'a <b> & "c"',
      spec: {
        location: { pool: ref('ResourcePool', 'resgroup-8') },
        template: false,
        config: {
          extraConfig: [typed('OptionValue', { key: 'guestinfo.x', value: typed('xsd:string', 'y') })],
        },
        powerOn: true,
        absent: undefined,
      },
    })
    expect(xml).toContain(
      '<CloneVM_Task xmlns="urn:vim25"><_this type="VirtualMachine">vm-1</_this><folder type="Folder">group-3</folder><name>a &lt;b&gt; &amp; &quot;c&quot;</name><spec><location><pool type="ResourcePool">resgroup-8</pool></location><template>false</template><config><extraConfig xsi:type="OptionValue"><key>guestinfo.x</key><value xsi:type="xsd:string">y</value></extraConfig></config><powerOn>true</powerOn></spec></CloneVM_Task>',
    )
  })

  it('reads a returnval: references, typed objects, ArrayOf values as lists, entities and character references decoded', () => {
    const answer = parseResponse(
      '<?xml version="1.0"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body><RetrievePropertiesExResponse xmlns="urn:vim25"><returnval><objects><obj type="VirtualMachine">vm-7</obj><propSet><name>network</name><val xmlns:XMLSchema-instance="http://www.w3.org/2001/XMLSchema-instance" XMLSchema-instance:type="ArrayOfManagedObjectReference"><ManagedObjectReference type="Network">net-1</ManagedObjectReference></val></propSet><propSet><name>config.annotation</name><val xsi:type="xsd:string">a &amp; b &#34;c&#34; &#x41;</val></propSet></objects></returnval></RetrievePropertiesExResponse></soapenv:Body></soapenv:Envelope>',
    )
    expect(answer).toEqual({
      ok: true,
      value: {
        objects: {
          obj: new Ref('VirtualMachine', 'vm-7'),
          propSet: [
            { name: 'network', val: [new Ref('Network', 'net-1')] },
            { name: 'config.annotation', val: 'a & b "c" A' },
          ],
        },
      },
    })
  })

  it('reads a fault: its vim25 class, message and detail', () => {
    const answer = parseResponse(
      '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body><soapenv:Fault><faultcode>ServerFaultCode</faultcode><faultstring>The name already exists.</faultstring><detail><DuplicateNameFault xmlns="urn:vim25" xsi:type="DuplicateName"><name>f1</name><object type="Folder">group-9</object></DuplicateNameFault></detail></soapenv:Fault></soapenv:Body></soapenv:Envelope>',
    )
    expect(answer).toEqual({
      ok: false,
      fault: {
        name: 'DuplicateName',
        message: 'The name already exists.',
        detail: { _type: 'DuplicateName', name: 'f1', object: new Ref('Folder', 'group-9') },
      },
    })
  })

  it('keeps the class of a typed element with no fields (a task fault such as NotSupported)', () => {
    const answer = parseResponse(
      '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body><R xmlns="urn:vim25"><returnval><fault xsi:type="NotSupported"/><empty xsi:type="xsd:string"></empty></returnval></R></soapenv:Body></soapenv:Envelope>',
    )
    expect(answer).toEqual({ ok: true, value: { fault: { _type: 'NotSupported' }, empty: '' } })
  })

  it('refuses what is not a SOAP envelope', () => {
    expect(() => parseResponse('<html><body>502 Bad Gateway</body></html>')).toThrow(/not a SOAP envelope/)
  })
})
