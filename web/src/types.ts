// Shapes of the /api/v1 answers the dashboard reads (see README "API at a glance" and /api/openapi.json).

export type Role = 'admin' | 'viewer';
export type Level = 'info' | 'warning' | 'critical' | 'depleted';
export type ConfigurableLevel = 'info' | 'warning' | 'critical';
export type Locale = 'en' | 'zh-CN';

export interface SessionInfo {
  user: { id: string; email: string; name: string | null; is_admin: boolean };
  workspaces: { id: string; name: string; role: Role }[];
  csrf_token: string;
}

export interface Workspace {
  id: string;
  name: string;
  external_id: string | null;
  locale: Locale;
  time_zone: string;
  created_at: string;
  updated_at: string;
}

export interface LevelLine {
  level: ConfigurableLevel;
  below: number;
}

export interface NotificationSettings {
  notify_low_balance: boolean;
  low_balance_threshold: number;
  levels: LevelLine[] | null;
  notify_depleted: boolean;
  notify_recovery: boolean;
  recovery_margin: number | null;
  repeat_interval: string | null;
  min_notify_interval: string;
  runway_days: number;
  notify_runway: boolean;
  runway_window: string;
  notify_spike: boolean;
  spike_factor: number;
  spike_min_amount: number | null;
  templates: unknown;
  /** Email the workspace's admins too (dashboard contract; absent on older services). */
  email_admins?: boolean;
}

export interface SourceStatus {
  last_poll_at: string | null;
  next_poll_at: string | null;
  failures: number;
  last_error: { kind: string; message: string; at: string; status: number | null } | null;
}

export interface AccountSource {
  type: string;
  interval?: string;
  fail_after?: number;
  expected_every?: string | null;
  status?: SourceStatus;
  [field: string]: unknown;
}

export interface Account {
  id: string;
  workspace_id: string;
  name: string;
  external_id: string | null;
  currency: string;
  quota_per_unit: number | null;
  source: AccountSource;
  rules: Partial<NotificationSettings> | null;
  top_up_url: string | null;
  balance: number | null;
  observed_at: string | null;
  alert: { status: string; level: Level | null; episode: number };
  spend_per_day: number | null;
  runway_days: number | null;
  suggested_threshold: number | null;
  sparkline?: number[];
  created_at: string;
  updated_at: string;
}

export interface History {
  data: { at: string; balance: number }[];
  threshold_levels: { level: string; below: number }[];
  forecast: { runway_days: number | null; spend_per_day: number | null; zero_at: string | null };
}

export interface PollResult {
  ok: boolean;
  balance?: number;
  currency?: string;
  error?: { kind: string; message: string };
}

export interface Channel {
  id: string;
  workspace_id: string;
  name: string;
  type: string;
  events: string[] | null;
  min_level: Level | null;
  account_ids: string[] | null;
  enabled: boolean;
  created_at: string;
  updated_at: string;
  [field: string]: unknown;
}

export interface TestResult {
  ok: boolean;
  status?: number | null;
  response?: string | null;
  error?: string | null;
  [k: string]: unknown;
}

export interface Alert {
  id: string;
  account_id: string;
  account_name: string;
  rule: string;
  state: 'firing' | 'ok';
  level: Level | null;
  episode: number;
  balance: number | null;
  currency: string;
  fired_at: string | null;
  resolved_at: string | null;
  updated_at: string;
}

export interface Attempt {
  at: string | null;
  duration_ms: number;
  status_code: number | null;
  response: string | null;
  error: string | null;
  outcome: string;
}

export type DeliveryStatus = 'pending' | 'delivered' | 'dead' | 'suppressed';

export interface Delivery {
  id: string;
  workspace_id: string;
  channel_id: string | null;
  account_id: string | null;
  alert_id: string | null;
  event: string;
  level: Level | null;
  idempotency_key: string;
  status: DeliveryStatus;
  deferred: boolean;
  attempts: number;
  next_attempt_at: string | null;
  last_status_code: number | null;
  last_response: string | null;
  last_error: string | null;
  created_at: string;
  delivered_at: string | null;
  attempt_log: Attempt[];
}

export interface ApiKey {
  id: string;
  name: string;
  prefix: string;
  created_at: string;
  last_used_at: string | null;
  revoked_at: string | null;
}

export interface CreatedApiKey extends ApiKey {
  key: string;
}

export interface Member {
  user_id: string;
  email: string;
  name: string | null;
  role: Role;
  invited: boolean;
}

export interface Page<T> {
  data: T[];
  next_cursor?: string | null;
}
