//! The schema and its migrations: `PRAGMA user_version` counts the migrations applied.

use super::*;

/// The schema version this build writes (`PRAGMA user_version`).
pub const SCHEMA_VERSION: u32 = 3;

pub(super) const SCHEMA_V1: &str = r#"
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE ms_workspace (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    region     TEXT NOT NULL,
    is_default INTEGER NOT NULL CHECK (is_default IN (0, 1)),
    gmt_create INTEGER NOT NULL
);
CREATE UNIQUE INDEX ms_workspace_one_default ON ms_workspace (region) WHERE is_default = 1;

CREATE TABLE ms_model_permission (
    workspace_id TEXT NOT NULL REFERENCES ms_workspace (id) ON DELETE CASCADE,
    model        TEXT NOT NULL,
    inference    INTEGER NOT NULL,
    fine_tune    INTEGER NOT NULL,
    deploy       INTEGER NOT NULL,
    PRIMARY KEY (workspace_id, model)
);

CREATE TABLE ms_model_limit (
    workspace_id   TEXT NOT NULL REFERENCES ms_workspace (id) ON DELETE CASCADE,
    model          TEXT NOT NULL,
    requests       INTEGER NOT NULL,
    request_period INTEGER NOT NULL,
    tokens         INTEGER,
    usage_period   INTEGER,
    PRIMARY KEY (workspace_id, model)
);

CREATE TABLE ms_member (
    workspace_id   TEXT NOT NULL REFERENCES ms_workspace (id) ON DELETE CASCADE,
    principal_type TEXT NOT NULL CHECK (principal_type IN ('user', 'role')),
    name           TEXT NOT NULL,
    administrator  INTEGER NOT NULL,
    pages          TEXT NOT NULL,
    PRIMARY KEY (workspace_id, principal_type, name)
);

CREATE TABLE ms_api_key (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    workspace_id    TEXT NOT NULL REFERENCES ms_workspace (id),
    name            TEXT NOT NULL,
    owner           TEXT NOT NULL,
    description     TEXT NOT NULL,
    models          TEXT,
    ip_allow        TEXT NOT NULL,
    enabled         INTEGER NOT NULL CHECK (enabled IN (0, 1)),
    disabled_reason TEXT CHECK (disabled_reason IN ('manual', 'member_removed', 'owner_deleted')),
    secret_sha256   TEXT NOT NULL,
    secret_preview  TEXT NOT NULL,
    gmt_create      INTEGER NOT NULL,
    UNIQUE (workspace_id, name)
);
CREATE INDEX ms_api_key_owner ON ms_api_key (owner);

CREATE TABLE ram_user (
    name         TEXT PRIMARY KEY,
    id           TEXT NOT NULL UNIQUE,
    display_name TEXT,
    comments     TEXT,
    create_date  INTEGER NOT NULL
);

CREATE TABLE ram_group (
    name        TEXT PRIMARY KEY,
    id          TEXT NOT NULL UNIQUE,
    comments    TEXT,
    create_date INTEGER NOT NULL
);

CREATE TABLE ram_group_member (
    group_name TEXT NOT NULL REFERENCES ram_group (name),
    user_name  TEXT NOT NULL REFERENCES ram_user (name),
    join_date  INTEGER NOT NULL,
    PRIMARY KEY (group_name, user_name)
);

CREATE TABLE ram_role (
    name                 TEXT PRIMARY KEY,
    id                   TEXT NOT NULL UNIQUE,
    description          TEXT,
    trust_policy         TEXT NOT NULL,
    max_session_duration INTEGER NOT NULL,
    create_date          INTEGER NOT NULL
);

CREATE TABLE ram_policy (
    name            TEXT PRIMARY KEY,
    description     TEXT,
    default_version TEXT NOT NULL,
    next_version    INTEGER NOT NULL,
    create_date     INTEGER NOT NULL,
    update_date     INTEGER NOT NULL
);

CREATE TABLE ram_policy_version (
    policy_name TEXT NOT NULL REFERENCES ram_policy (name) ON DELETE CASCADE,
    version_id  TEXT NOT NULL,
    seq         INTEGER NOT NULL,
    document    TEXT NOT NULL,
    create_date INTEGER NOT NULL,
    PRIMARY KEY (policy_name, version_id)
);

CREATE TABLE ram_attachment (
    principal_type TEXT NOT NULL CHECK (principal_type IN ('user', 'group', 'role')),
    principal_name TEXT NOT NULL,
    policy_name    TEXT NOT NULL,
    policy_type    TEXT NOT NULL CHECK (policy_type IN ('System', 'Custom')),
    attach_date    INTEGER NOT NULL,
    PRIMARY KEY (principal_type, principal_name, policy_name)
);

CREATE TABLE pai_workspace (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    name         TEXT NOT NULL UNIQUE,
    region       TEXT NOT NULL,
    display_name TEXT,
    description  TEXT NOT NULL,
    env_types    TEXT NOT NULL,
    gmt_create   INTEGER NOT NULL
);

CREATE TABLE pai_member (
    member_id    TEXT PRIMARY KEY,
    workspace_id INTEGER NOT NULL REFERENCES pai_workspace (id) ON DELETE CASCADE,
    user_name    TEXT NOT NULL,
    roles        TEXT NOT NULL,
    gmt_create   INTEGER NOT NULL,
    UNIQUE (workspace_id, user_name)
);

CREATE TABLE ledger_apply (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    commit_id  TEXT,
    summary    TEXT NOT NULL,
    applied_at INTEGER NOT NULL
);

CREATE TABLE ledger_ack (
    address  TEXT PRIMARY KEY,
    resource TEXT NOT NULL,
    acked_at INTEGER NOT NULL
);

-- Platform-looking ids: API keys and PAI workspaces count up from here.
INSERT INTO sqlite_sequence (name, seq) VALUES ('ms_api_key', 1858000), ('pai_workspace', 1000);
"#;

/// Indexes for every lookup an operation makes, so each change costs the same however large the
/// account is (without them, key and membership lookups scanned whole tables and apply time grew
/// quadratically).
pub(super) const SCHEMA_V2: &str = r#"
CREATE INDEX ms_api_key_workspace_name ON ms_api_key (workspace_id, name);
CREATE INDEX ms_api_key_secret ON ms_api_key (secret_sha256);
CREATE INDEX ram_group_member_user ON ram_group_member (user_name);
CREATE INDEX ram_attachment_policy ON ram_attachment (policy_name);
CREATE INDEX pai_member_user ON pai_member (user_name);
"#;

/// msctl's run lock (`apply`, `ack`): at most one row, so one run at a time per database. A row
/// left by a killed run stays until `msctl force-unlock ID` removes it.
pub(super) const SCHEMA_V3: &str = r#"
CREATE TABLE msctl_lock (
    slot       INTEGER PRIMARY KEY CHECK (slot = 1),
    id         TEXT NOT NULL,
    holder     TEXT NOT NULL,
    locked_at  INTEGER NOT NULL
);
"#;

/// Migrations, in order: migration `i` takes the schema from version `i` to `i + 1`.
pub(super) const MIGRATIONS: &[&str] = &[SCHEMA_V1, SCHEMA_V2, SCHEMA_V3];

impl Store {
    /// Brings the schema up to [`SCHEMA_VERSION`], seeding default workspaces on creation.
    pub(super) fn migrate(&mut self) -> Result<(), BackendError> {
        let path = self.db.path.clone();
        self.write("prepare the schema", |c| {
            let version: u32 = c.query_row("PRAGMA user_version", [], |r| r.get(0))?;
            if version > SCHEMA_VERSION {
                return Err(invalid(format!(
                    "state database `{path}` has schema version {version}, newer than this \
                     msctl understands ({SCHEMA_VERSION})\nhint: upgrade msctl"
                )));
            }
            for (from, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
                c.execute_batch(sql)?;
                if from == 0 {
                    let now = now_ms();
                    for region in MODEL_STUDIO_REGIONS {
                        let id = format!("ws-{}", random_hex(c, 8)?);
                        c.execute(
                            "INSERT INTO ms_workspace (id, name, region, is_default, gmt_create) \
                             VALUES (?1, ?2, ?3, 1, ?4)",
                            params![id, default_workspace_name(region), region, now],
                        )?;
                    }
                    c.execute(
                        "INSERT INTO meta (key, value) VALUES ('created_at', ?1)",
                        [now.to_string()],
                    )?;
                }
            }
            if version < SCHEMA_VERSION {
                c.pragma_update(None, "user_version", SCHEMA_VERSION)?;
            }
            Ok(())
        })
    }
}

/// msctl's ledger tables alone, for a [`LedgerStore`](super::LedgerStore): the same definitions
/// as in the platform schema (versions 1 and 3), created only where missing, so a ledger file
/// written as a whole platform database (as msctl did before) opens unchanged.
pub(super) const LEDGER_SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS ledger_apply (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    commit_id  TEXT,
    summary    TEXT NOT NULL,
    applied_at INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS ledger_ack (
    address  TEXT PRIMARY KEY,
    resource TEXT NOT NULL,
    acked_at INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS msctl_lock (
    slot       INTEGER PRIMARY KEY CHECK (slot = 1),
    id         TEXT NOT NULL,
    holder     TEXT NOT NULL,
    locked_at  INTEGER NOT NULL
);
"#;
