// rxt manifest validate|push: a deploy.yaml checked by the server (POST /v1/manifests/validate) or
// recorded in a project's history; every problem printed as file:line:column: path: message.
import { readFile } from 'node:fs/promises'
import { basename } from 'node:path'
import { ApiError } from '../client.ts'
import type { RunContext } from '../context.ts'
import { CliError, ExitCode } from '../exit-codes.ts'
import { problemDetails } from '../problem.ts'
import { resolveProject } from '../resolve.ts'

async function readManifest(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8')
  } catch (error) {
    throw new CliError(
      `cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
      ExitCode.invalid,
    )
  }
}

/** The server's refusal of a manifest, its problems named by the file as the user wrote it. */
function refusal(error: unknown, file: string): unknown {
  if (!(error instanceof ApiError) || (error.status !== 422 && error.status !== 400)) return error
  return new CliError(
    `${basename(file)} is invalid: ${error.problem.detail ?? 'see the problems below'}`,
    ExitCode.invalid,
    problemDetails(error.problem, file),
    false,
    error.problem,
  )
}

export async function validate(ctx: RunContext, [file]: string[]): Promise<void> {
  const yaml = await readManifest(file as string)
  const result = await ctx.client
    .request<{ valid: boolean; digest: string; manifest: unknown }>('POST', '/v1/manifests/validate', {
      body: { yaml },
    })
    .catch((error) => {
      throw refusal(error, file as string)
    })
  if (ctx.out.json) return ctx.out.document(result)
  ctx.out.line(`${file}: valid (${result.digest})`)
}

export async function push(
  ctx: RunContext,
  [file]: string[],
  options: { project?: string; env?: string; commit?: string },
): Promise<void> {
  const yaml = await readManifest(file as string)
  const project = await resolveProject(ctx.client, options.project ?? ctx.settings.project)
  const result = await ctx.client
    .request<{ digest: string; created: boolean }>('POST', `/v1/projects/${project.id}/manifests`, {
      body: {
        yaml,
        ...(options.env === undefined ? {} : { environment: options.env }),
        ...(options.commit === undefined ? {} : { commitSha: options.commit }),
      },
    })
    .catch((error) => {
      throw refusal(error, file as string)
    })
  if (ctx.out.json) return ctx.out.document({ digest: result.digest, created: result.created })
  ctx.out.line(
    `${file}: recorded for ${project.slug}${options.env === undefined ? '' : ` ${options.env}`} (${result.digest}${result.created ? '' : ', stored before'})`,
  )
}
