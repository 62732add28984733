//! Shards: which tenants one process of several polls. `run --shard INDEX/COUNT` (0-based, as a
//! StatefulSet numbers its pods) keeps the tenants that rendezvous (highest random weight)
//! hashing of the tenant id gives shard INDEX: each tenant goes to the shard whose hash of
//! (tenant, shard) is highest, so going from COUNT to COUNT + 1 shards moves only the tenants
//! the new shard wins (about one in COUNT + 1), and every process computes the same answer with
//! no coordinator. A leaf: it imports nothing of the crate.

use sha2::{Digest, Sha256};

/// One shard of `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

/// The most shards accepted.
pub const MAX_SHARDS: u32 = 10_000;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ShardError {
    #[error("--shard {0:?} is not INDEX/COUNT: write it as e.g. 0/3 (shards are numbered from 0, as a StatefulSet numbers its pods)")]
    Syntax(String),
    #[error("--shard {index}/{count}: INDEX must be below COUNT (shards 0 to {}), and COUNT from 1 to {MAX_SHARDS}", count.saturating_sub(1))]
    Range { index: u32, count: u32 },
    #[error("--shard-from-hostname: the host name {0:?} does not end in -<ordinal> (a StatefulSet pod is named <set>-<ordinal>, e.g. entra-source-3); pass --shard INDEX/COUNT instead")]
    Hostname(String),
    #[error("--shard-from-hostname needs the number of shards: --shard-count N or ENTRA_SOURCE_SHARD_COUNT")]
    NoCount,
    #[error("the shard count {0:?} is not a number from 1 to {MAX_SHARDS}")]
    Count(String),
}

impl Shard {
    pub fn new(index: u32, count: u32) -> Result<Shard, ShardError> {
        if count == 0 || count > MAX_SHARDS || index >= count {
            return Err(ShardError::Range { index, count });
        }
        Ok(Shard { index, count })
    }

    /// `INDEX/COUNT`.
    pub fn parse(text: &str) -> Result<Shard, ShardError> {
        let syntax = || ShardError::Syntax(text.to_string());
        let (i, n) = text.trim().split_once('/').ok_or_else(syntax)?;
        let num = |s: &str| s.trim().parse::<u32>().map_err(|_| syntax());
        Shard::new(num(i)?, num(n)?)
    }

    /// The pod ordinal at the end of a StatefulSet pod's host name (`entra-source-3`), of
    /// `count` shards.
    pub fn from_hostname(hostname: &str, count: &str) -> Result<Shard, ShardError> {
        let count = count
            .trim()
            .parse::<u32>()
            .map_err(|_| ShardError::Count(count.to_string()))?;
        let name = hostname.trim().split('.').next().unwrap_or("");
        let ordinal = name
            .rsplit_once('-')
            .and_then(|(_, n)| n.parse::<u32>().ok())
            .ok_or_else(|| ShardError::Hostname(hostname.trim().to_string()))?;
        Shard::new(ordinal, count)
    }

    /// Whether this shard polls `tenant` (its id as configured, compared lowercased).
    pub fn owns(&self, tenant: &str) -> bool {
        owner(tenant, self.count) == self.index
    }
}

/// The weight of (tenant, shard): the first 8 bytes of SHA-256, the same on every platform and
/// release (the assignment must never change under a running fleet).
fn weight(tenant: &str, shard: u32) -> u64 {
    let mut h = Sha256::new();
    h.update(tenant.trim().to_ascii_lowercase().as_bytes());
    h.update(b"/");
    h.update(shard.to_le_bytes());
    let d = h.finalize();
    u64::from_be_bytes([d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]])
}

/// The shard of `count` that polls `tenant`.
pub fn owner(tenant: &str, count: u32) -> u32 {
    (0..count.max(1))
        .max_by_key(|s| (weight(tenant, *s), std::cmp::Reverse(*s)))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tenants(n: usize) -> Vec<String> {
        (0..n)
            .map(|i| format!("{:08x}-0000-4000-8000-{:012x}", i * 7919, i))
            .collect()
    }

    #[test]
    fn every_tenant_has_exactly_one_shard_and_the_shards_share_them() {
        let ts = tenants(3000);
        for count in [1, 2, 3, 7] {
            let mut per = vec![0usize; count as usize];
            for t in &ts {
                let owners: Vec<u32> = (0..count)
                    .filter(|i| Shard::new(*i, count).unwrap().owns(t))
                    .collect();
                assert_eq!(owners.len(), 1, "{t} of {count}");
                per[owners[0] as usize] += 1;
            }
            let fair = ts.len() / count as usize;
            assert!(
                per.iter().all(|n| n.abs_diff(fair) < fair / 5 + 20),
                "{count}: {per:?}"
            );
        }
    }

    /// Three shards to four: only the tenants the new shard wins move, about a quarter.
    #[test]
    fn growing_the_count_moves_only_what_the_new_shard_takes() {
        let ts = tenants(4000);
        let mut moved = 0;
        for t in &ts {
            let (before, after) = (owner(t, 3), owner(t, 4));
            if before != after {
                assert_eq!(after, 3, "{t} moved between old shards");
                moved += 1;
            }
        }
        assert!((800..1200).contains(&moved), "{moved} of 4000 moved");
        assert_eq!(owner("AAAA-b", 5), owner("aaaa-B", 5), "case-insensitive");
    }

    #[test]
    fn bad_shards_are_refused_with_the_fix() {
        assert_eq!(Shard::parse("1/3"), Ok(Shard { index: 1, count: 3 }));
        assert!(matches!(Shard::parse("3/3"), Err(ShardError::Range { .. })));
        assert!(matches!(Shard::parse("0/0"), Err(ShardError::Range { .. })));
        assert!(matches!(Shard::parse("x"), Err(ShardError::Syntax(_))));
        assert!(matches!(Shard::parse("-1/3"), Err(ShardError::Syntax(_))));
        assert_eq!(
            Shard::from_hostname("entra-source-3", "4"),
            Ok(Shard { index: 3, count: 4 })
        );
        assert_eq!(
            Shard::from_hostname("entra-source-0.entra-source.svc", "2"),
            Ok(Shard { index: 0, count: 2 })
        );
        assert!(matches!(
            Shard::from_hostname("entra-source", "4"),
            Err(ShardError::Hostname(_))
        ));
        assert!(matches!(
            Shard::from_hostname("entra-source-4", "4"),
            Err(ShardError::Range { .. })
        ));
    }
}
