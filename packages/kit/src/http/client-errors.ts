import { randomUUID } from 'node:crypto'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { STATUS_CODES } from 'node:http'
import type { Duplex } from 'node:stream'
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'
import type { Logger } from '../log.ts'
import { type Problem, problemContentType, toProblem } from './problem.ts'

/**
 * Requests that never reach a route: what Node's HTTP parser refuses (a NUL or a space in the URL, an
 * obs-folded or malformed header, headers past `maxHeaderSize`, a body whose framing is broken, a
 * request not received within `requestTimeout`), what Fastify's router refuses (a path that is not
 * valid percent-encoding, a parameter past `maxParamLength`), an `Expect` other than 100-continue, a
 * CONNECT, an HTTP/1.1 request without Host. Each is answered with a problem document like every other
 * error, where Node and Fastify would answer `application/json` of their own, an empty body, or no
 * answer at all.
 */

/** Node's default, which the kit keeps: the request line and every header, together. */
export const maxHeaderBytes = 16 * 1024

/** How long a refused connection is read (and discarded) after its answer, so that the answer arrives. */
const lingerMs = 2_000

const codeOf = (status: number): string =>
  status === 431 || status === 413 || status === 414 ? 'too-large' : status === 408 ? 'timeout' : 'input'

const problemOf = (status: number, detail: string, requestId: string, code = codeOf(status)): Problem => ({
  type: `urn:rxt:problem:${code}`,
  title: STATUS_CODES[status] ?? 'Bad Request',
  status,
  detail,
  code,
  retryable: status === 408,
  requestId,
})

/** What the parser's error means for the person who sent the request. */
function parserProblem(error: NodeJS.ErrnoException & { reason?: unknown }, requestId: string): Problem {
  switch (error.code) {
    case 'HPE_HEADER_OVERFLOW':
      return problemOf(
        431,
        `the request line and headers are larger than the ${maxHeaderBytes / 1024} KB this server reads (the URL counts); send a shorter URL or fewer or shorter headers`,
        requestId,
      )
    case 'HPE_CHUNK_EXTENSIONS_OVERFLOW':
      return problemOf(413, 'the chunk extensions of the body are too large', requestId)
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return problemOf(408, 'the request was not received in time; send it again', requestId)
    default: {
      // llhttp's reason is a fixed text of its own ("Invalid header value char"), never the request's bytes
      const reason = typeof error.reason === 'string' ? error.reason : 'it could not be parsed'
      return problemOf(
        400,
        `the request is not valid HTTP/1.1: ${reason}${error.code === undefined ? '' : ` (${error.code})`}`,
        requestId,
      )
    }
  }
}

const answered = new WeakSet<Duplex>()

/**
 * Writes a whole response on a socket whose request is refused, then closes it gracefully: the answer
 * and a FIN go out, and what the client still sends is read and discarded until it closes its side (or
 * `lingerMs` pass). Closing at once, with unread bytes, would send a reset that makes the client's
 * system drop the answer before its reader sees it (a client that sends a long request before
 * reading gets ECONNRESET and nothing else).
 */
function answerAndClose(socket: Duplex, problem: Problem, extraHeaders = ''): void {
  if (answered.has(socket)) return
  answered.add(socket)
  const body = JSON.stringify(problem)
  socket.on('error', () => undefined)
  socket.end(
    `HTTP/1.1 ${problem.status} ${problem.title}\r\nContent-Type: ${problemContentType}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nX-Request-Id: ${problem.requestId}\r\nCache-Control: no-store\r\n${extraHeaders}Connection: close\r\n\r\n${body}`,
  )
  const timer = setTimeout(() => socket.destroy(), lingerMs)
  timer.unref()
  socket.once('close', () => clearTimeout(timer))
  socket.once('end', () => {
    if (socket.writableFinished) socket.destroy()
    else socket.once('finish', () => socket.destroy())
  })
  socket.resume()
}

/** Fastify's `clientErrorHandler`: the parser's refusals, as problem documents. */
export function clientErrorHandler(log: Logger) {
  return (error: NodeJS.ErrnoException, socket: Duplex): void => {
    // A reset connection has nobody to answer; a refused one has had its answer (the parser reports
    // every later chunk again).
    if (error.code === 'ECONNRESET' || socket.destroyed || answered.has(socket)) return
    // A response already begun on this connection cannot be followed by another.
    const inFlight = (socket as Duplex & { _httpMessage?: ServerResponse | null })._httpMessage
    if (!socket.writable || inFlight?.headersSent === true) {
      socket.destroy()
      return
    }
    const problem = parserProblem(error, randomUUID())
    log.info(
      { requestId: problem.requestId, code: error.code, status: problem.status },
      'request refused by the HTTP parser',
    )
    answerAndClose(socket, problem)
  }
}

const instanceChars = 256
const bounded = (text: string): string =>
  text.length > instanceChars ? `${text.slice(0, instanceChars)}…` : text

/** Fastify's `frameworkErrors`: the router's refusals, as problem documents. */
export function frameworkErrors(error: FastifyError, request: FastifyRequest, reply: FastifyReply) {
  const instance = bounded(request.url.split('?')[0] ?? '')
  let problem: Problem
  switch (error.code) {
    case 'FST_ERR_BAD_URL':
      problem = problemOf(
        400,
        `the URL's path ${JSON.stringify(instance)} is not valid percent-encoding (write % as %25)`,
        request.id,
      )
      break
    case 'FST_ERR_MAX_PARAM_LENGTH':
      problem = problemOf(
        414,
        'a path segment of the URL is longer than this API reads (100 characters)',
        request.id,
      )
      break
    default:
      problem = toProblem(error, instance, request.id)
  }
  return reply
    .code(problem.status)
    .header('x-request-id', request.id)
    .type(problemContentType)
    .send({ ...problem, instance })
}

/** Node's own answers, where it would give one with no body or none at all. */
export function answerNodeRefusals(server: import('node:http').Server): void {
  // An Expect other than 100-continue: Node's own 417 has no body.
  server.on('checkExpectation', (request: IncomingMessage, response: ServerResponse) => {
    const problem = problemOf(
      417,
      `this server meets no expectation but 100-continue (Expect: ${bounded(String(request.headers.expect))})`,
      randomUUID(),
    )
    const body = JSON.stringify(problem)
    response.writeHead(417, {
      'content-type': problemContentType,
      'content-length': Buffer.byteLength(body),
      'x-request-id': problem.requestId as string,
      connection: 'close',
    })
    response.end(body)
  })
  // CONNECT (a proxy's method): Node closes the connection without a word.
  server.on('connect', (_request: IncomingMessage, socket: Duplex) => {
    answerAndClose(
      socket,
      problemOf(405, 'this server is not a proxy: CONNECT is not served', randomUUID(), 'method-not-allowed'),
      'Allow: GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS\r\n',
    )
  })
}
