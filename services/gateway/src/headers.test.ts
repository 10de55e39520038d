import { describe, expect, it } from 'vitest'
import { endToEnd, forwardedRequestHeaders } from './headers.ts'

const from = { peer: '10.0.0.7', protocol: 'https', host: 'deploy.example.com', requestId: 'r-1' }

describe('headers through the gateway', () => {
  it('drops the hop-by-hop headers and those Connection lists, keeping every other one', () => {
    expect(
      endToEnd({
        connection: 'close, X-Session-Hop',
        'keep-alive': 'timeout=5',
        'transfer-encoding': 'chunked',
        upgrade: 'websocket',
        te: 'trailers',
        trailer: 'x-checksum',
        'proxy-authorization': 'Basic eA==',
        'proxy-connection': 'keep-alive',
        'x-session-hop': 'secret',
        'x-github-event': 'push',
        'set-cookie': ['a=1', 'b=2'],
        'content-length': '12',
      }),
    ).toEqual({ 'x-github-event': 'push', 'set-cookie': ['a=1', 'b=2'], 'content-length': '12' })
  })

  it('appends the peer to X-Forwarded-For and names the protocol, host and request id', () => {
    expect(
      forwardedRequestHeaders(
        { host: 'deploy.example.com', 'x-forwarded-for': '203.0.113.9', 'x-hub-signature-256': 'sha256=ab' },
        from,
      ),
    ).toEqual({
      'x-forwarded-for': '203.0.113.9, 10.0.0.7',
      'x-forwarded-proto': 'https',
      'x-forwarded-host': 'deploy.example.com',
      'x-request-id': 'r-1',
      'x-hub-signature-256': 'sha256=ab',
    })
    // A client's own X-Request-Id is replaced by the one the edge settled on (its own when invalid).
    expect(forwardedRequestHeaders({ 'x-request-id': 'spoofed' }, from)).toMatchObject({
      'x-forwarded-for': '10.0.0.7',
      'x-request-id': 'r-1',
    })
  })
})
