//! A fresh PostgreSQL database per test.

use passeur_testkit::PgTestDb;

#[test]
fn databases_are_fresh_isolated_and_dropped() {
    // scripts/test.sh starts PostgreSQL when it is installed but does not install it.
    if !std::path::Path::new("/usr/bin/psql").exists() {
        eprintln!("skipped: PostgreSQL is not installed");
        return;
    }
    let a = PgTestDb::create().unwrap();
    let b = PgTestDb::create().unwrap();
    assert_ne!(a.name, b.name);
    a.psql("CREATE TABLE t (x int); INSERT INTO t VALUES (41), (1)")
        .unwrap();
    assert_eq!(a.psql("SELECT sum(x) FROM t").unwrap().trim(), "42");
    assert!(
        b.psql("SELECT * FROM t").is_err(),
        "b must not see a's table"
    );
    assert!(
        a.url()
            .starts_with("postgres://passeur_test:passeur_test@127.0.0.1:5432/passeur_test_")
    );
    let name = a.name.clone();
    drop(a);
    let left = b
        .psql(&format!(
            "SELECT count(*) FROM pg_database WHERE datname = '{name}'"
        ))
        .unwrap();
    assert_eq!(left.trim(), "0");
}
