//! The simulator's deterministic randomness and the synthetic tenant's people: a leaf that every
//! record generator uses.

/// A small deterministic generator (SplitMix64), so the same seed gives the same tenant.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
    pub fn guid(&mut self) -> String {
        let a = self.next_u64();
        let b = self.next_u64();
        format!(
            "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xfff,
            0x8000 | (b >> 48) & 0x3fff,
            b & 0xffff_ffff_ffff
        )
    }
}

/// The synthetic tenant's users: (display name, user principal name).
pub(crate) const PEOPLE: &[(&str, &str)] = &[
    ("Alex Wilber", "alexw@contoso.com"),
    ("Megan Bowen", "meganb@contoso.com"),
    ("Adele Vance", "adelev@contoso.com"),
    ("Diego Siciliani", "diegos@contoso.com"),
    ("Lee Gu", "leeg@contoso.com"),
];
