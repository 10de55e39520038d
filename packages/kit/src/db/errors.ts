import { ConflictError, InputError, UnavailableError } from '../errors.ts'

/**
 * A failed statement, as the kit lets it be seen: the statement's first words, the SQLSTATE and the
 * names the server reports (constraint, table, column), never a value. The driver's own error is not
 * kept: Postgres's `detail` ("Failing row contains (…)", "Key (email)=(…)"), `where`, PGlite's
 * `params`, and the messages of data errors ('invalid input syntax for type uuid: "…"') quote the
 * statement's parameters, which may be a password's hash or an API key's; an error that reaches a log
 * line, a dead letter or a problem document therefore carries none of them, by construction.
 */
export class DatabaseError extends Error {
  /** The SQLSTATE (`23505`), or the driver's code when the server never answered (`ECONNREFUSED`). */
  readonly code: string | undefined
  /** The condition the SQLSTATE stands for (`unique_violation`), or its class's. */
  readonly condition: string | undefined
  /** The statement's first words: which statement failed, not with what. */
  readonly statement: string
  readonly constraint: string | undefined
  readonly table: string | undefined
  readonly column: string | undefined
  readonly dataType: string | undefined

  constructor(
    statement: string,
    fields: {
      readonly code?: string | undefined
      readonly message: string
      readonly constraint?: string | undefined
      readonly table?: string | undefined
      readonly column?: string | undefined
      readonly dataType?: string | undefined
    },
  ) {
    const sqlState = fields.code !== undefined && isSqlState(fields.code) ? fields.code : undefined
    const condition = sqlState === undefined ? undefined : conditionOf(sqlState)
    super(
      sqlState === undefined
        ? `${fields.message} (in "${statement}")`
        : `${condition} (SQLSTATE ${sqlState}) in "${statement}": ${fields.message}`,
    )
    this.name = 'DatabaseError'
    this.code = fields.code
    this.condition = condition
    this.statement = statement
    this.constraint = fields.constraint
    this.table = fields.table
    this.column = fields.column
    this.dataType = fields.dataType
  }
}

const isSqlState = (code: string): boolean => /^[0-9A-Z]{5}$/.test(code)

const statementWords = 6
const statementChars = 60

/** The first words of a statement, whitespace collapsed: enough to find it in the code. */
export function statementOf(text: string): string {
  const words = text
    .replace(/--[^\n]*/g, ' ')
    .trim()
    .split(/\s+/)
  let head = words.slice(0, statementWords).join(' ')
  if (head.length > statementChars) head = head.slice(0, statementChars)
  return head.length < words.join(' ').length ? `${head}…` : head
}

/**
 * Classes whose server messages are made of the statement's text and the schema's names only
 * (`duplicate key value violates unique constraint "users_email_key"`, `permission denied for table
 * vault`), so they are kept. Every other class's message may quote a value (data exceptions do,
 * PL/pgSQL raises may) and is replaced by the condition's name.
 */
const namesOnlyClasses = new Set('08 0A 0B 23 24 25 26 28 2D 34 3B 3D 3F 40 42 53 55 57'.split(' '))

const conditions: Record<string, string> = {
  '22001': 'string_data_right_truncation',
  '22003': 'numeric_value_out_of_range',
  '22004': 'null_value_not_allowed',
  '22007': 'invalid_datetime_format',
  '22008': 'datetime_field_overflow',
  '22012': 'division_by_zero',
  '22021': 'character_not_in_repertoire',
  '22023': 'invalid_parameter_value',
  '22P02': 'invalid_text_representation',
  '22P05': 'untranslatable_character',
  '23502': 'not_null_violation',
  '23503': 'foreign_key_violation',
  '23505': 'unique_violation',
  '23514': 'check_violation',
  '23P01': 'exclusion_violation',
  '25P02': 'in_failed_sql_transaction',
  '40001': 'serialization_failure',
  '40P01': 'deadlock_detected',
  '42501': 'insufficient_privilege',
  '42601': 'syntax_error',
  '42703': 'undefined_column',
  '42883': 'undefined_function',
  '42P01': 'undefined_table',
  '53300': 'too_many_connections',
  '54000': 'program_limit_exceeded',
  '55P03': 'lock_not_available',
  '57014': 'query_canceled',
  '57P01': 'admin_shutdown',
}
const classes: Record<string, string> = {
  '08': 'connection_exception',
  '0A': 'feature_not_supported',
  '21': 'cardinality_violation',
  '22': 'data_exception',
  '23': 'integrity_constraint_violation',
  '25': 'invalid_transaction_state',
  '28': 'invalid_authorization_specification',
  '3D': 'invalid_catalog_name',
  '3F': 'invalid_schema_name',
  '40': 'transaction_rollback',
  '42': 'syntax_error_or_access_rule_violation',
  '53': 'insufficient_resources',
  '54': 'program_limit_exceeded',
  '55': 'object_not_in_prerequisite_state',
  '57': 'operator_intervention',
  '58': 'system_error',
  P0: 'plpgsql_error',
  XX: 'internal_error',
}
const conditionOf = (sqlState: string): string =>
  conditions[sqlState] ?? classes[sqlState.slice(0, 2)] ?? `sqlstate_${sqlState}`

const stringField = (error: unknown, key: string): string | undefined => {
  const value = (error as Record<string, unknown> | null)?.[key]
  return typeof value === 'string' ? value : undefined
}

/**
 * The driver's error of `statement` as a DatabaseError (see there): what is kept is chosen field by
 * field, so that a field a driver adds later is left out rather than logged.
 */
export function databaseErrorOf(statement: string, error: unknown): DatabaseError {
  if (error instanceof DatabaseError) return error
  const code = stringField(error, 'code')
  const serverMessage = stringField(error, 'message') ?? String(error)
  const sqlState = code !== undefined && isSqlState(code) ? code : undefined
  const message =
    sqlState === undefined
      ? // the driver's own errors (a refused connection, a closed pool) quote no parameter
        serverMessage
      : namesOnlyClasses.has(sqlState.slice(0, 2))
        ? serverMessage
        : `message withheld (a ${classes[sqlState.slice(0, 2)] ?? 'database'} message may quote a value)`
  return new DatabaseError(statementOf(statement), {
    code,
    message,
    constraint: stringField(error, 'constraint'),
    table: stringField(error, 'table'),
    column: stringField(error, 'column'),
    dataType: stringField(error, 'dataType'),
  })
}

/** SQLSTATE classes and codes that mean "the database is not there right now". */
const unavailableCodes = new Set(['57P01', '57P02', '57P03', '53300', '53400'])
const networkCodes = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EPIPE',
  'EHOSTUNREACH',
])

/** What a person can do about a value the database refused (SQLSTATE class 22, and 54000). */
const dataErrorMessages: Record<string, string> = {
  '22001': 'a value is longer than its field allows',
  '22003': 'a number is outside the range its field allows',
  '22007': 'a date or time is not in the form its field takes',
  '22008': 'a date or time is outside the range its field allows',
  '22021': 'a text value holds a character that cannot be stored (such as NUL, \\u0000)',
  '22P02': 'a value is not in the form its field takes',
  '22P05': 'a text value holds a character that cannot be stored (such as NUL, \\u0000)',
  '54000': 'a value is too large to be stored or indexed',
}

/**
 * Maps driver errors that every caller treats the same way onto the closed set: an unreachable
 * database is retryable UnavailableError; a serialization failure or deadlock a retryable
 * ConflictError; a value the database refuses (a data exception, SQLSTATE class 22: a NUL character,
 * a string too long for its column, a malformed number or uuid; or one too large to index, 54000) an
 * InputError, since the same request fails the same way again: a 400, never a 500, though a route's
 * schema should have refused it first. Everything else (a bug, a constraint the context should have checked) passes through.
 */
export function translateDbError(error: unknown): unknown {
  const code = (error as { code?: unknown } | null)?.code
  if (typeof code !== 'string') {
    if (error instanceof Error && /Connection terminated|connection timeout/i.test(error.message)) {
      return new UnavailableError('the database cannot be reached', { cause: error })
    }
    return error
  }
  if (networkCodes.has(code) || code.startsWith('08') || unavailableCodes.has(code)) {
    return new UnavailableError('the database cannot be reached', { cause: error })
  }
  if (code === '23505') {
    return new ConflictError('a record with the same unique key exists', { cause: error })
  }
  if (code === '40001' || code === '40P01') {
    return new ConflictError('a concurrent change got in the way; try again', {
      cause: error,
      retryable: true,
    })
  }
  if (code.startsWith('22') || code === '54000') {
    const column = (error as { column?: unknown }).column
    const what = dataErrorMessages[code] ?? 'a value cannot be stored as given'
    return new InputError(typeof column === 'string' ? `${what} (${column})` : what, [], { cause: error })
  }
  return error
}
