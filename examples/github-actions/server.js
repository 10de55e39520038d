// hello: answers every request with a greeting, and /healthz for the readiness check.
import { createServer } from 'node:http'

const greeting = process.env.GREETING ?? 'Hello'
createServer((request, response) => {
  if (request.url === '/healthz') return response.writeHead(204).end()
  response.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' }).end(`${greeting}\n`)
}).listen(Number(process.env.PORT ?? 8080))
