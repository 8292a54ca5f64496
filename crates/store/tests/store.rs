//! The store keeps the last good configuration when changes are invalid, and the file source
//! reports additions, changes and removals.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use weft_config::{LoadOptions, load_str};
use weft_store::{Batch, FileSource, SourceEvent, Store};

fn batch(file: &str, text: &str) -> SourceEvent {
    let loaded = load_str(file, text, &LoadOptions::default());
    SourceEvent::Upsert(Batch {
        key: Arc::from(format!("file:{file}")),
        objects: loaded.objects,
        problems: loaded.problems,
    })
}

fn vs(name: &str, weight: u32, host: &str) -> String {
    format!(
        "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {{name: {name}, namespace: default}}\nspec:\n  hosts: [{host}]\n  http: [{{route: [{{destination: {{host: {host}}}, weight: {weight}}}]}}]\n"
    )
}

fn hosts_of(store: &Store, name: &str) -> Option<String> {
    let snap = store.snapshot();
    let obj = snap.objects().find(|o| o.name() == name)?.clone();
    match &obj.body {
        weft_config::Body::VirtualService(v) => Some(v.spec.hosts.join(",")),
        _ => None,
    }
}

#[test]
fn invalid_update_keeps_the_last_good_version() {
    let (mut store, rx) = Store::new(1);
    store.apply(batch("a.yaml", &vs("reviews", 100, "reviews")));
    store.apply(SourceEvent::Synced);
    assert!(rx.borrow().synced);
    assert_eq!(hosts_of(&store, "reviews").as_deref(), Some("reviews"));

    // An update that fails validation: rejected, listed, the old one still served.
    store.apply(batch("a.yaml", &vs("reviews", 150, "ratings")));
    let snap = store.snapshot();
    assert_eq!(hosts_of(&store, "reviews").as_deref(), Some("reviews"));
    assert_eq!(snap.rejected.len(), 1, "{:?}", snap.rejected);
    let r = &snap.rejected[0];
    assert!(r.serving_previous);
    assert!(r.problems[0].contains("a.yaml:"), "{:?}", r.problems);
    assert!(
        r.problems[0].contains("VirtualService default/reviews"),
        "{:?}",
        r.problems
    );

    // A fix clears the rejection.
    store.apply(batch("a.yaml", &vs("reviews", 100, "ratings")));
    assert_eq!(hosts_of(&store, "reviews").as_deref(), Some("ratings"));
    assert!(store.snapshot().rejected.is_empty());
}

#[test]
fn new_invalid_object_is_rejected_without_previous() {
    let (mut store, _rx) = Store::new(1);
    store.apply(batch("a.yaml", &vs("bad", 150, "reviews")));
    let snap = store.snapshot();
    assert!(snap.is_empty());
    assert!(!snap.rejected[0].serving_previous);
}

#[test]
fn syntax_error_keeps_the_whole_file() {
    let (mut store, _rx) = Store::new(1);
    let two = format!("{}---\n{}", vs("a", 100, "a"), vs("b", 100, "b"));
    store.apply(batch("f.yaml", &two));
    assert_eq!(store.snapshot().len(), 2);
    store.apply(batch("f.yaml", "apiVersion: v1\nkind: [unclosed\n"));
    let snap = store.snapshot();
    assert_eq!(snap.len(), 2);
    assert!(snap.rejected[0].object.is_none());
    assert!(
        snap.rejected[0].problems[0].contains("f.yaml"),
        "{:?}",
        snap.rejected
    );
}

#[test]
fn duplicates_across_files_keep_the_first_file() {
    let (mut store, _rx) = Store::new(1);
    store.apply(batch("b.yaml", &vs("same", 100, "from-b")));
    store.apply(batch("a.yaml", &vs("same", 100, "from-a")));
    assert_eq!(hosts_of(&store, "same").as_deref(), Some("from-a"));
    let snap = store.snapshot();
    assert!(
        snap.rejected[0].problems[0].contains("already defined in file:a.yaml"),
        "{:?}",
        snap.rejected
    );
    store.apply(SourceEvent::Remove(Arc::from("file:a.yaml")));
    assert_eq!(hosts_of(&store, "same").as_deref(), Some("from-b"));
}

#[test]
fn changed_kinds_ignores_moves() {
    let (mut store, _rx) = Store::new(1);
    store.apply(batch("a.yaml", &vs("x", 100, "x")));
    let before = store.snapshot();
    store.apply(batch(
        "a.yaml",
        &format!("# moved down\n\n{}", vs("x", 100, "x")),
    ));
    assert!(store.snapshot().changed_kinds(&before).is_empty());
    store.apply(batch("a.yaml", &vs("x", 100, "y")));
    assert_eq!(
        store
            .snapshot()
            .changed_kinds(&before)
            .into_iter()
            .collect::<Vec<_>>(),
        vec!["VirtualService"]
    );
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("weft-store-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("sub")).expect("temp dir");
    dir
}

#[test]
fn file_source_reports_changes() {
    let dir = temp_dir("scan");
    std::fs::write(dir.join("a.yaml"), vs("a", 100, "a")).expect("write");
    std::fs::write(dir.join("sub/b.yml"), vs("b", 100, "b")).expect("write");
    std::fs::write(dir.join("notes.txt"), "ignored").expect("write");
    let mut source = FileSource::new(&dir, Duration::from_millis(10), LoadOptions::default());
    let first = source.scan();
    assert_eq!(first.len(), 2);
    assert!(source.scan().is_empty(), "no change, no event");
    std::fs::write(dir.join("a.yaml"), vs("a", 100, "a-changed-and-longer")).expect("write");
    std::fs::remove_file(dir.join("sub/b.yml")).expect("remove");
    let events = source.scan();
    assert_eq!(events.len(), 2, "{events:?}");
    assert!(matches!(&events[0], SourceEvent::Upsert(b) if b.key.ends_with("a.yaml")));
    assert!(matches!(&events[1], SourceEvent::Remove(k) if k.ends_with("b.yml")));
    let _ = std::fs::remove_dir_all(&dir);
}
