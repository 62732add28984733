//! User, device and service-principal context on events (`context.user`, `context.device`,
//! `context.service_principal`, `context.target_user`): a directory cache kept in step with
//! Graph's delta queries ([`sync`]) and looked up when an event is made (which objects an event
//! is about is the streams' knowledge: [`crate::streams::subjects`]). The cache is an embedded
//! B-tree on disk beside the state file (`<state>.context-<tenant>.redb`, `0600`), with a small
//! page cache, so 200,000 users and devices cost disk, not heap. A record whose subject is not
//! (yet) in the cache is emitted at once without context, never held back.

pub mod sync;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use redb::{ReadableDatabase, ReadableTable, TableDefinition};
use serde_json::{json, Value};

use crate::event::NativeEvent;
use crate::kind::StreamKind;
use crate::record::Record;
use crate::streams::subjects::ServicePrincipalRef;

/// Object id → the user's context.
const USERS: TableDefinition<&str, &[u8]> = TableDefinition::new("users");
/// `deviceId` (what sign-ins carry) → the device's context.
const DEVICES: TableDefinition<&str, &[u8]> = TableDefinition::new("devices");
/// `id:<object id>` and `app:<appId>` → the service principal's context.
const SERVICE_PRINCIPALS: TableDefinition<&str, &[u8]> = TableDefinition::new("service_principals");
/// Member object id → the names of its directory roles (JSON array).
const MEMBER_ROLES: TableDefinition<&str, &[u8]> = TableDefinition::new("member_roles");
/// Role object id → display name.
const ROLE_NAMES: TableDefinition<&str, &str> = TableDefinition::new("role_names");
/// Collection → the delta link its next round starts from.
const LINKS: TableDefinition<&str, &str> = TableDefinition::new("links");

/// How much of the file the cache keeps in memory.
const PAGE_CACHE_BYTES: usize = 4 << 20;

#[derive(Debug, thiserror::Error)]
pub enum ContextError {
    #[error("cannot open the directory cache {path}: {source}; check the directory's permissions and free space, or set [context] enabled = false")]
    Open { path: PathBuf, source: redb::Error },
    #[error("the directory cache failed: {0}; delete the file to rebuild it from Graph")]
    Store(#[from] redb::Error),
}

fn store<E: Into<redb::Error>>(e: E) -> ContextError {
    ContextError::Store(e.into())
}

/// The directory cache.
pub struct ContextCache {
    db: redb::Database,
    /// Whether anything was ever cached: events skip the lookups until then.
    filled: AtomicBool,
}

/// The collections the cache keeps, in the order a sync reads them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Collection {
    Users,
    Devices,
    ServicePrincipals,
    DirectoryRoles,
}

impl Collection {
    pub const ALL: [Collection; 4] = [
        Collection::Users,
        Collection::Devices,
        Collection::ServicePrincipals,
        Collection::DirectoryRoles,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Collection::Users => "users",
            Collection::Devices => "devices",
            Collection::ServicePrincipals => "servicePrincipals",
            Collection::DirectoryRoles => "directoryRoles",
        }
    }

    /// The narrowest application permission that reads it (or `Directory.Read.All`).
    pub fn permission(self) -> &'static str {
        match self {
            Collection::Users => "User.Read.All",
            Collection::Devices => "Device.Read.All",
            Collection::ServicePrincipals => "Application.Read.All",
            Collection::DirectoryRoles => "RoleManagement.Read.Directory",
        }
    }

    pub fn select(self) -> &'static str {
        match self {
            Collection::Users => crate::streams::inventory::select(StreamKind::Users),
            Collection::Devices => crate::streams::inventory::select(StreamKind::Devices),
            Collection::ServicePrincipals => {
                "id,appId,displayName,servicePrincipalType,accountEnabled"
            }
            Collection::DirectoryRoles => {
                crate::streams::inventory::select(StreamKind::RoleAssignments)
            }
        }
    }
}

/// A tenant's cache file, beside the state file.
pub fn cache_path(state: &Path, tenant: &str) -> PathBuf {
    let safe: String = tenant
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut p = state.as_os_str().to_owned();
    p.push(format!(".context-{safe}.redb"));
    PathBuf::from(p)
}

fn s(r: &Record<'_>, k: &str) -> Value {
    r.str(k)
        .map_or(Value::Null, |v| Value::String(v.into_owned()))
}

fn b(r: &Record<'_>, k: &str) -> Value {
    match r.get(k) {
        Some("true") => Value::Bool(true),
        Some("false") => Value::Bool(false),
        _ => Value::Null,
    }
}

impl ContextCache {
    pub fn open(path: &Path) -> Result<ContextCache, ContextError> {
        let open = |source: redb::Error| ContextError::Open {
            path: path.to_path_buf(),
            source,
        };
        if !path.exists() {
            let mut o = std::fs::OpenOptions::new();
            o.create(true).truncate(false).write(true);
            crate::fs::private_file(&mut o)
                .open(path)
                .map_err(|e| open(redb::StorageError::Io(e).into()))?;
            // redb creates its own header in an empty file.
        }
        let db = redb::Builder::new()
            .set_cache_size(PAGE_CACHE_BYTES)
            .create(path)
            .map_err(|e| open(e.into()))?;
        let cache = ContextCache {
            db,
            filled: AtomicBool::new(false),
        };
        let filled = cache.link(Collection::Users)?.is_some()
            || cache.link(Collection::Devices)?.is_some()
            || cache.link(Collection::ServicePrincipals)?.is_some();
        cache.filled.store(filled, Ordering::Relaxed);
        Ok(cache)
    }

    /// The delta link a collection's next round starts from.
    pub fn link(&self, c: Collection) -> Result<Option<String>, ContextError> {
        let tx = self.db.begin_read().map_err(store)?;
        let t = match tx.open_table(LINKS) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
            Err(e) => return Err(store(e)),
        };
        Ok(t.get(c.name())
            .map_err(store)?
            .map(|v| v.value().to_string()))
    }

    /// One page of a delta round: its objects stored (or removed), and at the round's end its
    /// delta link, in one transaction. A baseline round (`reset`) first forgets the collection.
    pub fn apply(
        &self,
        c: Collection,
        records: &crate::graph::Records,
        reset: bool,
        link: Option<&str>,
    ) -> Result<(), ContextError> {
        let tx = self.db.begin_write().map_err(store)?;
        {
            let table = match c {
                Collection::Users => USERS,
                Collection::Devices => DEVICES,
                Collection::ServicePrincipals => SERVICE_PRINCIPALS,
                Collection::DirectoryRoles => MEMBER_ROLES,
            };
            if reset {
                tx.delete_table(table).map_err(store)?;
                if c == Collection::DirectoryRoles {
                    tx.delete_table(ROLE_NAMES).map_err(store)?;
                }
            }
            let mut t = tx.open_table(table).map_err(store)?;
            let mut names = tx.open_table(ROLE_NAMES).map_err(store)?;
            for r in records.records() {
                let removed = r.get("@removed").is_some();
                let id = r.str("id").map(|v| v.into_owned()).unwrap_or_default();
                match c {
                    Collection::Users if removed => {
                        t.remove(id.as_str()).map_err(store)?;
                    }
                    Collection::Users => {
                        let v = json!({
                            "id": id, "display_name": s(&r, "displayName"),
                            "user_principal_name": s(&r, "userPrincipalName"),
                            "department": s(&r, "department"), "job_title": s(&r, "jobTitle"),
                            "account_enabled": b(&r, "accountEnabled"), "user_type": s(&r, "userType"),
                            "on_premises_synced": b(&r, "onPremisesSyncEnabled"),
                            "created": s(&r, "createdDateTime"),
                        });
                        t.insert(id.as_str(), v.to_string().as_bytes())
                            .map_err(store)?;
                    }
                    Collection::Devices => {
                        // Keyed by deviceId, which a removed device no longer carries: its
                        // entry is found by object id.
                        if removed {
                            let stale: Vec<String> = t
                                .iter()
                                .map_err(store)?
                                .filter_map(Result::ok)
                                .filter(|(_, v)| {
                                    serde_json::from_slice::<Value>(v.value())
                                        .is_ok_and(|v| v["id"] == id.as_str())
                                })
                                .map(|(k, _)| k.value().to_string())
                                .collect();
                            for k in stale {
                                t.remove(k.as_str()).map_err(store)?;
                            }
                            continue;
                        }
                        let key = r
                            .str("deviceId")
                            .map(|v| v.into_owned())
                            .unwrap_or(id.clone());
                        let v = json!({
                            "id": id, "device_id": key, "name": s(&r, "displayName"),
                            "operating_system": s(&r, "operatingSystem"),
                            "operating_system_version": s(&r, "operatingSystemVersion"),
                            "compliant": b(&r, "isCompliant"), "managed": b(&r, "isManaged"),
                            "trust_type": s(&r, "trustType"),
                            "last_seen": s(&r, "approximateLastSignInDateTime"),
                        });
                        t.insert(key.as_str(), v.to_string().as_bytes())
                            .map_err(store)?;
                    }
                    Collection::ServicePrincipals => {
                        let app = r.str("appId").map(|v| v.into_owned());
                        if removed {
                            t.remove(format!("id:{id}").as_str()).map_err(store)?;
                            continue;
                        }
                        let v = json!({
                            "id": id, "app_id": app, "display_name": s(&r, "displayName"),
                            "type": s(&r, "servicePrincipalType"),
                            "account_enabled": b(&r, "accountEnabled"),
                        })
                        .to_string();
                        t.insert(format!("id:{id}").as_str(), v.as_bytes())
                            .map_err(store)?;
                        if let Some(app) = app {
                            t.insert(format!("app:{app}").as_str(), v.as_bytes())
                                .map_err(store)?;
                        }
                    }
                    Collection::DirectoryRoles => {
                        let name = match r.str("displayName") {
                            Some(n) => {
                                names.insert(id.as_str(), n.as_ref()).map_err(store)?;
                                n.into_owned()
                            }
                            None => names
                                .get(id.as_str())
                                .map_err(store)?
                                .map(|v| v.value().to_string())
                                .unwrap_or_default(),
                        };
                        for m in crate::streams::inventory::role_members(&r) {
                            let Some(member) = m.id else { continue };
                            let mut roles: Vec<String> = t
                                .get(member.as_str())
                                .map_err(store)?
                                .and_then(|v| serde_json::from_slice(v.value()).ok())
                                .unwrap_or_default();
                            roles.retain(|n| *n != name);
                            if !m.removed {
                                roles.push(name.clone());
                            }
                            let v = serde_json::to_vec(&roles).unwrap_or_default();
                            t.insert(member.as_str(), v.as_slice()).map_err(store)?;
                        }
                    }
                }
            }
            if let Some(link) = link {
                let mut links = tx.open_table(LINKS).map_err(store)?;
                links.insert(c.name(), link).map_err(store)?;
            }
        }
        tx.commit().map_err(store)?;
        if c != Collection::DirectoryRoles {
            self.filled.store(true, Ordering::Relaxed);
        }
        Ok(())
    }

    /// A reader for one page of events (one read transaction for all their lookups).
    pub fn reader(&self) -> Option<Reader> {
        if !self.filled.load(Ordering::Relaxed) {
            return None;
        }
        self.db.begin_read().ok().map(Reader::new)
    }
}

/// Lookups under one read transaction, its tables opened once.
pub struct Reader {
    users: Option<redb::ReadOnlyTable<&'static str, &'static [u8]>>,
    devices: Option<redb::ReadOnlyTable<&'static str, &'static [u8]>>,
    service_principals: Option<redb::ReadOnlyTable<&'static str, &'static [u8]>>,
    member_roles: Option<redb::ReadOnlyTable<&'static str, &'static [u8]>>,
}

/// A cached value's JSON text (stored as JSON by [`ContextCache::apply`]).
type Text = String;

impl Reader {
    fn new(tx: redb::ReadTransaction) -> Reader {
        Reader {
            users: tx.open_table(USERS).ok(),
            devices: tx.open_table(DEVICES).ok(),
            service_principals: tx.open_table(SERVICE_PRINCIPALS).ok(),
            member_roles: tx.open_table(MEMBER_ROLES).ok(),
        }
    }

    fn get(
        table: &Option<redb::ReadOnlyTable<&'static str, &'static [u8]>>,
        key: &str,
    ) -> Option<Text> {
        let v = table.as_ref()?.get(key).ok()??;
        String::from_utf8(v.value().to_vec()).ok()
    }

    /// The user's JSON with its `admin_roles`, spliced as text (no parse: a lookup was most of
    /// an enriched event's cost when each value went through a tree).
    fn user(&self, id: &str) -> Option<Text> {
        let mut u = Self::get(&self.users, id)?;
        let roles = Self::get(&self.member_roles, id);
        if u.ends_with('}') {
            u.pop();
            u.push_str(",\"admin_roles\":");
            u.push_str(roles.as_deref().unwrap_or("[]"));
            u.push('}');
        }
        Some(u)
    }

    /// The `context` object of an event (JSON text), if its subjects are cached.
    pub fn context_of(&self, kind: StreamKind, r: &Record<'_>) -> Option<String> {
        let subjects = crate::streams::subjects::subjects(kind, r);
        let mut c = String::new();
        let mut put = |k: &str, v: Option<Text>| {
            if let Some(v) = v {
                c.push(if c.is_empty() { '{' } else { ',' });
                c.push('"');
                c.push_str(k);
                c.push_str("\":");
                c.push_str(&v);
            }
        };
        put("user", subjects.user.and_then(|u| self.user(&u)));
        put(
            "device",
            subjects.device.and_then(|d| Self::get(&self.devices, &d)),
        );
        let sp = subjects.service_principal.map(|sp| match sp {
            ServicePrincipalRef::Id(id) => format!("id:{id}"),
            ServicePrincipalRef::App(app) => format!("app:{app}"),
        });
        put(
            "service_principal",
            sp.and_then(|k| Self::get(&self.service_principals, &k)),
        );
        put(
            "target_user",
            subjects.target_user.and_then(|u| self.user(&u)),
        );
        if c.is_empty() {
            return None;
        }
        c.push('}');
        Some(c)
    }

    /// Sets the event's `context` when its subjects are cached.
    pub fn enrich(&self, e: &mut NativeEvent<'_>) {
        e.context = self.context_of(e.summary.stream, &e.record);
    }
}
