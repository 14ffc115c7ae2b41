//! Uploads held in the store, on both backends: one writer at a time, chunks counted only
//! once written, left-overs dropped, and everything gone with the upload.

use super::tests::{Db, new_migration};
use crate::*;

macro_rules! on_both {
    ($name:ident, |$db:ident| $body:block) => {
        mod $name {
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let $db = Db::sqlite();
                $body
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let $db = Db::postgres();
                $body
            }
        }
    };
}

fn stored(id: &str, length: u64) -> Upload {
    Upload {
        id: id.into(),
        length,
        received: 0,
        metadata: String::new(),
        path: String::new(),
        node: String::new(),
        created_at_ms: 1_000,
        expires_at_ms: 2_000,
        migration: None,
    }
}

const TTL: i64 = 60_000;

on_both!(
    stored_uploads_have_one_writer_and_count_whole_chunks,
    |db| {
        let s = db.open().await;
        let u = stored("s1", 10);
        assert!(u.held_in_store());
        s.create_upload(&u).await.unwrap();
        // One writer at a time.
        assert!(s.claim_upload_writer("s1", "a", TTL).await.unwrap());
        assert!(!s.claim_upload_writer("s1", "b", TTL).await.unwrap());
        // A chunk written with its offset moves it; another offset or writer writes nothing.
        assert!(
            s.put_upload_chunk("s1", "a", TTL, 0, b"0123", true)
                .await
                .unwrap()
        );
        assert!(
            !s.put_upload_chunk("s1", "a", TTL, 0, b"xxxx", true)
                .await
                .unwrap()
        );
        assert!(
            !s.put_upload_chunk("s1", "b", TTL, 4, b"45", true)
                .await
                .unwrap()
        );
        assert_eq!(s.upload("s1").await.unwrap().unwrap().received, 4);
        // Chunks of a request checked as a whole are not read before they count.
        assert!(
            s.put_upload_chunk("s1", "a", TTL, 4, b"45", false)
                .await
                .unwrap()
        );
        assert!(
            s.put_upload_chunk("s1", "a", TTL, 6, b"67", false)
                .await
                .unwrap()
        );
        assert_eq!(
            s.upload_chunks("s1", 0, 10).await.unwrap(),
            vec![(0, b"0123".to_vec())]
        );
        // Refused: dropped; the offset never moved.
        assert!(s.drop_upload_chunks("s1", "a", 4).await.unwrap());
        assert!(!s.drop_upload_chunks("s1", "b", 0).await.unwrap());
        assert_eq!(s.upload_chunks("s1", 0, 10).await.unwrap().len(), 1);
        // Written again and accepted: the offset moves past both.
        assert!(
            s.put_upload_chunk("s1", "a", TTL, 4, b"45", false)
                .await
                .unwrap()
        );
        assert!(
            s.put_upload_chunk("s1", "a", TTL, 6, b"6789", false)
                .await
                .unwrap()
        );
        assert!(
            !s.renew_upload_writer("s1", "a", TTL, Some((5, 10)))
                .await
                .unwrap()
        );
        assert!(
            s.renew_upload_writer("s1", "a", TTL, Some((4, 10)))
                .await
                .unwrap()
        );
        let got = s.upload_chunks("s1", 0, 10).await.unwrap();
        let bytes: Vec<u8> = got.iter().flat_map(|(_, b)| b.clone()).collect();
        assert_eq!(bytes, b"0123456789");
        // Paged by first byte.
        assert_eq!(
            s.upload_chunks("s1", 1, 1).await.unwrap(),
            vec![(4, b"45".to_vec())]
        );
        // Released: another writer may take it; a lapsed lease is taken over too.
        s.release_upload_writer("s1", "a").await.unwrap();
        assert!(s.claim_upload_writer("s1", "b", -1).await.unwrap());
        assert!(s.claim_upload_writer("s1", "c", TTL).await.unwrap());
        assert!(!s.renew_upload_writer("s1", "b", TTL, None).await.unwrap());
        // Any machine sweeps a stored upload.
        assert_eq!(s.expired_uploads("any-box", 2_001).await.unwrap().len(), 1);
        // Imported, then its migration forgotten: its chunks go with it.
        let m = new_migration(&s).await;
        assert!(s.attach_upload("s1", m).await.unwrap());
        assert!(s.delete_migration(m).await.unwrap());
        assert!(s.upload("s1").await.unwrap().is_none());
        let mut again = stored("s1", 10);
        again.received = 10;
        s.create_upload(&again).await.unwrap();
        assert!(s.upload_chunks("s1", 0, 10).await.unwrap().is_empty());
        // Terminated: the same.
        assert!(s.claim_upload_writer("s1", "a", TTL).await.unwrap());
        assert!(s.drop_upload_chunks("s1", "a", 0).await.unwrap());
        assert!(
            s.put_upload_chunk("s1", "a", TTL, 0, b"0123456789", false)
                .await
                .unwrap()
        );
        assert!(s.delete_upload("s1").await.unwrap());
        s.create_upload(&again).await.unwrap();
        assert!(s.upload_chunks("s1", 0, 10).await.unwrap().is_empty());
    }
);

on_both!(throttle_add_counts_batches_in_one_window, |db| {
    let s = db.open().await;
    assert_eq!(s.throttle_add("lookup:a", 60_000, 5).await.unwrap(), 5);
    assert_eq!(s.throttle_add("lookup:a", 60_000, 7).await.unwrap(), 12);
    // The same window as the failed-login counters.
    assert_eq!(s.throttle_count("lookup:a", 60_000).await.unwrap().0, 12);
    assert_eq!(s.throttle_add("lookup:b", 60_000, 1).await.unwrap(), 1);
    // A window that is over starts again.
    tokio::time::sleep(std::time::Duration::from_millis(30)).await;
    assert_eq!(s.throttle_add("lookup:a", 20, 2).await.unwrap(), 2);
});
