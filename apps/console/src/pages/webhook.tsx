/** A webhook's URL and secret (shown once), and where they go in GitHub's settings. */
export function WebhookGuide(props: { url: string; secret: string; repository: string | null }) {
  const settings =
    props.repository === null ? undefined : `https://github.com/${props.repository}/settings/hooks/new`
  return (
    <div className="webhook">
      <dl>
        <dt>Payload URL</dt>
        <dd>
          <code>{props.url}</code>
        </dd>
        <dt>Secret</dt>
        <dd>
          <code data-testid="webhook-secret">{props.secret}</code> <strong>Shown once: copy it now.</strong>{' '}
          Rotate it to get a new one.
        </dd>
      </dl>
      <h3>In GitHub</h3>
      <ol>
        <li>
          Open the repository's <em>Settings → Webhooks → Add webhook</em>
          {settings !== undefined && (
            <>
              {' '}
              (<a href={settings}>{settings}</a>)
            </>
          )}
          .
        </li>
        <li>Payload URL: the URL above. Content type: application/json.</li>
        <li>Secret: the secret above.</li>
        <li>
          Events: <em>Let me select individual events</em>: Pushes, Workflow runs (and Branch or tag deletion
          if you report them).
        </li>
        <li>Add the webhook: GitHub's ping verifies the project.</li>
      </ol>
    </div>
  )
}
