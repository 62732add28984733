//! The simulated directory and its delta queries (docs-contrib `concepts/delta-query-overview.md`,
//! `api/user-delta.md`, `api/device-delta.md`, `api/directoryrole-delta.md`): users, devices and
//! activated directory roles with their members. A round without a token lists every object,
//! page by page (`Prefer: odata.maxpagesize`, at most 999), and ends with an
//! `@odata.deltaLink`; a round with `$deltatoken` returns only what changed since (`@removed`
//! for a deleted object or a removed role member). Tests change objects between rounds and
//! expire the tokens: Graph then answers 410 and the client must resync from scratch.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::rng::{Rng, PEOPLE};
use crate::Simulator;

/// A delta-capable collection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DirectoryKind {
    Users,
    Devices,
    ServicePrincipals,
    DirectoryRoles,
}

impl DirectoryKind {
    pub fn segment(self) -> &'static str {
        match self {
            DirectoryKind::Users => "users",
            DirectoryKind::Devices => "devices",
            DirectoryKind::ServicePrincipals => "servicePrincipals",
            DirectoryKind::DirectoryRoles => "directoryRoles",
        }
    }

    pub(crate) fn from_segment(s: &str) -> Option<DirectoryKind> {
        [
            DirectoryKind::Users,
            DirectoryKind::Devices,
            DirectoryKind::ServicePrincipals,
            DirectoryKind::DirectoryRoles,
        ]
        .into_iter()
        .find(|k| k.segment().eq_ignore_ascii_case(s))
    }

    /// The application permissions that read it (the narrow one, or Directory.Read.All).
    pub(crate) fn roles(self) -> [&'static str; 2] {
        match self {
            DirectoryKind::Users => ["User.Read.All", "Directory.Read.All"],
            DirectoryKind::Devices => ["Device.Read.All", "Directory.Read.All"],
            DirectoryKind::ServicePrincipals => ["Application.Read.All", "Directory.Read.All"],
            DirectoryKind::DirectoryRoles => {
                ["RoleManagement.Read.Directory", "Directory.Read.All"]
            }
        }
    }

    fn odata_type(self) -> &'static str {
        match self {
            DirectoryKind::Users => "#microsoft.graph.user",
            DirectoryKind::Devices => "#microsoft.graph.device",
            DirectoryKind::ServicePrincipals => "#microsoft.graph.servicePrincipal",
            DirectoryKind::DirectoryRoles => "#microsoft.graph.directoryRole",
        }
    }
}

/// One object and the change that last touched it.
#[derive(Debug, Clone)]
pub(crate) struct DirObject {
    pub json: Value,
    pub changed: u64,
    pub deleted: bool,
}

/// A role member and the change that last touched the membership.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Membership {
    pub changed: u64,
    pub removed: bool,
}

#[derive(Debug, Default)]
pub(crate) struct Directory {
    /// The change counter: every change takes the next number; a delta token is one.
    pub seq: u64,
    pub objects: BTreeMap<DirectoryKind, BTreeMap<String, DirObject>>,
    /// Role id → member id → membership.
    pub members: BTreeMap<String, BTreeMap<String, Membership>>,
    /// Tokens older than this get 410 (the client must resync).
    pub expired_before: u64,
}

/// The activated roles a seeded tenant has: (role template id, display name).
pub const ROLES: &[(&str, &str)] = &[
    (
        "62e90394-69f5-4237-9190-012177145e10",
        "Global Administrator",
    ),
    (
        "e8611ab8-c189-46e8-94e1-60213ab1f814",
        "Privileged Role Administrator",
    ),
    ("fe930be7-5e62-47db-91af-98c3a49a38b1", "User Administrator"),
];

impl Directory {
    fn next(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    pub(crate) fn put(&mut self, kind: DirectoryKind, json: Value) {
        let id = json["id"].as_str().unwrap_or_default().to_string();
        let changed = self.next();
        self.objects.entry(kind).or_default().insert(
            id,
            DirObject {
                json,
                changed,
                deleted: false,
            },
        );
    }

    fn seed(&mut self, rng: &mut Rng, users: usize, devices: usize) {
        for i in 0..users {
            let (name, upn) = PEOPLE[i % PEOPLE.len()];
            let (name, upn) = if i < PEOPLE.len() {
                (name.to_string(), upn.to_string())
            } else {
                let (local, domain) = upn.split_once('@').unwrap_or((upn, "contoso.com"));
                (format!("{name} {i}"), format!("{local}{i}@{domain}"))
            };
            let user = user(rng, &name, &upn, i);
            self.put(DirectoryKind::Users, user);
        }
        for i in 0..devices {
            let device = device(rng, i);
            self.put(DirectoryKind::Devices, device);
        }
        for (i, name) in ["contoso-automation", "Contoso HR Connector", "Backup Agent"]
            .iter()
            .enumerate()
        {
            let sp = json!({
                "@odata.type": "#microsoft.graph.servicePrincipal",
                "id": rng.guid(),
                "appId": rng.guid(),
                "displayName": name,
                "servicePrincipalType": if i == 2 { "ManagedIdentity" } else { "Application" },
                "accountEnabled": true
            });
            self.put(DirectoryKind::ServicePrincipals, sp);
        }
        for (template, name) in ROLES {
            let id = rng.guid();
            self.put(
                DirectoryKind::DirectoryRoles,
                json!({"id": id, "displayName": name, "description": format!("{name} role"), "roleTemplateId": template}),
            );
        }
        // The first user is a Global Administrator, the second a User Administrator.
        let users: Vec<String> = self.ids(DirectoryKind::Users).into_iter().take(2).collect();
        for (user, role) in users
            .iter()
            .zip(["Global Administrator", "User Administrator"])
        {
            if let Some(id) = self.role_id(role) {
                self.set_member(&id, user, true);
            }
        }
    }

    /// The id of the activated role named `name`.
    fn role_id(&self, name: &str) -> Option<String> {
        self.objects
            .get(&DirectoryKind::DirectoryRoles)
            .into_iter()
            .flatten()
            .find(|(_, o)| o.json["displayName"] == name)
            .map(|(id, _)| id.clone())
    }

    pub(crate) fn ids(&self, kind: DirectoryKind) -> Vec<String> {
        self.objects
            .get(&kind)
            .into_iter()
            .flatten()
            .filter(|(_, o)| !o.deleted)
            .map(|(id, _)| id.clone())
            .collect()
    }

    pub(crate) fn set_member(&mut self, role: &str, member: &str, present: bool) {
        let changed = self.next();
        self.members.entry(role.to_string()).or_default().insert(
            member.to_string(),
            Membership {
                changed,
                removed: !present,
            },
        );
        if let Some(o) = self
            .objects
            .get_mut(&DirectoryKind::DirectoryRoles)
            .and_then(|m| m.get_mut(role))
        {
            o.changed = changed;
        }
    }

    /// One page of a round after `token` (all live objects for a baseline), in id order: the
    /// objects from `offset`, at most `size`, and whether more follow. Only the page's objects
    /// are copied (a baseline of 200,000 users is 200 pages).
    pub(crate) fn round(
        &self,
        kind: DirectoryKind,
        token: Option<u64>,
        (offset, size): (usize, usize),
    ) -> (Vec<Value>, bool) {
        let since = token.unwrap_or(0);
        let mut out = Vec::new();
        let mut more = false;
        let in_round = |o: &&DirObject| {
            !(token.is_none() && o.deleted || o.changed <= since && token.is_some())
        };
        for (id, o) in self
            .objects
            .get(&kind)
            .into_iter()
            .flatten()
            .filter(|(_, o)| in_round(o))
            .skip(offset)
        {
            if out.len() == size {
                more = true;
                break;
            }
            if o.deleted {
                out.push(json!({"@odata.type": kind.odata_type(), "id": id, "@removed": {"reason": "changed"}}));
                continue;
            }
            let mut v = o.json.clone();
            if kind == DirectoryKind::DirectoryRoles {
                let members: Vec<Value> = self
                    .members
                    .get(id)
                    .into_iter()
                    .flatten()
                    .filter(|(_, m)| {
                        if token.is_some() {
                            m.changed > since
                        } else {
                            !m.removed
                        }
                    })
                    .map(|(member, m)| {
                        let mut e = json!({"@odata.type": "#microsoft.graph.user", "id": member});
                        if m.removed {
                            e["@removed"] = json!({"reason": "deleted"});
                        }
                        e
                    })
                    .collect();
                v["members@delta"] = Value::Array(members);
            }
            out.push(v);
        }
        (out, more)
    }
}

fn user(rng: &mut Rng, name: &str, upn: &str, i: usize) -> Value {
    const DEPARTMENTS: &[(&str, &str)] = &[
        ("Finance", "Accountant"),
        ("Security Operations", "SOC Analyst"),
        ("Engineering", "Software Engineer"),
        ("Sales", "Account Executive"),
    ];
    let (department, title) = DEPARTMENTS[i % DEPARTMENTS.len()];
    json!({
        "@odata.type": "#microsoft.graph.user",
        "id": rng.guid(),
        "displayName": name,
        "userPrincipalName": upn,
        "department": department,
        "jobTitle": title,
        "accountEnabled": true,
        "userType": if i % 9 == 8 { "Guest" } else { "Member" },
        "onPremisesSyncEnabled": if i.is_multiple_of(3) { Value::Bool(true) } else { Value::Null },
        "createdDateTime": "2024-03-01T09:00:00Z",
        "mail": upn
    })
}

fn device(rng: &mut Rng, i: usize) -> Value {
    const OS: &[(&str, &str, &str)] = &[
        ("Windows", "10.0.22631.3296", "AzureAd"),
        ("MacMDM", "14.4.1", "Workplace"),
        ("iOS", "17.4.1", "Workplace"),
        ("Windows", "10.0.19045.4170", "ServerAd"),
    ];
    let (os, version, trust) = OS[i % OS.len()];
    json!({
        "@odata.type": "#microsoft.graph.device",
        "id": rng.guid(),
        "deviceId": rng.guid(),
        "displayName": format!("CONTOSO-{i:04}"),
        "operatingSystem": os,
        "operatingSystemVersion": version,
        "isCompliant": i % 5 != 4,
        "isManaged": i % 7 != 6,
        "trustType": trust,
        "accountEnabled": true,
        "approximateLastSignInDateTime": "2026-11-30T08:00:00Z"
    })
}

impl Simulator {
    /// Seeds the directory: `users` users, `devices` devices, three activated roles with two
    /// members (the first user a Global Administrator).
    pub fn directory_seed(&self, users: usize, devices: usize) {
        let mut st = self.state();
        let mut rng = Rng::new(0x5eed ^ st.directory.seq);
        st.directory.seed(&mut rng, users, devices);
    }

    /// The ids of the live objects of `kind`, in id order.
    pub fn directory_ids(&self, kind: DirectoryKind) -> Vec<String> {
        self.state().directory.ids(kind)
    }

    /// A live object of `kind`, as Graph holds it.
    pub fn directory_object(&self, kind: DirectoryKind, id: &str) -> Option<Value> {
        let st = self.state();
        let o = st.directory.objects.get(&kind)?.get(id)?;
        (!o.deleted).then(|| o.json.clone())
    }

    /// Merges `patch` into an object (a change the next delta round returns).
    pub fn directory_update(&self, kind: DirectoryKind, id: &str, patch: Value) -> bool {
        let mut st = self.state();
        let d = &mut st.directory;
        let Some(mut json) = d
            .objects
            .get(&kind)
            .and_then(|m| m.get(id))
            .map(|o| o.json.clone())
        else {
            return false;
        };
        crate::data::merge(&mut json, &patch);
        d.put(kind, json);
        true
    }

    /// Deletes an object (the next round returns it with `@removed`).
    pub fn directory_delete(&self, kind: DirectoryKind, id: &str) -> bool {
        let mut st = self.state();
        let d = &mut st.directory;
        let changed = d.next();
        match d.objects.get_mut(&kind).and_then(|m| m.get_mut(id)) {
            Some(o) => {
                o.deleted = true;
                o.changed = changed;
                true
            }
            None => false,
        }
    }

    /// Adds `member` to (or removes it from) the activated role named `role`.
    pub fn directory_role_member(&self, role: &str, member: &str, present: bool) -> bool {
        let mut st = self.state();
        let d = &mut st.directory;
        match d.role_id(role) {
            Some(id) => {
                d.set_member(&id, member, present);
                true
            }
            None => false,
        }
    }

    /// Every delta token issued so far gets 410 Gone: the client must resync.
    pub fn directory_expire_delta_tokens(&self) {
        let mut st = self.state();
        st.directory.expired_before = st.directory.seq + 1;
    }
}

impl Directory {
    /// A live object of `kind`, picked by `n` (none when the directory has none).
    fn pick(&self, kind: DirectoryKind, n: u64) -> Option<&Value> {
        let live: Vec<&DirObject> = self
            .objects
            .get(&kind)?
            .values()
            .filter(|o| !o.deleted)
            .collect();
        (!live.is_empty()).then(|| &live[(n % live.len() as u64) as usize].json)
    }

    /// When the tenant has a directory, who a new record is about: its users, devices and
    /// service principals, so that events carry their directory context as in a real tenant.
    /// `None` without a directory (the record keeps its synthetic people).
    pub(crate) fn subjects(
        &self,
        resource: crate::Resource,
        record: &Value,
        n: u64,
    ) -> Option<Value> {
        use crate::Resource as R;
        let user = self.pick(DirectoryKind::Users, n);
        let device = self.pick(DirectoryKind::Devices, n / 3);
        let sp = self.pick(DirectoryKind::ServicePrincipals, n);
        let person = |u: &Value| {
            serde_json::json!({"userId": u["id"], "userPrincipalName": u["userPrincipalName"],
                "userDisplayName": u["displayName"]})
        };
        match resource {
            R::SignIns => {
                let t = record
                    .pointer("/signInEventTypes/0")
                    .and_then(Value::as_str);
                if matches!(t, Some("servicePrincipal" | "managedIdentity")) {
                    let sp = sp?;
                    return Some(serde_json::json!({"servicePrincipalId": sp["id"],
                        "servicePrincipalName": sp["displayName"]}));
                }
                let mut patch = person(user?);
                if let Some(d) = device {
                    patch["deviceDetail"] = serde_json::json!({"deviceId": d["deviceId"],
                        "displayName": d["displayName"]});
                }
                Some(patch)
            }
            R::RiskDetections => Some(person(user?)),
            R::ServicePrincipalRiskDetections => {
                let sp = sp?;
                Some(serde_json::json!({"servicePrincipalId": sp["id"],
                    "servicePrincipalDisplayName": sp["displayName"]}))
            }
            R::DirectoryAudits => {
                let u = user?;
                Some(serde_json::json!({"initiatedBy": {"user": {"id": u["id"],
                    "userPrincipalName": u["userPrincipalName"], "displayName": u["displayName"]}}}))
            }
            _ => None,
        }
    }
}

impl Directory {
    /// `POST /_sim/records?resource=users|devices|role_assignments&count=N`: `count` new users
    /// or devices (created objects for a delta round), or the next `count` users added to the
    /// Global Administrator role (a role `added`). Returns the ids touched.
    pub(crate) fn add(&mut self, what: &str, count: usize) -> Option<Vec<String>> {
        // Its own stream of ids: the seed's generator started where the tenant's record
        // generator starts, and the two must not give the same ids.
        let rng = &mut Rng::new(0xadd0_5eed ^ self.seq);
        let mut out = Vec::new();
        match what {
            "users" => {
                let base = self
                    .objects
                    .get(&DirectoryKind::Users)
                    .map_or(0, |m| m.len());
                for i in base..base + count {
                    let (name, upn) = PEOPLE[i % PEOPLE.len()];
                    let (local, domain) = upn.split_once('@').unwrap_or((upn, "contoso.com"));
                    let u = user(
                        rng,
                        &format!("{name} {i}"),
                        &format!("{local}{i}@{domain}"),
                        i,
                    );
                    out.push(u["id"].as_str().unwrap_or_default().to_string());
                    self.put(DirectoryKind::Users, u);
                }
            }
            "devices" => {
                let base = self
                    .objects
                    .get(&DirectoryKind::Devices)
                    .map_or(0, |m| m.len());
                for i in base..base + count {
                    let d = device(rng, i);
                    out.push(d["id"].as_str().unwrap_or_default().to_string());
                    self.put(DirectoryKind::Devices, d);
                }
            }
            "role_assignments" => {
                let role = self.role_id("Global Administrator")?;
                let members = self.members.get(&role).cloned().unwrap_or_default();
                let candidates: Vec<String> = self
                    .ids(DirectoryKind::Users)
                    .into_iter()
                    .filter(|u| members.get(u).is_none_or(|m| m.removed))
                    .take(count)
                    .collect();
                for u in candidates {
                    self.set_member(&role, &u, true);
                    out.push(u);
                }
            }
            _ => return None,
        }
        Some(out)
    }
}
