// Row types shared by SQLite and PostgreSQL. Times are epoch milliseconds (bigint), booleans are 0/1 integers and
// JSON is text, so one set of migrations and queries serves both databases.

export interface WorkspacesTable {
  id: string;
  name: string;
  external_id: string | null;
  locale: string;
  time_zone: string;
  settings: string;
  managed: number;
  created_at: number;
  updated_at: number;
}

export interface ApiKeysTable {
  id: string;
  workspace_id: string | null;
  name: string;
  prefix: string;
  key_hash: string;
  created_at: number;
  last_used_at: number | null;
  revoked_at: number | null;
}

export interface AccountsTable {
  id: string;
  workspace_id: string;
  name: string;
  external_id: string | null;
  currency: string;
  quota_per_unit: number | null;
  source_type: string;
  /** Source fields as JSON, secret fields encrypted (see security/secrets.ts). */
  source_config: string | null;
  /** Per-account overrides of the workspace notification settings, JSON or null. */
  rules: string | null;
  top_up_url: string | null;
  balance: number | null;
  observed_at: number | null;
  /** Rolling spend state (domain/spend.ts) as JSON, and the estimates derived from it at the newest sample. */
  spend: string | null;
  spend_per_day: number | null;
  runway_days: number | null;
  suggested_threshold: number | null;
  /** Poll schedule of pulled accounts (null for push): interval override, next due time, lease. */
  poll_interval_ms: number | null;
  next_poll_at: number | null;
  poll_lease_owner: string | null;
  poll_lease_until: number | null;
  /** Failed polls in a row; reset by a success. */
  poll_failures: number;
  last_poll_at: number | null;
  /** JSON {kind, message, at, status?} of the last failed poll, null after a success. */
  last_poll_error: string | null;
  /** Push accounts: silence longer than this is `source.failing`. */
  expected_every_ms: number | null;
  /** new-api webhook relay: SHA-256 (hex) of the hook URL's token, and the encrypted signing secret. */
  hook_token_hash: string | null;
  hook_secret: string | null;
  managed: number;
  created_at: number;
  updated_at: number;
}

export interface SamplesTable {
  account_id: string;
  observed_at: number;
  balance: number;
  used: number | null;
  requests: number | null;
  raw: string | null;
  received_at: number;
}

export interface AlertsTable {
  id: string;
  account_id: string;
  workspace_id: string;
  rule: string;
  status: string;
  level: string | null;
  episode: number;
  /** The rest of the state machine's state (maxLevel, floors, reminders) as JSON. */
  state: string;
  /** When a reminder is next due, so a sweep finds due alerts without scanning. */
  next_check_at: number | null;
  balance: number | null;
  fired_at: number | null;
  resolved_at: number | null;
  updated_at: number;
}

export interface ChannelsTable {
  id: string;
  workspace_id: string;
  name: string;
  type: string;
  config: string;
  events: string | null;
  min_level: string | null;
  account_ids: string | null;
  enabled: number;
  /** Per-channel message templates (JSON TemplateSet) or null. */
  template: string | null;
  managed: number;
  /**
   * 1 for the channel balancewatch keeps itself: e-mail to the workspace's admin members (engine/admin-email.ts).
   * Optional in the type because the column defaults to 0: rows written without it are ordinary channels.
   */
  system?: number;
  created_at: number;
  updated_at: number;
}

export interface ChannelRateTable {
  channel_id: string;
  /** JSON array of recent send times (epoch ms), oldest first. */
  sends: string;
  blocked_until: number | null;
}

export interface DeliveriesTable {
  id: string;
  workspace_id: string;
  channel_id: string;
  account_id: string | null;
  alert_id: string | null;
  event: string;
  level: string | null;
  episode: number;
  idempotency_key: string;
  /** The notification as committed (account, balance, threshold…), JSON. */
  payload: string;
  /** pending → delivered | dead | suppressed. */
  status: string;
  /** Deferred by the anti-spam floor: sent only if the alert is still in the same state when due. */
  deferred: number;
  attempts: number;
  next_attempt_at: number;
  lease_owner: string | null;
  lease_until: number | null;
  last_status_code: number | null;
  last_error: string | null;
  last_response: string | null;
  created_at: number;
  updated_at: number;
  delivered_at: number | null;
}

export interface DeliveryAttemptsTable {
  id: string;
  delivery_id: string;
  started_at: number;
  duration_ms: number;
  status_code: number | null;
  response: string | null;
  error: string | null;
  outcome: string;
}

/** A dashboard user (issue #6). `email` is stored lower-cased. */
export interface UsersTable {
  id: string;
  email: string;
  name: string | null;
  /** security/passwords.ts; null while an invited user has not accepted yet. */
  password_hash: string | null;
  /** 1 = instance admin: every workspace, as admin. */
  is_admin: number;
  created_at: number;
  last_login_at: number | null;
}

export type MemberRole = 'admin' | 'viewer';

export interface MembershipsTable {
  user_id: string;
  workspace_id: string;
  role: string;
  created_at: number;
}

/** A login session: the cookie holds the random id, the table its SHA-256. */
export interface SessionsTable {
  id_hash: string;
  user_id: string;
  csrf_token: string;
  created_at: number;
  expires_at: number;
  last_seen_at: number;
}

/** An invitation to a workspace: the link holds the random token, the table its SHA-256. */
export interface InvitesTable {
  token_hash: string;
  workspace_id: string;
  user_id: string;
  role: string;
  created_at: number;
  expires_at: number;
  accepted_at: number | null;
}

export interface MetaTable {
  key: string;
  value: string;
}

export interface Database {
  workspaces: WorkspacesTable;
  api_keys: ApiKeysTable;
  accounts: AccountsTable;
  samples: SamplesTable;
  alerts: AlertsTable;
  channels: ChannelsTable;
  channel_rate: ChannelRateTable;
  deliveries: DeliveriesTable;
  delivery_attempts: DeliveryAttemptsTable;
  meta: MetaTable;
  users: UsersTable;
  memberships: MembershipsTable;
  sessions: SessionsTable;
  invites: InvitesTable;
}
