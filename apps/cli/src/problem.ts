// RFC 9457 problem documents as `rxt` prints them on standard error: the detail, then one line per
// invalid field; a deploy.yaml's problems as `file:line:column: path: message`, as compilers print them.

/** One invalid field of a problem document (a deploy.yaml's has its line and column). */
export interface FieldProblem {
  readonly path?: string
  readonly message?: string
  readonly line?: number
  readonly column?: number
}

/** What the server answers an error with (application/problem+json). */
export interface Problem {
  readonly title?: string
  readonly status?: number
  readonly detail?: string
  readonly code?: string
  readonly requestId?: string
  readonly errors?: readonly FieldProblem[]
}

/** One line of a field's problem; `file` names the document it is in (for a deploy.yaml). */
export function fieldLine(problem: FieldProblem, file?: string): string {
  const where =
    file !== undefined && problem.line !== undefined
      ? `${file}:${problem.line}:${problem.column ?? 1}: `
      : file !== undefined
        ? `${file}: `
        : ''
  const path = problem.path === undefined || problem.path === '' ? '' : `${problem.path}: `
  return `${where}${path}${problem.message ?? 'is invalid'}`
}

/** The message of a problem document: its detail, or its title, or the status. */
export function problemMessage(problem: Problem, status: number): string {
  return problem.detail ?? problem.title ?? `the server answered ${status}`
}

/** The lines under the message: one per field. */
export function problemDetails(problem: Problem, file?: string): string[] {
  // In the order of the file, as a compiler lists them (those without a place last).
  const place = (e: FieldProblem) => [e.line ?? Number.MAX_SAFE_INTEGER, e.column ?? 0] as const
  return [...(problem.errors ?? [])]
    .sort((a, b) => place(a)[0] - place(b)[0] || place(a)[1] - place(b)[1])
    .map((e) => fieldLine(e, file))
}
