use super::*;
use std::fs;

fn t(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

fn open(path: &Path) -> StateStore {
    StateStore::open(path).unwrap()
}

#[test]
fn save_then_open_round_trips_and_locks() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    {
        let mut st = open(&path);
        let s = st.stream_mut("t1", "directory_audits");
        s.cursor = Some(t("2026-01-01T10:00:00Z"));
        s.settled.insert(1200, t("2026-01-01T09:40:00Z"));
        s.seen.insert_id("x", t("2026-01-01T09:59:59Z"));
        st.save().unwrap();
        assert!(matches!(
            StateStore::open_now(&path),
            Err(StateError::Locked { .. })
        ));
    }
    let st = open(&path);
    let s = st.stream("t1", "directory_audits").unwrap();
    assert!(s
        .seen
        .contains(fingerprint("x"), t("2026-01-01T09:59:59.5Z")));
    assert_eq!(s.cursor, Some(t("2026-01-01T10:00:00Z")));
    assert_eq!(s.settled[&1200], t("2026-01-01T09:40:00Z"));
}

/// Each checkpoint appends what changed: a page of 1,000 ids costs about 12 KB whatever the
/// window holds (version 4 rewrote the whole window's ids every page).
#[test]
fn a_checkpoint_appends_about_a_page_not_the_window() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    let mut st = open(&path);
    let base = t("2026-01-01T10:00:00Z");
    let mut sizes = Vec::new();
    for page in 0..50i64 {
        let s = st.stream_mut("t", "directory_audits");
        s.seen.extend((0..1000).map(|i| {
            (
                fingerprint(&format!("{page}-{i}")),
                base + chrono::Duration::seconds(page),
            )
        }));
        s.cursor = Some(base + chrono::Duration::seconds(page));
        let before = fs::metadata(&path).map_or(0, |m| m.len());
        st.save().unwrap();
        sizes.push(fs::metadata(&path).unwrap().len() - before);
    }
    // After the first (a snapshot), every write is one page's append.
    assert!(
        sizes[1..].iter().all(|b| *b < 13_000),
        "bytes per checkpoint: {sizes:?}"
    );
    let total = fs::metadata(&path).unwrap().len();
    assert!(total <= 50_000 * 13, "{total} bytes for 50,000 ids");
    drop(st);
    let st = open(&path);
    assert_eq!(
        st.stream("t", "directory_audits").unwrap().seen.len(),
        50_000
    );
}

/// Pruned ids and superseded fields leave garbage in the journal; once it outweighs the live
/// state, a write compacts the file into one snapshot.
#[test]
fn a_journal_mostly_superseded_is_compacted() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    let mut st = open(&path);
    let base = t("2026-01-01T10:00:00Z");
    let mut peak = 0;
    for page in 0..400i64 {
        let at = base + chrono::Duration::seconds(page);
        let s = st.stream_mut("t", "sign_ins");
        s.seen
            .extend((0..200).map(|i| (fingerprint(&format!("{page}-{i}")), at)));
        // A sliding window of 20 pages.
        s.seen.prune_before(at - chrono::Duration::seconds(20));
        st.save().unwrap();
        peak = peak.max(fs::metadata(&path).unwrap().len());
    }
    let live = 21 * 200 * FINGERPRINT_BYTES as u64;
    assert!(
        peak <= 2 * live + COMPACT_FLOOR + 10_000,
        "peak {peak}, live {live}"
    );
    drop(st);
    assert_eq!(
        open(&path).stream("t", "sign_ins").unwrap().seen.len(),
        21 * 200
    );
}

/// A crash mid-append leaves a torn last frame: the previous checkpoint is read, the tail is
/// dropped on the next write; damage before the last frame is corruption, left untouched.
#[test]
fn a_torn_last_append_is_dropped_and_earlier_damage_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    let mut st = open(&path);
    st.stream_mut("t", "s").cursor = Some(t("2026-01-01T10:00:00Z"));
    st.save().unwrap();
    st.stream_mut("t", "s").cursor = Some(t("2026-01-01T10:05:00Z"));
    st.save().unwrap();
    drop(st);
    let whole = fs::read(&path).unwrap();
    fs::write(&path, &whole[..whole.len() - 3]).unwrap();
    assert_eq!(
        StateStore::read_only(&path)
            .unwrap()
            .stream("t", "s")
            .unwrap()
            .cursor,
        Some(t("2026-01-01T10:00:00Z"))
    );
    let mut st = open(&path);
    assert_eq!(
        st.stream("t", "s").unwrap().cursor,
        Some(t("2026-01-01T10:00:00Z"))
    );
    st.save().unwrap();
    drop(st);
    open(&path);
    // A flipped byte inside the first frame, with a whole frame after it.
    let mut bad = whole.clone();
    bad[journal::HEADER_BYTES + 12] ^= 0xff;
    fs::write(&path, &bad).unwrap();
    assert!(matches!(
        StateStore::open(&path),
        Err(StateError::Corrupt { .. })
    ));
    assert_eq!(fs::read(&path).unwrap(), bad, "left untouched");
}

#[test]
fn a_complete_temp_file_wins_and_a_partial_one_is_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    fs::write(&path, r#"{"version":1,"tenants":{}}"#).unwrap();
    fs::write(
        sibling(&path, ".tmp"),
        r#"{"version":1,"tenants":{"t":{"streams":{}}}}"#,
    )
    .unwrap();
    assert!(open(&path).data().tenants.contains_key("t"));
    fs::write(sibling(&path, ".tmp"), r#"{"version":1,"tena"#).unwrap();
    assert!(open(&path).data().tenants.is_empty());
}

#[test]
fn a_version_1_file_is_read_and_written_back_as_the_current_version() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    fs::write(
        &path,
        r#"{"version":1,"tenants":{"t":{"streams":{"directory_audits":{
            "cursor":"2026-01-01T10:00:00Z","seen":{"2026-01-01T09:59:59Z":["x"]},
            "last_success":"2026-01-01T10:00:01Z"}}}}}"#,
    )
    .unwrap();
    let mut st = open(&path);
    let s = st.stream("t", "directory_audits").unwrap();
    assert_eq!(s.cursor, Some(t("2026-01-01T10:00:00Z")));
    assert!(s.seen.contains_id("x") && s.health.is_none() && s.not_before.is_none());
    st.save().unwrap();
    drop(st);
    let bytes = fs::read(&path).unwrap();
    assert!(journal::is_journal(&bytes));
    assert_eq!(STATE_VERSION, 9);
    assert!(open(&path)
        .stream("t", "directory_audits")
        .unwrap()
        .seen
        .contains_id("x"));
}

/// Versions 1 to 3 kept every emitted id whole, version 4 16-byte fingerprints; both are read
/// into 12-byte fingerprints, and an id emitted before the upgrade is still recognized.
#[test]
fn kept_ids_and_version_4_fingerprints_are_still_recognized() {
    use base64::Engine;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    let id = "Directory_0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d_ABCDE_123456789";
    let other = "Directory_other";
    let v4 = {
        use sha2::{Digest, Sha256};
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&Sha256::digest(other)[..16])
    };
    fs::write(
        &path,
        format!(
            r#"{{"version":4,"tenants":{{"t":{{"streams":{{"directory_audits":{{
            "cursor":"2026-01-01T10:00:00Z","seen":{{"2026-01-01T09:59:59Z":["{id}"]}},
            "seen_fingerprints":{{"2026-01-01T09:59:58Z":["{v4}"]}},
            "last_success":"2026-01-01T10:00:01Z"}}}}}}}}}}"#
        ),
    )
    .unwrap();
    let mut st = open(&path);
    st.save().unwrap();
    drop(st);
    let bytes = fs::read(&path).unwrap();
    assert!(!bytes.windows(id.len()).any(|w| w == id.as_bytes()));
    let st = open(&path);
    let s = st.stream("t", "directory_audits").unwrap();
    assert!(s.seen.contains(fingerprint(id), t("2026-01-01T09:59:59Z")));
    assert!(s
        .seen
        .contains(fingerprint(other), t("2026-01-01T09:59:58Z")));
    assert!(!s.seen.contains_id("another"));
}

#[test]
fn a_version_2_section_kept_under_a_domain_moves_to_the_guid() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    fs::write(
        &path,
        r#"{"version":2,"tenants":{"Contoso.onmicrosoft.com":{"streams":{"directory_audits":{
            "cursor":"2026-01-01T10:00:00Z","seen":{"2026-01-01T09:59:59Z":["x"]},
            "last_success":"2026-01-01T10:00:01Z","health":"ok"}}}}}"#,
    )
    .unwrap();
    let guid = "8f1b6c2e-4f5a-4c3d-9e2b-7a6d5c4b3a21";
    let mut st = open(&path);
    assert_eq!(
        st.tenant_key("Contoso.onmicrosoft.com"),
        "Contoso.onmicrosoft.com"
    );
    assert!(st.adopt_tenant_alias("contoso.onmicrosoft.com", guid));
    assert!(!st.adopt_tenant_alias("contoso.onmicrosoft.com", guid));
    st.save().unwrap();
    drop(st);
    let st = open(&path);
    assert_eq!(st.data().tenants.len(), 1);
    let s = st.stream(guid, "directory_audits").unwrap();
    assert!(s.seen.contains_id("x"));
    assert_eq!(st.tenant_key("CONTOSO.onmicrosoft.com"), guid);
    assert_eq!(st.tenant_key(&guid.to_uppercase()), guid);
}

/// An empty pre-created state file was reported as corrupt.
#[test]
fn an_empty_pre_created_file_is_a_new_state() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    for empty in ["", "\n"] {
        fs::write(&path, empty).unwrap();
        let mut st = open(&path);
        assert!(st.data().tenants.is_empty());
        st.save().unwrap();
        drop(st);
        assert!(journal::is_journal(&fs::read(&path).unwrap()));
    }
}

#[test]
fn corrupt_and_future_files_are_refused_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    let mut future = journal::header(STATE_VERSION + 1);
    future.extend_from_slice(b"whatever");
    for (bytes, version) in [
        (b"{not json".to_vec(), false),
        (br#"{"version":99}"#.to_vec(), true),
        (future, true),
        (b"ENTRA-SOURCE STATE\n\x05\x00\x00\x00\x10".to_vec(), false),
        (b"ENTRbroken".to_vec(), false),
    ] {
        fs::write(&path, &bytes).unwrap();
        match StateStore::open(&path) {
            Err(StateError::Version { .. }) if version => {}
            Err(StateError::Corrupt { .. }) if !version => {}
            Err(e) => panic!("{}: {e}", String::from_utf8_lossy(&bytes)),
            Ok(_) if !version && bytes.len() == journal::HEADER_BYTES + 1 => {}
            Ok(_) => panic!("accepted {}", String::from_utf8_lossy(&bytes)),
        }
        assert_eq!(fs::read(&path).unwrap(), bytes);
    }
}

/// Version 6 added `read_from`, `gaps` and `delta_link`: a version 5 journal is read, and
/// rewritten under this build's header (7 since the learned sweeps) on the first write, so an older entra-source then
/// refuses it by its version instead of by an unknown field.
#[test]
fn a_version_5_journal_is_read_and_rewritten_in_this_version() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    {
        let mut st = open(&path);
        st.stream_mut("t", "directory_audits").cursor = Some(t("2026-01-01T10:00:00Z"));
        st.save().unwrap();
    }
    let mut bytes = fs::read(&path).unwrap();
    let at = journal::header(5).len() - 4;
    bytes[at..at + 4].copy_from_slice(&5u32.to_le_bytes());
    fs::write(&path, &bytes).unwrap();
    let mut st = open(&path);
    let s = st.stream_mut("t", "directory_audits");
    assert_eq!(s.cursor, Some(t("2026-01-01T10:00:00Z")));
    s.read_from = Some(t("2026-01-01T09:00:00Z"));
    st.save().unwrap();
    drop(st);
    let bytes = fs::read(&path).unwrap();
    assert_eq!(
        bytes[at..at + 4],
        STATE_VERSION.to_le_bytes(),
        "the header says this build's version"
    );
    let st = open(&path);
    let s = st.stream("t", "directory_audits").unwrap();
    assert_eq!(s.read_from, Some(t("2026-01-01T09:00:00Z")));
}

/// A full disk was answered "check the directory exists and is writable by this user".
#[test]
fn a_state_write_error_says_what_fits_it() {
    let err = |code| {
        StateError::Io {
            action: "append to",
            path: std::path::PathBuf::from("/var/lib/entra-source/state.bin"),
            source: std::io::Error::from_raw_os_error(code),
        }
        .to_string()
    };
    let full = err(libc::ENOSPC);
    assert!(
        full.contains("free space") && !full.contains("writable"),
        "{full}"
    );
    assert!(err(libc::EROFS).contains("read-only"));
    assert!(err(libc::EACCES).contains("writable by this user"));
}

/// A shaped stream's known values travel as journal blocks: added by snapshot and by delta,
/// forgotten by delta, all found again on reopening; its summaries travel in the JSON.
#[test]
fn a_shaped_stream_s_known_values_and_summaries_survive_deltas_and_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state");
    let (a, b) = (
        fingerprint("sp\u{1f}ip\u{1f}a"),
        fingerprint("sp\u{1f}ip\u{1f}b"),
    );
    let grouping = shaping::Grouping {
        identity_id: "sp".into(),
        ..Default::default()
    };
    {
        let mut st = open(&path);
        st.stream_mut("t", "sign_ins.servicePrincipal")
            .shaping
            .learn([(a, t("2026-12-01T10:00:00Z"))]);
        st.save().unwrap();
        let s = st.stream_mut("t", "sign_ins.servicePrincipal");
        s.shaping.learn([(b, t("2026-12-03T10:00:00Z"))]);
        s.shaping.count(
            900,
            &grouping,
            t("2026-12-03T10:01:00Z"),
            "x",
            fingerprint("x"),
        );
        st.save().unwrap();
    }
    let mut st = open(&path);
    let s = st.stream("t", "sign_ins.servicePrincipal").unwrap();
    assert!(s.shaping.knows(&a) && s.shaping.knows(&b));
    assert_eq!(s.shaping.totals.summarized, 1);
    st.stream_mut("t", "sign_ins.servicePrincipal")
        .shaping
        .forget_before(t("2026-12-16T00:00:00Z"), 14 * 86_400);
    st.save().unwrap();
    drop(st);
    let st = open(&path);
    let s = st.stream("t", "sign_ins.servicePrincipal").unwrap();
    assert!(!s.shaping.knows(&a) && s.shaping.knows(&b));
    assert_eq!(s.shaping.open.len(), 1);
    // A delta carries only the summaries counted into and the windows closed: one more
    // summary in a new window, the old window closed, both replayed on reopening.
    drop(st);
    let mut st = open(&path);
    let sh = &mut st.stream_mut("t", "sign_ins.servicePrincipal").shaping;
    sh.count(
        900,
        &grouping,
        t("2026-12-03T11:01:00Z"),
        "y",
        fingerprint("y"),
    );
    let due = sh.closable(900, t("2026-12-03T10:15:00Z"));
    assert_eq!(due.len(), 1);
    sh.closed(&due);
    st.save().unwrap();
    drop(st);
    let st = open(&path);
    let open_windows: Vec<i64> = st
        .stream("t", "sign_ins.servicePrincipal")
        .unwrap()
        .shaping
        .open
        .keys()
        .copied()
        .collect();
    assert_eq!(open_windows, [t("2026-12-03T11:00:00Z").timestamp()]);
}
