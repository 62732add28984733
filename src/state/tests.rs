use super::*;

fn t(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

#[test]
fn seen_ids_prune_by_time_not_count() {
    let mut s = SeenIds::default();
    s.insert("a".into(), t("2026-01-01T10:00:00.5Z"));
    s.insert("b".into(), t("2026-01-01T10:00:01Z"));
    s.insert("c".into(), t("2026-01-01T10:00:02.9Z"));
    s.prune_before(t("2026-01-01T10:00:01Z"));
    assert!(!s.contains("a"));
    assert!(s.contains("b") && s.contains("c"));
    assert_eq!(s.len(), 2);
}

#[test]
fn save_then_open_round_trips_and_locks() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    {
        let mut st = StateStore::open(&path).unwrap();
        let s = st.stream_mut("t1", "directory_audits");
        s.cursor = Some(t("2026-01-01T10:00:00Z"));
        s.seen.insert("x".into(), t("2026-01-01T09:59:59Z"));
        st.save().unwrap();
    }
    let st = StateStore::open(&path).unwrap();
    let s = st.stream("t1", "directory_audits").unwrap();
    assert!(s.seen.contains("x"));
    assert_eq!(s.cursor, Some(t("2026-01-01T10:00:00Z")));
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
    assert!(StateStore::open(&path)
        .unwrap()
        .data
        .tenants
        .contains_key("t"));
    fs::write(sibling(&path, ".tmp"), r#"{"version":1,"tena"#).unwrap();
    assert!(StateStore::open(&path).unwrap().data.tenants.is_empty());
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
    let st = StateStore::open(&path).unwrap();
    let s = st.stream("t", "directory_audits").unwrap();
    assert_eq!(s.cursor, Some(t("2026-01-01T10:00:00Z")));
    assert!(s.seen.contains("x") && s.health.is_none() && s.not_before.is_none());
    st.save().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
    assert_eq!(v["version"], STATE_VERSION);
    assert_eq!(STATE_VERSION, 4);
}

/// Versions 1 to 3 kept every emitted id whole (about 130 bytes each on disk, more in
/// memory); they are read into fingerprints, written as 22 characters each, and an id
/// emitted before the upgrade is still recognized.
#[test]
fn kept_ids_become_fingerprints_and_are_still_recognized() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    let id = "Directory_0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d_ABCDE_123456789";
    fs::write(
        &path,
        format!(
            r#"{{"version":3,"tenants":{{"t":{{"streams":{{"directory_audits":{{
            "cursor":"2026-01-01T10:00:00Z","seen":{{"2026-01-01T09:59:59Z":["{id}"]}},
            "last_success":"2026-01-01T10:00:01Z"}}}}}}}}}}"#
        ),
    )
    .unwrap();
    let st = StateStore::open(&path).unwrap();
    assert!(st
        .stream("t", "directory_audits")
        .unwrap()
        .seen
        .contains(id));
    st.save().unwrap();
    drop(st);
    let text = fs::read_to_string(&path).unwrap();
    assert!(!text.contains(id), "{text}");
    assert!(text.contains(&fingerprint_text(fingerprint(id))), "{text}");
    let st = StateStore::open(&path).unwrap();
    let s = st.stream("t", "directory_audits").unwrap();
    assert!(s.seen.contains(id) && !s.seen.contains("another"));
    assert_eq!(fingerprint_text(fingerprint(id)).len(), 22);
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
    let mut st = StateStore::open(&path).unwrap();
    assert_eq!(
        st.tenant_key("Contoso.onmicrosoft.com"),
        "Contoso.onmicrosoft.com"
    );
    assert!(st.adopt_tenant_alias("contoso.onmicrosoft.com", guid));
    assert!(!st.adopt_tenant_alias("contoso.onmicrosoft.com", guid));
    st.save().unwrap();
    drop(st);
    let st = StateStore::open(&path).unwrap();
    assert_eq!(st.data.tenants.len(), 1);
    let s = st.stream(guid, "directory_audits").unwrap();
    assert!(s.seen.contains("x"));
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
        let st = StateStore::open(&path).unwrap();
        assert!(st.data.tenants.is_empty());
        st.save().unwrap();
        assert!(fs::read_to_string(&path).unwrap().contains("\"version\""));
    }
}

#[test]
fn corrupt_and_future_files_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    fs::write(&path, "{not json").unwrap();
    assert!(matches!(
        StateStore::open(&path),
        Err(StateError::Corrupt { .. })
    ));
    fs::write(&path, r#"{"version":99}"#).unwrap();
    assert!(matches!(
        StateStore::open(&path),
        Err(StateError::Version { .. })
    ));
}
