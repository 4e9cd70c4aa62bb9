//! msctl's own tables: the ledger (meta, applies, acknowledgements, owed secrets) and the run
//! lock. They live in the platform [`Store`] of the local backend, and alone in a
//! [`LedgerStore`] for the aliyun backend, whose cloud has no place for them.

use std::collections::BTreeMap;

use super::*;
use crate::ledger::{AppliedRecord, Ledger, LockInfo, OwedSecret};

/// One write of msctl's ledger (see [`Store::write_ledger`]).
#[derive(Debug, Default)]
pub struct LedgerUpdate<'a> {
    pub meta: &'a [(&'a str, String)],
    pub acks: &'a [(String, String)],
    pub unacks: &'a [String],
    /// (commit, summary JSON, time) of a new apply record.
    pub apply: Option<(Option<&'a str>, &'a str, SystemTime)>,
}

/// One recorded apply in msctl's ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplyRecord {
    pub commit: Option<String>,
    pub summary_json: String,
    pub time: SystemTime,
}

/// An acknowledged manual step: the resource as the team confirmed it was done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AckRecord {
    pub address: String,
    pub resource_json: String,
    pub time: SystemTime,
}

impl Db {
    pub fn meta(&self, key: &str) -> Result<Option<String>, BackendError> {
        self.read(&format!("read meta `{key}`"), |c| {
            Ok(
                c.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
                    .optional()?,
            )
        })
    }

    pub fn set_meta(&mut self, key: &str, value: &str) -> Result<(), BackendError> {
        self.write(&format!("write meta `{key}`"), |c| {
            c.execute(
                "INSERT INTO meta (key, value) VALUES (?1, ?2) \
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                params![key, value],
            )?;
            Ok(())
        })
    }

    // ---- msctl's ledger ----------------------------------------------------------------------

    /// Records one apply: the commit it applied (if known), a JSON summary and when.
    pub fn record_apply(
        &mut self,
        commit: Option<&str>,
        summary_json: &str,
        time: SystemTime,
    ) -> Result<(), BackendError> {
        self.write("record an apply", |c| {
            from_json::<Value>(summary_json, "the apply summary").map_err(|_| {
                invalid("failed to record an apply: the summary is not valid JSON".to_string())
            })?;
            c.execute(
                "INSERT INTO ledger_apply (commit_id, summary, applied_at) VALUES (?1, ?2, ?3)",
                params![commit, summary_json, to_ms(time)],
            )?;
            Ok(())
        })
    }

    pub fn last_apply(&self) -> Result<Option<ApplyRecord>, BackendError> {
        self.read("read the last apply", |c| {
            Ok(c.query_row(
                "SELECT commit_id, summary, applied_at FROM ledger_apply ORDER BY id DESC LIMIT 1",
                [],
                |r| {
                    Ok(ApplyRecord {
                        commit: r.get(0)?,
                        summary_json: r.get(1)?,
                        time: from_ms(r.get(2)?),
                    })
                },
            )
            .optional()?)
        })
    }

    /// Writes msctl's ledger in one transaction, so a run killed while recording leaves the old
    /// ledger or the new one, never half of each: `meta` entries, acknowledgements to write
    /// (address, resource JSON) and forget, and a new apply record.
    pub fn write_ledger(&mut self, update: &LedgerUpdate<'_>) -> Result<(), BackendError> {
        self.write("record msctl's ledger", |c| {
            for (key, value) in update.meta {
                c.execute(
                    "INSERT INTO meta (key, value) VALUES (?1, ?2) \
                     ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    params![key, value],
                )?;
            }
            for (address, resource_json) in update.acks {
                from_json::<Value>(resource_json, "the acknowledged resource").map_err(|_| {
                    invalid(format!(
                        "failed to acknowledge `{address}`: the resource is not valid JSON"
                    ))
                })?;
                c.execute(
                    "INSERT INTO ledger_ack (address, resource, acked_at) VALUES (?1, ?2, ?3) \
                     ON CONFLICT (address) DO UPDATE SET resource = excluded.resource, \
                     acked_at = excluded.acked_at",
                    params![address, resource_json, now_ms()],
                )?;
            }
            for address in update.unacks {
                c.execute("DELETE FROM ledger_ack WHERE address = ?1", [address])?;
            }
            if let Some((commit, summary_json, time)) = update.apply {
                from_json::<Value>(summary_json, "the apply summary").map_err(|_| {
                    invalid("failed to record an apply: the summary is not valid JSON".to_string())
                })?;
                c.execute(
                    "INSERT INTO ledger_apply (commit_id, summary, applied_at) VALUES (?1, ?2, ?3)",
                    params![commit, summary_json, to_ms(time)],
                )?;
            }
            Ok(())
        })
    }

    // ---- msctl's run lock --------------------------------------------------------------------

    /// Takes the run lock for `id` (holder record `holder_json`) unless someone holds it:
    /// `None` when taken, else the holder's `(id, holder JSON)`.
    pub fn try_lock_json(
        &mut self,
        id: &str,
        holder_json: &str,
    ) -> Result<Option<(String, String)>, BackendError> {
        self.write("take msctl's run lock", |c| {
            let held: Option<(String, String)> = c
                .query_row(
                    "SELECT id, holder FROM msctl_lock WHERE slot = 1",
                    [],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            if held.is_some() {
                return Ok(held);
            }
            c.execute(
                "INSERT INTO msctl_lock (slot, id, holder, locked_at) VALUES (1, ?1, ?2, ?3)",
                params![id, holder_json, now_ms()],
            )?;
            Ok(None)
        })
    }

    /// Removes the run lock if its id is `id`; returns the removed holder's JSON.
    pub fn unlock_json(&mut self, id: &str) -> Result<Option<String>, BackendError> {
        self.write("release msctl's run lock", |c| {
            let holder: Option<String> = c
                .query_row(
                    "SELECT holder FROM msctl_lock WHERE slot = 1 AND id = ?1",
                    [id],
                    |r| r.get(0),
                )
                .optional()?;
            if holder.is_some() {
                c.execute("DELETE FROM msctl_lock WHERE slot = 1 AND id = ?1", [id])?;
            }
            Ok(holder)
        })
    }

    /// The run lock's holder: `(id, holder JSON)`.
    pub fn lock_holder_json(&self) -> Result<Option<(String, String)>, BackendError> {
        self.read("read msctl's run lock", |c| {
            Ok(c.query_row(
                "SELECT id, holder FROM msctl_lock WHERE slot = 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?)
        })
    }

    /// Records a manual step as done: `resource_json` is the resource as acknowledged.
    pub fn ack(&mut self, address: &str, resource_json: &str) -> Result<(), BackendError> {
        let what = format!("acknowledge `{address}`");
        self.write(&what, |c| {
            from_json::<Value>(resource_json, "the acknowledged resource").map_err(|_| {
                invalid(format!("failed to {what}: the resource is not valid JSON"))
            })?;
            c.execute(
                "INSERT INTO ledger_ack (address, resource, acked_at) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (address) DO UPDATE SET resource = excluded.resource, \
                 acked_at = excluded.acked_at",
                params![address, resource_json, now_ms()],
            )?;
            Ok(())
        })
    }

    /// Every acknowledged manual step, by address.
    pub fn acked(&self) -> Result<Vec<AckRecord>, BackendError> {
        self.read("read acknowledged steps", |c| {
            let mut stmt =
                c.prepare("SELECT address, resource, acked_at FROM ledger_ack ORDER BY address")?;
            let rows = stmt.query_map([], |r| {
                Ok(AckRecord {
                    address: r.get(0)?,
                    resource_json: r.get(1)?,
                    time: from_ms(r.get(2)?),
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    /// Forgets an acknowledgement; returns whether there was one.
    pub fn unack(&mut self, address: &str) -> Result<bool, BackendError> {
        self.write(&format!("forget acknowledgement of `{address}`"), |c| {
            Ok(c.execute("DELETE FROM ledger_ack WHERE address = ?1", [address])? > 0)
        })
    }
}

/// The ledger's tables in the platform database, as the local backend and tests use them.
impl Store {
    /// Records one apply: the commit it applied (if known), a JSON summary and when.
    pub fn record_apply(
        &mut self,
        commit: Option<&str>,
        summary_json: &str,
        time: SystemTime,
    ) -> Result<(), BackendError> {
        self.db.record_apply(commit, summary_json, time)
    }

    pub fn last_apply(&self) -> Result<Option<ApplyRecord>, BackendError> {
        self.db.last_apply()
    }

    /// See [`LedgerUpdate`]: one transaction for the whole ledger write.
    pub fn write_ledger(&mut self, update: &LedgerUpdate<'_>) -> Result<(), BackendError> {
        self.db.write_ledger(update)
    }

    /// Records a manual step as done: `resource_json` is the resource as acknowledged.
    pub fn ack(&mut self, address: &str, resource_json: &str) -> Result<(), BackendError> {
        self.db.ack(address, resource_json)
    }

    /// Every acknowledged manual step, by address.
    pub fn acked(&self) -> Result<Vec<AckRecord>, BackendError> {
        self.db.acked()
    }

    /// Forgets an acknowledgement; returns whether there was one.
    pub fn unack(&mut self, address: &str) -> Result<bool, BackendError> {
        self.db.unack(address)
    }
}

/// Meta key holding the addresses msctl owns (JSON list).
const OWNED_KEY: &str = "msctl.owned";
/// The ledger's record of who the credentials were (see [`Ledger::caller`]).
const CALLER_KEY: &str = "msctl.caller";
/// Meta key holding the regions of owned workspaces (JSON object: address -> region).
const REGIONS_KEY: &str = "msctl.owned_regions";
/// Meta key holding the API-key secrets a run owes (JSON object by address; issue 14).
const OWED_SECRETS_KEY: &str = "msctl.owed_secrets";
/// Meta key holding the API keys rotated out (JSON object: address -> id and time).
const RETIRING_KEY: &str = "msctl.retiring_keys";

/// msctl's [`Ledger`] and run lock as records, read and written through the tables above; the
/// local backend and the aliyun backend's ledger file both go through these.
impl Db {
    pub(crate) fn load_ledger(&self) -> Result<Ledger, BackendError> {
        let owned = match self.meta(OWNED_KEY)? {
            Some(text) => serde_json::from_str(&text).map_err(|e| {
                BackendError::Invalid(format!(
                    "failed to read msctl's ledger in `{}`: {e}",
                    self.path()
                ))
            })?,
            None => Default::default(),
        };
        let regions = match self.meta(REGIONS_KEY)? {
            Some(text) => serde_json::from_str(&text).map_err(|e| {
                BackendError::Invalid(format!(
                    "failed to read msctl's ledger (owned regions) in `{}`: {e}",
                    self.path()
                ))
            })?,
            None => Default::default(),
        };
        let last_apply = match self.last_apply()? {
            // Records are written by `save_ledger` below; one that does not parse is reported.
            Some(record) => Some(serde_json::from_str(&record.summary_json).map_err(|e| {
                BackendError::Invalid(format!(
                    "failed to read the last apply record in `{}`: {e}",
                    self.path()
                ))
            })?),
            None => None,
        };
        let mut acknowledged = BTreeMap::new();
        for ack in self.acked()? {
            let bad = |what: &str| {
                BackendError::Invalid(format!(
                    "failed to read the acknowledgement of `{}` in `{}`: {what}",
                    ack.address,
                    self.path()
                ))
            };
            let address: crate::model::Address =
                ack.address.parse().map_err(|_| bad("not an address"))?;
            let resource: Resource = serde_json::from_str(&ack.resource_json)
                .map_err(|e| bad(&format!("not a resource ({e})")))?;
            acknowledged.insert(address, resource);
        }
        let caller = match self.meta(CALLER_KEY)? {
            Some(text) => Some(serde_json::from_str(&text).map_err(|e| {
                BackendError::Invalid(format!(
                    "failed to read the recorded caller in `{}`: {e}",
                    self.path()
                ))
            })?),
            None => None,
        };
        let owed_secrets = self.owed_secrets()?;
        let retiring = match self.meta(RETIRING_KEY)? {
            Some(text) => serde_json::from_str(&text).map_err(|e| {
                BackendError::Invalid(format!(
                    "failed to read msctl's ledger (retiring API keys) in `{}`: {e}",
                    self.path()
                ))
            })?,
            None => Default::default(),
        };
        Ok(Ledger {
            retiring,
            owned,
            last_apply,
            acknowledged,
            caller,
            regions,
            owed_secrets,
        })
    }

    pub(crate) fn save_ledger(&mut self, ledger: &Ledger) -> Result<(), BackendError> {
        let owned = serde_json::to_string(&ledger.owned).expect("addresses serialise");
        self.set_meta(OWNED_KEY, &owned)?;
        if let Some(caller) = &ledger.caller {
            let json = serde_json::to_string(caller).expect("a caller record serialises");
            self.set_meta(CALLER_KEY, &json)?;
        }
        let regions = serde_json::to_string(&ledger.regions).expect("addresses serialise");
        // Acknowledgements: forget the ones dropped, write the new or changed ones.
        let mut stored: BTreeMap<String, String> = self
            .acked()?
            .into_iter()
            .map(|a| (a.address, a.resource_json))
            .collect();
        let mut acks = Vec::new();
        for (address, resource) in &ledger.acknowledged {
            let json = serde_json::to_string(resource).expect("resources serialise");
            if stored.remove(&address.to_string()).as_ref() != Some(&json) {
                acks.push((address.to_string(), json));
            }
        }
        let unacks: Vec<String> = stored.into_keys().collect();
        let record = match &ledger.last_apply {
            Some(record)
                if self
                    .last_apply()?
                    .and_then(|r| serde_json::from_str::<AppliedRecord>(&r.summary_json).ok())
                    .as_ref()
                    != Some(record) =>
            {
                Some(record)
            }
            _ => None,
        };
        let record_json =
            record.map(|r| serde_json::to_string(r).expect("apply record serialises"));
        let retiring = serde_json::to_string(&ledger.retiring).expect("addresses serialise");
        let meta = [
            (OWNED_KEY, owned),
            (REGIONS_KEY, regions),
            (RETIRING_KEY, retiring),
        ];
        // One transaction: a run killed here leaves the old ledger or the new one.
        self.write_ledger(&LedgerUpdate {
            meta: &meta,
            acks: &acks,
            unacks: &unacks,
            apply: record.zip(record_json.as_deref()).map(|(r, json)| {
                (
                    r.commit.as_deref(),
                    json,
                    UNIX_EPOCH + Duration::from_secs(r.time),
                )
            }),
        })
    }

    fn parse_lock(&self, id: &str, json: &str) -> Result<LockInfo, BackendError> {
        serde_json::from_str(json).map_err(|e| {
            BackendError::Invalid(format!(
                "failed to read the holder of lock {id} in `{}`: {e}\n\
                 hint: `msctl force-unlock {id}` removes the lock",
                self.path()
            ))
        })
    }

    /// Takes the run lock for `holder` unless someone holds it: `None` when taken, else the
    /// holder.
    pub(crate) fn try_lock(&mut self, holder: &LockInfo) -> Result<Option<LockInfo>, BackendError> {
        let json = serde_json::to_string(holder).expect("lock records serialise");
        match self.try_lock_json(&holder.id, &json)? {
            None => Ok(None),
            Some((id, json)) => self.parse_lock(&id, &json).map(Some),
        }
    }

    /// Removes the run lock if its id is `id`; returns the removed holder.
    pub(crate) fn unlock(&mut self, id: &str) -> Result<Option<LockInfo>, BackendError> {
        match self.unlock_json(id)? {
            None => Ok(None),
            // The lock is gone either way; an unreadable record still names its id.
            Some(json) => Ok(Some(self.parse_lock(id, &json).unwrap_or(LockInfo {
                id: id.to_string(),
                host: "unknown".to_string(),
                pid: 0,
                started: 0,
                commit: None,
                command: "unknown".to_string(),
            }))),
        }
    }

    pub(crate) fn lock_holder(&self) -> Result<Option<LockInfo>, BackendError> {
        match self.lock_holder_json()? {
            None => Ok(None),
            Some((id, json)) => self.parse_lock(&id, &json).map(Some),
        }
    }

    /// The owed secrets recorded in this ledger database.
    pub(crate) fn owed_secrets(&self) -> Result<BTreeMap<String, OwedSecret>, BackendError> {
        match self.meta(OWED_SECRETS_KEY)?.filter(|t| !t.is_empty()) {
            Some(text) => serde_json::from_str(&text).map_err(|e| {
                BackendError::Invalid(format!(
                    "failed to read the owed API-key secrets in msctl's ledger `{}`: {e}",
                    self.path()
                ))
            }),
            None => Ok(Default::default()),
        }
    }

    /// Records (`Some`) or clears (`None`) the secret owed for `address`, at once and on its
    /// own: it must survive the process being killed the next moment.
    pub(crate) fn set_owed_secret(
        &mut self,
        address: &str,
        owed: Option<OwedSecret>,
    ) -> Result<(), BackendError> {
        let mut all = self.owed_secrets()?;
        match owed {
            Some(o) => {
                all.insert(address.to_string(), o);
            }
            None => {
                if all.remove(address).is_none() {
                    return Ok(());
                }
            }
        }
        let json = serde_json::to_string(&all).expect("owed secrets serialise");
        self.set_meta(OWED_SECRETS_KEY, &json)
    }
}

/// msctl's ledger and run lock alone in a SQLite file: the ledger tables without the platform
/// schema or its seeded default workspaces. The aliyun backend keeps its ledger here.
pub struct LedgerStore {
    db: Db,
}

impl std::fmt::Debug for LedgerStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LedgerStore")
            .field("path", &self.db.path)
            .finish()
    }
}

impl LedgerStore {
    /// Opens (creating if needed, with parent directories and tables) the ledger at `path`; a
    /// whole platform database (the local backend's state, or an older aliyun ledger) opens too.
    pub fn open(path: impl AsRef<Path>) -> Result<LedgerStore, BackendError> {
        Self::prepared(Db::open(path.as_ref(), DEFAULT_BUSY_TIMEOUT)?)
    }

    /// A private in-memory ledger, for tests.
    pub fn open_in_memory() -> Result<LedgerStore, BackendError> {
        Self::prepared(Db::open_in_memory()?)
    }

    fn prepared(mut db: Db) -> Result<LedgerStore, BackendError> {
        let path = db.path.clone();
        db.write("prepare the ledger tables", |c| {
            let version: u32 = c.query_row("PRAGMA user_version", [], |r| r.get(0))?;
            if version > SCHEMA_VERSION {
                return Err(invalid(format!(
                    "ledger database `{path}` has schema version {version}, newer than this \
                     msctl understands ({SCHEMA_VERSION})\nhint: upgrade msctl"
                )));
            }
            c.execute_batch(LEDGER_SCHEMA)?;
            Ok(())
        })?;
        Ok(LedgerStore { db })
    }

    /// The database file, as shown in messages.
    pub fn path(&self) -> &str {
        self.db.path()
    }

    /// The raw connection, for diagnostics and tests.
    pub fn connection(&self) -> &Connection {
        &self.db.conn
    }

    pub fn load_ledger(&self) -> Result<Ledger, BackendError> {
        self.db.load_ledger()
    }

    pub fn save_ledger(&mut self, ledger: &Ledger) -> Result<(), BackendError> {
        self.db.save_ledger(ledger)
    }

    /// Takes the run lock unless someone holds it: `None` when taken, else the holder.
    pub fn try_lock(&mut self, holder: &LockInfo) -> Result<Option<LockInfo>, BackendError> {
        self.db.try_lock(holder)
    }

    /// Removes the run lock if its id is `id`; returns the removed holder.
    pub fn unlock(&mut self, id: &str) -> Result<Option<LockInfo>, BackendError> {
        self.db.unlock(id)
    }

    pub fn lock_holder(&self) -> Result<Option<LockInfo>, BackendError> {
        self.db.lock_holder()
    }

    pub fn owed_secrets(&self) -> Result<BTreeMap<String, OwedSecret>, BackendError> {
        self.db.owed_secrets()
    }

    /// Records (`Some`) or clears (`None`) the secret owed for `address`, durably at once.
    pub fn set_owed_secret(
        &mut self,
        address: &str,
        owed: Option<OwedSecret>,
    ) -> Result<(), BackendError> {
        self.db.set_owed_secret(address, owed)
    }
}
