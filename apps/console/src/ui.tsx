import { type FormEvent, type ReactNode, useId, useState } from 'react'
import { ApiError, describeFieldError, fieldOf } from './problem.ts'

/** The problem an action met: its detail, and the violations no field of the form shows. */
export function ErrorNote({ error, shown = [] }: { error: unknown; shown?: readonly string[] }) {
  if (error === null || error === undefined) return null
  const detail = error instanceof Error ? error.message : String(error)
  const others = error instanceof ApiError ? error.errors.filter((e) => !shown.includes(fieldOf(e.path))) : []
  return (
    <div role="alert" className="error">
      <p>{detail}</p>
      {others.length > 0 && (
        <ul>
          {others.map((e) => (
            <li key={`${e.path}:${e.message}`}>{describeFieldError(e)}</li>
          ))}
        </ul>
      )}
    </div>
  )
}

interface FieldProps {
  readonly label: string
  readonly name: string
  readonly error?: unknown
  readonly hint?: string
  readonly type?: string
  readonly required?: boolean
  readonly defaultValue?: string
  readonly autoComplete?: string
  readonly multiline?: boolean
  readonly placeholder?: string
  readonly minLength?: number
  /** Focus it when it appears (it replaced the button that had the focus). */
  readonly autoFocus?: boolean
}

/** A labelled input with the API's message about it, tied to it with aria-describedby. */
export function Field(props: FieldProps) {
  const id = useId()
  const message = props.error instanceof ApiError ? props.error.fieldMessage(props.name) : undefined
  const described = [props.hint === undefined ? '' : `${id}-hint`, message === undefined ? '' : `${id}-error`]
    .filter((s) => s !== '')
    .join(' ')
  const common = {
    id,
    name: props.name,
    required: props.required,
    defaultValue: props.defaultValue,
    placeholder: props.placeholder,
    autoFocus: props.autoFocus,
    'aria-invalid': message === undefined ? undefined : true,
    'aria-describedby': described === '' ? undefined : described,
  }
  return (
    <div className="field">
      <label htmlFor={id}>{props.label}</label>
      {props.multiline === true ? (
        <textarea {...common} rows={10} spellCheck={false} />
      ) : (
        <input
          {...common}
          type={props.type ?? 'text'}
          autoComplete={props.autoComplete}
          minLength={props.minLength}
        />
      )}
      {props.hint !== undefined && (
        <small id={`${id}-hint`} className="hint">
          {props.hint}
        </small>
      )}
      {message !== undefined && (
        <small id={`${id}-error`} className="field-error">
          {message}
        </small>
      )}
    </div>
  )
}

/** What to do next where a list is empty. */
export function Empty({ children }: { children: ReactNode }) {
  return <p className="empty">{children}</p>
}

export function Loading({ what }: { what: string }) {
  return (
    <p className="loading" aria-live="polite">
      Loading {what}…
    </p>
  )
}

export function Status({ status }: { status: string }) {
  return <span className={`status status-${status}`}>{status}</span>
}

/** The values of a form by name. */
export function formValues(form: HTMLFormElement): Record<string, string> {
  const values: Record<string, string> = {}
  for (const [k, v] of new FormData(form)) if (typeof v === 'string') values[k] = v
  return values
}

/** A form's submit handler: the page stays, and `act` gets the form's values by field name. */
export const submitted =
  (act: (values: Record<string, string>) => void) =>
  (event: FormEvent<HTMLFormElement>): void => {
    event.preventDefault()
    act(formValues(event.currentTarget))
  }

export const when = (iso: string | null | undefined): string =>
  iso === null || iso === undefined ? '—' : new Date(iso).toLocaleString()

/** Milliseconds between two instants, for people. */
export function took(from: string | null, to: string | null): string {
  if (from === null) return '—'
  const ms = (to === null ? Date.now() : Date.parse(to)) - Date.parse(from)
  return ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(1)} s`
}

/**
 * A button for what cannot be taken back: the first press asks, the second (the confirm button, which
 * takes the focus) does it; Keep goes back.
 */
export function ConfirmButton({
  label,
  confirm,
  busy = false,
  onConfirm,
}: {
  label: string
  confirm: string
  busy?: boolean
  onConfirm: () => void
}) {
  const [asking, setAsking] = useState(false)
  if (!asking)
    return (
      <button type="button" onClick={() => setAsking(true)} disabled={busy}>
        {label}
      </button>
    )
  return (
    <span className="inline-form">
      <button
        type="button"
        className="danger"
        // biome-ignore lint/a11y/noAutofocus: the confirmation replaces the focused button; focus follows it
        autoFocus
        disabled={busy}
        onClick={() => {
          setAsking(false)
          onConfirm()
        }}
      >
        {confirm}
      </button>
      <button type="button" onClick={() => setAsking(false)}>
        Keep
      </button>
    </span>
  )
}
