import type { ContextDb, Queryable, Transaction } from '@rxt/kit'

/** SQL on the identity schema only. Tenant-owned rows are reached through withTenant or asUser. */
export type UserRow = {
  id: string
  email: string
  name: string
  password_hash: string
  operator: boolean
  created_at: Date
}
export type MembershipRow = {
  org_id: string
  user_id: string
  role: string
  org_name: string
  created_at: Date
}

export function createIdentityStore(db: ContextDb) {
  /** A transaction that reads the user's own memberships (and their organisations' roles) across tenants. */
  const asUser = <T>(userId: string, fn: (tx: Transaction) => Promise<T>) =>
    db.transaction(async (tx) => {
      await tx.query("SELECT set_config('rxt.user_id', $1, true)", [userId])
      return fn(tx)
    })

  return {
    asUser,
    countUsers: async (q: Queryable = db) =>
      Number((await q.query<{ n: string }>('SELECT count(*) AS n FROM users')).rows[0]?.n ?? 0),
    userByEmail: async (emailKey: string) =>
      (await db.query<UserRow>('SELECT * FROM users WHERE email_key = $1', [emailKey])).rows[0],
    userById: async (id: string, q: Queryable = db) =>
      (await q.query<UserRow>('SELECT * FROM users WHERE id = $1', [id])).rows[0],
    insertUser: (
      tx: Transaction,
      u: { id: string; email: string; name: string; passwordHash: string; operator: boolean },
    ) =>
      tx.query(
        'INSERT INTO users (id, email, email_key, name, password_hash, operator) VALUES ($1, $2, $3, $4, $5, $6)',
        [u.id, u.email, u.email.toLowerCase(), u.name, u.passwordHash, u.operator],
      ),
    insertOrg: (tx: Transaction, o: { id: string; name: string; createdBy: string }) =>
      tx.query('INSERT INTO orgs (id, name, created_by) VALUES ($1, $2, $3)', [o.id, o.name, o.createdBy]),
    orgById: async (tx: Queryable, id: string) =>
      (
        await tx.query<{ id: string; name: string; created_at: Date }>(
          'SELECT id, name, created_at FROM orgs WHERE id = $1',
          [id],
        )
      ).rows[0],
    /** The user's memberships with their organisations' custom roles (inside asUser). */
    membershipsOf: async (tx: Transaction, userId: string) =>
      (
        await tx.query<MembershipRow & { custom_permissions: string[] | null }>(
          `SELECT m.org_id, m.user_id, m.role, o.name AS org_name, m.created_at, r.permissions AS custom_permissions
             FROM memberships m JOIN orgs o ON o.id = m.org_id
             LEFT JOIN roles r ON r.org_id = m.org_id AND r.name = m.role
            WHERE m.user_id = $1 ORDER BY m.created_at`,
          [userId],
        )
      ).rows,
    customRole: async (tx: Transaction, name: string) =>
      (await tx.query<{ permissions: string[] }>('SELECT permissions FROM roles WHERE name = $1', [name]))
        .rows[0],
  }
}
export type IdentityStore = ReturnType<typeof createIdentityStore>
