//! The platform model in SQLite: Model Studio, RAM and PAI objects with their ids and rules.
//!
//! The store is shaped like the platform's operations (create a workspace and get its id, list
//! keys, attach a policy, ...) so that both the local backend and the HTTP emulator drive it.
//! Every change runs in one `BEGIN IMMEDIATE` transaction: it happens completely or not at all,
//! and two processes writing the same file queue behind SQLite's lock (WAL mode, busy timeout)
//! instead of corrupting it. The platform's rules (domain.md) are enforced here, once, and come
//! back as [`BackendError`] kinds.
//!
//! One file per part of the platform: `schema` (tables and migrations), `modelstudio`
//! (workspaces, model permissions and limits, members), `apikeys`, `ram` (users, groups, roles),
//! `ram_policy` (policies, versions, attachments), `pai`, and `ledger` (msctl's own tables and
//! run lock, also served alone by [`LedgerStore`] for the aliyun backend).

use std::collections::{BTreeSet, HashMap};
use std::fs;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::{
    Connection, ErrorCode, OptionalExtension, Transaction, TransactionBehavior, params,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::model::{
    ApiKey, Attachment, GroupMember, Member, ModelLimit, ModelPermission, PaiMember, PaiWorkspace,
    PolicyType, Principal, RamGroup, RamPolicy, RamRole, RamUser, Resource, State, Workspace,
};
use crate::model::{BackendError, ReadScope};

/// How long a write waits for another process's transaction before giving up as `Locked`.
pub const DEFAULT_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

pub use crate::model::platform::{
    IP_ALLOW_REGION as IP_ALLOW_LIST_REGION, PAI_ROLES, REGIONS as MODEL_STUDIO_REGIONS,
    SYSTEM_POLICIES, default_workspace_name, is_system_policy,
};

/// A custom policy keeps at most this many versions.
pub const MAX_POLICY_VERSIONS: i64 = 5;

mod apikeys;
mod ledger;
mod modelstudio;
mod pai;
mod ram;
mod ram_policy;
mod schema;

pub use apikeys::*;
pub use ledger::*;
pub use modelstudio::*;
pub use pai::*;
pub use ram::*;
pub use ram_policy::*;
pub use schema::*;

/// Why a step inside a transaction failed, before the database path is attached.
#[derive(Debug)]
enum Fail {
    Backend(BackendError),
    Sql(rusqlite::Error),
    /// The database holds something this build cannot read back.
    Corrupt(String),
}

impl From<BackendError> for Fail {
    fn from(e: BackendError) -> Self {
        Fail::Backend(e)
    }
}

impl From<rusqlite::Error> for Fail {
    fn from(e: rusqlite::Error) -> Self {
        Fail::Sql(e)
    }
}

type Step<T> = Result<T, Fail>;

fn refused(message: String) -> Fail {
    Fail::Backend(BackendError::Refused(message))
}

fn conflict(message: String) -> Fail {
    Fail::Backend(BackendError::Conflict(message))
}

fn not_found(message: String) -> Fail {
    Fail::Backend(BackendError::NotFound(message))
}

fn invalid(message: String) -> Fail {
    Fail::Backend(BackendError::Invalid(message))
}

/// Attaches the database path and a hint to a failure.
fn finish(path: &str, what: &str, fail: Fail) -> BackendError {
    match fail {
        Fail::Backend(e) => e,
        Fail::Corrupt(m) => BackendError::Transport(format!(
            "failed to {what}: state database `{path}` holds unreadable data: {m}\n\
             hint: restore the file from a backup"
        )),
        Fail::Sql(e) => match e.sqlite_error_code() {
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => {
                BackendError::Locked(format!(
                    "failed to {what}: state database `{path}` is locked because another msctl \
                     process is applying changes to it\n\
                     hint: wait for that apply to finish, then run this again"
                ))
            }
            Some(ErrorCode::NotADatabase) => BackendError::Transport(format!(
                "failed to {what}: `{path}` is not an msctl state database ({e})\n\
                 hint: point msctl at another state file, or move this one away"
            )),
            Some(ErrorCode::ConstraintViolation) => {
                BackendError::Conflict(format!("failed to {what}: {e}"))
            }
            _ => BackendError::Transport(format!(
                "failed to {what} in state database `{path}`: {e}\n\
                 hint: check that the file is readable and writable and the disk is not full"
            )),
        },
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

fn to_ms(time: SystemTime) -> i64 {
    match time.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_millis()).unwrap_or(i64::MAX),
    }
}

fn from_ms(ms: i64) -> SystemTime {
    if ms >= 0 {
        UNIX_EPOCH + Duration::from_millis(ms.unsigned_abs())
    } else {
        UNIX_EPOCH - Duration::from_millis(ms.unsigned_abs())
    }
}

fn to_json<T: Serialize>(value: &T) -> Step<String> {
    serde_json::to_string(value).map_err(|e| invalid(format!("failed to encode JSON: {e}")))
}

fn from_json<T: DeserializeOwned>(text: &str, what: &str) -> Step<T> {
    serde_json::from_str(text).map_err(|e| Fail::Corrupt(format!("{what} is not valid JSON: {e}")))
}

fn to_i64(value: u64, what: &str) -> Step<i64> {
    i64::try_from(value).map_err(|_| invalid(format!("{what} {value} is too large")))
}

fn to_u64(value: i64, what: &str) -> Step<u64> {
    u64::try_from(value).map_err(|_| Fail::Corrupt(format!("{what} {value} is negative")))
}

fn to_u32(value: i64, what: &str) -> Step<u32> {
    u32::try_from(value).map_err(|_| Fail::Corrupt(format!("{what} {value} is out of range")))
}

fn principal_from(kind: &str, name: String) -> Step<Principal> {
    match kind {
        "user" => Ok(Principal::User(name)),
        "group" => Ok(Principal::Group(name)),
        "role" => Ok(Principal::Role(name)),
        other => Err(Fail::Corrupt(format!("unknown principal type `{other}`"))),
    }
}

fn policy_type_from(s: &str) -> Step<PolicyType> {
    match s {
        "System" => Ok(PolicyType::System),
        "Custom" => Ok(PolicyType::Custom),
        other => Err(Fail::Corrupt(format!("unknown policy type `{other}`"))),
    }
}

fn random_hex(c: &Connection, bytes: u32) -> Step<String> {
    Ok(c.query_row("SELECT lower(hex(randomblob(?1)))", [bytes], |r| r.get(0))?)
}

/// A 16-digit numeric id, like RAM's user, group and role ids.
fn random_numeric_id(c: &Connection) -> Step<String> {
    let n: i64 = c.query_row(
        "SELECT abs(random() % 9000000000000000) + 1000000000000000",
        [],
        |r| r.get(0),
    )?;
    Ok(n.to_string())
}

fn optional_filter(sql: &str, filtered: bool) -> String {
    const OR: &str = "?1 IS NULL OR ";
    const EQ: &str = " = ?1";
    let Some(start) = sql.find(OR) else {
        return sql.to_string();
    };
    let rest = &sql[start + OR.len()..];
    let Some(end) = rest.find(EQ) else {
        return sql.to_string();
    };
    let condition = if filtered {
        &rest[..end + EQ.len()]
    } else {
        "?1 IS NULL"
    };
    format!("{}{condition}{}", &sql[..start], &rest[end + EQ.len()..])
}

/// One SQLite connection with msctl's setup (WAL, busy timeout, foreign keys) and its
/// transaction discipline; the platform [`Store`] and the [`LedgerStore`] are both built on it.
pub(crate) struct Db {
    conn: Connection,
    /// The database file as shown in messages (`:memory:` for in-memory stores).
    path: String,
}

impl Db {
    /// Opens (creating if needed, with parent directories) the database file at `path`.
    fn open(path: &Path, busy_timeout: Duration) -> Result<Db, BackendError> {
        let shown = path.display().to_string();
        if let Some(parent) = path.parent()
            && !parent.as_os_str().is_empty()
        {
            fs::create_dir_all(parent).map_err(|e| {
                BackendError::Transport(format!(
                    "failed to create directory `{}` for state database `{shown}`: {e}\n\
                     hint: check that the parent directory is writable",
                    parent.display()
                ))
            })?;
        }
        let conn = Connection::open(path).map_err(|e| {
            BackendError::Transport(format!(
                "failed to open state database `{shown}`: {e}\n\
                 hint: check that the path names a writable file, not a directory"
            ))
        })?;
        Self::init(conn, shown, busy_timeout)
    }

    /// A private in-memory database.
    fn open_in_memory() -> Result<Db, BackendError> {
        let conn = Connection::open_in_memory().map_err(|e| {
            BackendError::Transport(format!("failed to open in-memory state database: {e}"))
        })?;
        Self::init(conn, ":memory:".to_string(), DEFAULT_BUSY_TIMEOUT)
    }

    fn init(conn: Connection, path: String, busy_timeout: Duration) -> Result<Db, BackendError> {
        let db = Db { conn, path };
        let setup = |c: &Connection| -> Step<()> {
            // The timeout comes first: switching to WAL itself may wait for another process.
            c.busy_timeout(busy_timeout)?;
            let _mode: String = c.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
            // NORMAL is durable enough in WAL mode: a crash may lose the last commit, never
            // corrupt the file.
            c.pragma_update(None, "synchronous", "NORMAL")?;
            c.pragma_update(None, "foreign_keys", "ON")?;
            Ok(())
        };
        setup(&db.conn).map_err(|e| match e {
            Fail::Sql(ref sql)
                if !matches!(
                    sql.sqlite_error_code(),
                    Some(
                        ErrorCode::DatabaseBusy
                            | ErrorCode::DatabaseLocked
                            | ErrorCode::NotADatabase
                    )
                ) =>
            {
                BackendError::Transport(format!(
                    "failed to open state database `{}`: {sql}\n\
                     hint: check that the path names a writable file, not a directory",
                    db.path
                ))
            }
            other => finish(&db.path, "open the state database", other),
        })?;
        Ok(db)
    }

    /// Runs `f` in one `BEGIN IMMEDIATE` transaction: committed if it succeeds, rolled back if not.
    fn write<T>(
        &mut self,
        what: &str,
        f: impl FnOnce(&Transaction<'_>) -> Step<T>,
    ) -> Result<T, BackendError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| finish(&self.path, what, e.into()))?;
        let out = f(&tx).map_err(|e| finish(&self.path, what, e))?;
        tx.commit()
            .map_err(|e| finish(&self.path, what, e.into()))?;
        Ok(out)
    }

    /// Runs `f` in one read transaction, so it sees a single consistent snapshot.
    fn read<T>(
        &self,
        what: &str,
        f: impl FnOnce(&Connection) -> Step<T>,
    ) -> Result<T, BackendError> {
        let tx = self
            .conn
            .unchecked_transaction()
            .map_err(|e| finish(&self.path, what, e.into()))?;
        let out = f(&tx).map_err(|e| finish(&self.path, what, e))?;
        tx.commit()
            .map_err(|e| finish(&self.path, what, e.into()))?;
        Ok(out)
    }

    /// The database file, as shown in messages.
    pub(crate) fn path(&self) -> &str {
        &self.path
    }

    fn schema_version(&self) -> Result<u32, BackendError> {
        self.read("read the schema version", |c| {
            Ok(c.query_row("PRAGMA user_version", [], |r| r.get(0))?)
        })
    }
}

/// The platform model in one SQLite database.
pub struct Store {
    db: Db,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.db.path)
            .finish()
    }
}

impl Store {
    /// Opens (creating if needed, with parent directories and schema) the database at `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<Store, BackendError> {
        Self::open_with_timeout(path, DEFAULT_BUSY_TIMEOUT)
    }

    /// Like [`Store::open`], waiting at most `busy_timeout` for another process's lock.
    pub fn open_with_timeout(
        path: impl AsRef<Path>,
        busy_timeout: Duration,
    ) -> Result<Store, BackendError> {
        Self::migrated(Db::open(path.as_ref(), busy_timeout)?)
    }

    /// A private in-memory database, for tests.
    pub fn open_in_memory() -> Result<Store, BackendError> {
        Self::migrated(Db::open_in_memory()?)
    }

    fn migrated(db: Db) -> Result<Store, BackendError> {
        let mut store = Store { db };
        store.migrate()?;
        Ok(store)
    }

    fn write<T>(
        &mut self,
        what: &str,
        f: impl FnOnce(&Transaction<'_>) -> Step<T>,
    ) -> Result<T, BackendError> {
        self.db.write(what, f)
    }

    fn read<T>(
        &self,
        what: &str,
        f: impl FnOnce(&Connection) -> Step<T>,
    ) -> Result<T, BackendError> {
        self.db.read(what, f)
    }

    /// The database file, as shown in messages.
    pub fn path(&self) -> &str {
        self.db.path()
    }

    /// The raw connection, for out-of-band changes in tests and for diagnostics.
    pub fn connection(&self) -> &Connection {
        &self.db.conn
    }

    /// msctl's ledger tables in this database (see [`LedgerStore`] for the same tables alone).
    pub(crate) fn ledger_db(&self) -> &Db {
        &self.db
    }

    pub(crate) fn ledger_db_mut(&mut self) -> &mut Db {
        &mut self.db
    }

    pub fn schema_version(&self) -> Result<u32, BackendError> {
        self.db.schema_version()
    }

    pub fn meta(&self, key: &str) -> Result<Option<String>, BackendError> {
        self.db.meta(key)
    }

    pub fn set_meta(&mut self, key: &str, value: &str) -> Result<(), BackendError> {
        self.db.set_meta(key, value)
    }

    // ---- Bulk read ---------------------------------------------------------------------------

    /// Every resource in `scope`, read in one snapshot with one query per table.
    pub fn snapshot(&self, scope: &ReadScope) -> Result<State, BackendError> {
        self.read("read live state", |c| {
            let mut state = State::default();
            if !scope.regions.is_empty() {
                read_model_studio(c, &scope.regions, &mut state)?;
            }
            if scope.ram {
                read_ram(c, &mut state)?;
            }
            if !scope.pai_regions.is_empty() {
                let workspaces: HashMap<String, PaiWorkspaceRecord> = list_pai_workspaces(c, None)?
                    .into_iter()
                    .filter(|w| scope.pai_regions.contains(&w.region))
                    .map(|w| (w.id.clone(), w))
                    .collect();
                for m in list_pai_members(c, None)? {
                    if let Some(ws) = workspaces.get(&m.workspace_id) {
                        state.insert(Resource::PaiMember(PaiMember {
                            workspace: ws.name.clone(),
                            user: m.user,
                            roles: m.roles,
                        }));
                    }
                }
                for ws in workspaces.into_values() {
                    state.insert(Resource::PaiWorkspace(PaiWorkspace {
                        name: ws.name,
                        region: ws.region,
                        display_name: ws.display_name,
                        description: ws.description,
                        env_types: ws.env_types,
                    }));
                }
            }
            Ok(state)
        })
    }
}

#[cfg(test)]
mod tests;
