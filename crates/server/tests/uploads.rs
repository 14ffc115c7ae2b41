//! File migrations end to end over a real socket (`passeur_server::serve` on 127.0.0.1:0):
//! tus uploads with a raw HTTP client (chunks, a connection cut mid-PATCH, resume from the
//! server's offset), the import into a private Dovecot checked message by message, the
//! protocol's refusals, termination, expiry, and `curl` as a tus client.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use passeur_engine::Runner;
use passeur_pst::{FolderKind, ItemContent, PstFile};
use passeur_server::vault::Vault;
use passeur_server::{Service, Settings};
use passeur_store::Store;
use passeur_testkit::imapwire::Client;
use passeur_testkit::{Dovecot, DovecotOptions, Radicale, RadicaleOptions};
use serde_json::{Value, json};
use sha1::Digest as _;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const WAIT: Duration = Duration::from_secs(90);

fn corpus(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/corpus")
        .join(rel)
}

/// A service serving on a real socket, with its workers; stopped when dropped.
struct Served {
    addr: SocketAddr,
    svc: Arc<Service>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    _dir: tempfile::TempDir,
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

async fn serve(tune: impl FnOnce(&mut Settings)) -> Served {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("passeur.db")).await.unwrap();
    serve_on(store, None, dir, tune).await
}

/// A service over `store`, with the secret key `key` (or a new one in `dir`), its data under
/// `dir`, serving with its workers (none if `tune` says so).
async fn serve_on(
    store: Store,
    key: Option<&Path>,
    dir: tempfile::TempDir,
    tune: impl FnOnce(&mut Settings),
) -> Served {
    let key = key.map_or_else(|| dir.path().join("secret.key"), Path::to_path_buf);
    let vault = Vault::open_or_create(&key).unwrap();
    let mut settings = Settings {
        allow_private_addresses: true,
        data_dir: dir.path().join("data"),
        ..Default::default()
    };
    tune(&mut settings);
    let svc = Service::new(Runner::new(store), vault, settings, None);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let s = Arc::clone(&svc);
    tokio::spawn(async move {
        let _ = passeur_server::serve(
            listener,
            s,
            async {
                let _ = rx.await;
            },
            Duration::from_secs(5),
        )
        .await;
    });
    Served {
        addr,
        svc,
        stop: Some(tx),
        _dir: dir,
    }
}

#[derive(Debug)]
struct Resp {
    status: u16,
    headers: HashMap<String, String>,
    body: Vec<u8>,
}

impl Resp {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }
    fn offset(&self) -> u64 {
        self.header("upload-offset")
            .unwrap_or_else(|| panic!("no Upload-Offset in {self:?}"))
            .parse()
            .unwrap()
    }
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

/// Reads one HTTP/1.1 response (Content-Length bodies, or none for HEAD and 204).
async fn read_response(s: &mut TcpStream, head_only: bool) -> Resp {
    let mut buf = Vec::new();
    let end = loop {
        let mut b = [0u8; 4096];
        let n = s.read(&mut b).await.unwrap();
        assert!(n > 0, "connection closed before a response");
        buf.extend_from_slice(&b[..n]);
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: HashMap<String, String> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let mut body = buf[end..].to_vec();
    let len: usize = if head_only || status == 204 {
        0
    } else {
        headers
            .get("content-length")
            .map(|l| l.parse().unwrap())
            .unwrap_or(0)
    };
    while body.len() < len {
        let mut b = vec![0u8; len - body.len()];
        let n = s.read(&mut b).await.unwrap();
        assert!(n > 0, "connection closed inside a body");
        body.extend_from_slice(&b[..n]);
    }
    Resp {
        status,
        headers,
        body,
    }
}

fn request_head(method: &str, path: &str, headers: &[(&str, String)], len: usize) -> Vec<u8> {
    let mut r = format!("{method} {path} HTTP/1.1\r\nHost: passeur.test\r\nConnection: close\r\n");
    for (k, v) in headers {
        r.push_str(&format!("{k}: {v}\r\n"));
    }
    if len > 0 || matches!(method, "POST" | "PATCH") {
        r.push_str(&format!("Content-Length: {len}\r\n"));
    }
    r.push_str("\r\n");
    r.into_bytes()
}

/// One request on a fresh connection.
async fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, String)],
    body: &[u8],
) -> Resp {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(&request_head(method, path, headers, body.len()))
        .await
        .unwrap();
    s.write_all(body).await.unwrap();
    read_response(&mut s, method == "HEAD").await
}

fn tus() -> (&'static str, String) {
    ("Tus-Resumable", "1.0.0".into())
}

fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

async fn create(addr: SocketAddr, length: u64, filename: &str) -> String {
    let r = http(
        addr,
        "POST",
        "/api/v1/uploads",
        &[
            tus(),
            ("Upload-Length", length.to_string()),
            (
                "Upload-Metadata",
                format!("filename {}", b64(filename.as_bytes())),
            ),
        ],
        b"",
    )
    .await;
    assert_eq!(r.status, 201, "{r:?}");
    assert_eq!(r.header("tus-resumable"), Some("1.0.0"));
    let loc = r.header("location").unwrap().to_string();
    assert!(loc.starts_with("/api/v1/uploads/"), "{loc}");
    // At least 128 random bits.
    assert!(loc.rsplit('/').next().unwrap().len() >= 32, "{loc}");
    loc
}

async fn patch(
    addr: SocketAddr,
    loc: &str,
    offset: u64,
    chunk: &[u8],
    checksum: Option<String>,
) -> Resp {
    let mut h = vec![
        tus(),
        ("Content-Type", "application/offset+octet-stream".into()),
        ("Upload-Offset", offset.to_string()),
    ];
    if let Some(c) = checksum {
        h.push(("Upload-Checksum", c));
    }
    http(addr, "PATCH", loc, &h, chunk).await
}

async fn head(addr: SocketAddr, loc: &str) -> Resp {
    http(addr, "HEAD", loc, &[tus()], b"").await
}

fn sha1_of(b: &[u8]) -> String {
    format!("sha1 {}", b64(&sha1::Sha1::digest(b)))
}

fn sha256_hex(b: &[u8]) -> String {
    sha2::Sha256::digest(b)
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect()
}

fn upload_path(s: &Served, loc: &str) -> PathBuf {
    s.svc
        .settings()
        .data_dir
        .join("uploads")
        .join(loc.rsplit('/').next().unwrap())
}

/// The SHA-256 of every mail message passeur-pst reads from the PST's mail folders, sorted.
fn expected_mail(path: &Path) -> Vec<String> {
    let pst = PstFile::open(path).unwrap();
    let mut out = Vec::new();
    for f in pst.folders().unwrap() {
        if !f.in_ipm_subtree || f.kind() != FolderKind::Mail {
            continue;
        }
        for item in pst.items(&f).flatten() {
            if let ItemContent::Mail { mime, .. } = item.content {
                out.push(sha256_hex(&mime));
            }
        }
    }
    out.sort();
    out
}

/// The SHA-256 of every message of the account, all folders, sorted (a client independent
/// of passeur's IMAP stack).
fn destination_mail(dc: &Dovecot, user: &str, pw: &str) -> Vec<String> {
    let mut c = Client::login(&dc.imap_addr(), user, pw).unwrap();
    let mut out = Vec::new();
    for f in c.list().unwrap() {
        if !f.selectable() {
            continue;
        }
        if c.select(&f.name, true).unwrap() == 0 {
            continue;
        }
        for item in c.fetch("FETCH 1:* (BODY.PEEK[])").unwrap() {
            out.push(sha256_hex(&item.body.unwrap()));
        }
    }
    c.logout();
    out.sort();
    out
}

async fn api(
    addr: SocketAddr,
    method: &str,
    path: &str,
    account: Option<&str>,
    body: Option<Value>,
) -> Resp {
    let mut h = Vec::new();
    if let Some(a) = account {
        h.push(("X-Passeur-Account", a.to_string()));
    }
    let body = match body {
        Some(b) => {
            h.push(("Content-Type", "application/json".into()));
            b.to_string().into_bytes()
        }
        None => Vec::new(),
    };
    http(addr, method, path, &h, &body).await
}

async fn wait_status(addr: SocketAddr, id: &str, account: &str, want: &[&str]) -> Value {
    let start = Instant::now();
    loop {
        let r = api(
            addr,
            "GET",
            &format!("/api/v1/migrations/{id}"),
            Some(account),
            None,
        )
        .await;
        assert_eq!(r.status, 200, "{r:?}");
        let v = r.json();
        if want.contains(&v["status"].as_str().unwrap_or_default()) {
            return v;
        }
        assert!(start.elapsed() < WAIT, "never {want:?}: {v}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_pst_uploaded_in_chunks_cut_and_resumed_imports_exact() {
    let dc = Dovecot::start(DovecotOptions::default()).unwrap();
    let s = serve(|_| {}).await;
    let file = corpus("pst/Aspose.Email-for-.NET__Outlook_Chunks_Test_part1.pst");
    let data = std::fs::read(&file).unwrap();
    let want = expected_mail(&file);
    assert!(want.len() > 10, "{}", want.len());
    let len = data.len() as u64;

    let o = http(s.addr, "OPTIONS", "/api/v1/uploads", &[], b"").await;
    assert_eq!(o.status, 204, "{o:?}");
    assert_eq!(o.header("tus-version"), Some("1.0.0"));
    let ext = o.header("tus-extension").unwrap();
    for e in ["creation", "termination", "checksum"] {
        assert!(ext.contains(e), "{ext}");
    }
    assert!(o.header("tus-checksum-algorithm").unwrap().contains("sha1"));
    assert_eq!(
        o.header("tus-max-size"),
        Some((50u64 << 30).to_string().as_str())
    );

    let loc = create(s.addr, len, "mailbox.pst").await;
    let h = head(s.addr, &loc).await;
    assert_eq!((h.status, h.offset()), (200, 0));
    assert_eq!(h.header("upload-length"), Some(len.to_string().as_str()));
    assert_eq!(h.header("cache-control"), Some("no-store"));

    // A first chunk, with its checksum.
    let first = 512 * 1024;
    let r = patch(
        s.addr,
        &loc,
        0,
        &data[..first],
        Some(sha1_of(&data[..first])),
    )
    .await;
    assert_eq!((r.status, r.offset()), (204, first as u64), "{r:?}");

    // The next PATCH announces the rest but the connection is cut after 700 000 bytes.
    let sent = 700_000;
    {
        let mut c = TcpStream::connect(s.addr).await.unwrap();
        let h = [
            tus(),
            ("Content-Type", "application/offset+octet-stream".into()),
            ("Upload-Offset", first.to_string()),
        ];
        c.write_all(&request_head("PATCH", &loc, &h, data.len() - first))
            .await
            .unwrap();
        c.write_all(&data[first..first + sent]).await.unwrap();
        c.flush().await.unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        drop(c);
    }
    // Ask the server where it is; retry while the cut request still holds the upload.
    let start = Instant::now();
    let mut at = loop {
        let h = head(s.addr, &loc).await;
        assert_eq!(h.status, 200, "{h:?}");
        let probe = patch(s.addr, &loc, h.offset(), b"", None).await;
        if probe.status == 204 {
            break probe.offset();
        }
        // 423: the cut request still holds the upload; 409: it stored more bytes between our
        // HEAD and this probe. Either way, ask again.
        assert!(matches!(probe.status, 423 | 409), "{probe:?}");
        assert!(start.elapsed() < WAIT, "the cut request never let go");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // A PATCH without a checksum keeps what arrived before the cut (synced, then counted).
    assert_eq!(
        at,
        (first + sent) as u64,
        "offset after a cut at {}",
        first + sent
    );
    // Resume from the server's offset, in 1 MiB chunks checked with SHA-256.
    while at < len {
        let end = (at + (1 << 20)).min(len);
        let chunk = &data[at as usize..end as usize];
        let sum = format!("sha256 {}", b64(&sha2::Sha256::digest(chunk)));
        let r = patch(s.addr, &loc, at, chunk, Some(sum)).await;
        assert_eq!((r.status, r.offset()), (204, end), "{r:?}");
        at = end;
    }
    // The server's file is the client's, byte for byte.
    let path = upload_path(&s, &loc);
    assert_eq!(std::fs::read(&path).unwrap(), data);

    // Import it.
    let to = format!("imap://user1@127.0.0.1:{}", dc.imap_port);
    let r = api(
        s.addr,
        "POST",
        "/api/v1/imports",
        None,
        Some(json!({"upload": loc, "destination": {"url": to, "password": "pass1"}, "content": ["mail"]})),
    )
    .await;
    assert_eq!(r.status, 201, "{r:?}");
    let id = r.json()["id"].as_str().unwrap().to_string();
    // The same upload cannot be imported twice.
    let again = api(
        s.addr,
        "POST",
        "/api/v1/imports",
        None,
        Some(json!({"upload": loc, "destination": {"url": to, "password": "pass1"}})),
    )
    .await;
    assert_eq!(again.status, 409, "{again:?}");
    // Tracked with the destination login; the source account means nothing here.
    let v = wait_status(s.addr, &id, "user1", &["done", "failed"]).await;
    assert_eq!(v["status"], "done", "{v}");
    let other = api(
        s.addr,
        "GET",
        &format!("/api/v1/migrations/{id}"),
        Some("user2"),
        None,
    )
    .await;
    assert_eq!(other.status, 404);
    assert_eq!(destination_mail(&dc, "user1", "pass1"), want);
    // A file migration cannot be synchronised.
    let sync = api(
        s.addr,
        "POST",
        &format!("/api/v1/migrations/{id}/sync"),
        Some("user1"),
        None,
    )
    .await;
    assert_eq!(sync.status, 409, "{sync:?}");
    // Deleting the migration deletes the uploaded file.
    let d = api(
        s.addr,
        "DELETE",
        &format!("/api/v1/migrations/{id}"),
        Some("user1"),
        None,
    )
    .await;
    assert_eq!(d.status, 204, "{d:?}");
    assert!(!path.exists());
    assert_eq!(head(s.addr, &loc).await.status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn tus_refuses_what_it_must_and_forgets_terminated_and_expired_uploads() {
    let s = serve(|st| st.max_upload = 1 << 20).await;
    // Documented in the OpenAPI document.
    let doc = api(s.addr, "GET", "/api/v1/openapi.json", None, None)
        .await
        .json();
    for (path, method) in [
        ("/api/v1/uploads", "post"),
        ("/api/v1/uploads", "options"),
        ("/api/v1/uploads/{id}", "head"),
        ("/api/v1/uploads/{id}", "patch"),
        ("/api/v1/uploads/{id}", "delete"),
        ("/api/v1/imports", "post"),
    ] {
        assert!(
            doc["paths"][path][method].is_object(),
            "{method} {path} not documented"
        );
    }
    let mut data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    // A PST's magic, or the first PATCH is refused.
    data[..4].copy_from_slice(b"!BDN");
    let loc = create(s.addr, data.len() as u64, "notes.pst").await;
    let path = upload_path(&s, &loc);
    assert!(path.exists());

    // Too large for this server.
    let big = http(
        s.addr,
        "POST",
        "/api/v1/uploads",
        &[tus(), ("Upload-Length", ((1u64 << 20) + 1).to_string())],
        b"",
    )
    .await;
    assert_eq!(big.status, 413, "{big:?}");
    // No protocol version, no length, a bad content type.
    let r = http(
        s.addr,
        "POST",
        "/api/v1/uploads",
        &[("Upload-Length", "10".into())],
        b"",
    )
    .await;
    assert_eq!(r.status, 412, "{r:?}");
    assert_eq!(r.header("tus-version"), Some("1.0.0"));
    let r = http(s.addr, "POST", "/api/v1/uploads", &[tus()], b"").await;
    assert_eq!(r.status, 400, "{r:?}");
    let r = http(
        s.addr,
        "PATCH",
        &loc,
        &[
            tus(),
            ("Content-Type", "application/json".into()),
            ("Upload-Offset", "0".into()),
        ],
        b"{}",
    )
    .await;
    assert_eq!(r.status, 415, "{r:?}");

    let r = patch(s.addr, &loc, 0, &data[..100_000], None).await;
    assert_eq!((r.status, r.offset()), (204, 100_000));
    // The wrong offset: 409, nothing written.
    let r = patch(s.addr, &loc, 50_000, &data[50_000..60_000], None).await;
    assert_eq!(r.status, 409, "{r:?}");
    // A bad checksum: 460, the chunk discarded.
    let mut wrong = data[100_000..200_000].to_vec();
    let sum = sha1_of(&wrong);
    wrong[5] ^= 1;
    let r = patch(s.addr, &loc, 100_000, &wrong, Some(sum)).await;
    assert_eq!(r.status, 460, "{r:?}");
    assert_eq!(head(s.addr, &loc).await.offset(), 100_000);
    assert_eq!(std::fs::metadata(&path).unwrap().len(), 100_000);
    let r = patch(
        s.addr,
        &loc,
        100_000,
        &data[100_000..200_000],
        Some("md5 AAAA".into()),
    )
    .await;
    assert_eq!(r.status, 400, "{r:?}");
    // More than the upload's length.
    let r = patch(s.addr, &loc, 100_000, &vec![0u8; 200_001], None).await;
    assert_eq!(r.status, 413, "{r:?}");
    assert_eq!(head(s.addr, &loc).await.offset(), 100_000);
    // An unfinished upload cannot be imported; an unknown one is named.
    let dest = json!({"url": "imap://user1@127.0.0.1:1", "password": "x"});
    let r = api(
        s.addr,
        "POST",
        "/api/v1/imports",
        None,
        Some(json!({"upload": loc, "destination": dest})),
    )
    .await;
    assert_eq!(r.status, 409, "{r:?}");
    let r = api(
        s.addr,
        "POST",
        "/api/v1/imports",
        None,
        Some(json!({"upload": "0123456789abcdef0123456789abcdef", "destination": dest})),
    )
    .await;
    assert_eq!(
        (r.status, r.json()["field"].as_str()),
        (422, Some("upload")),
        "{r:?}"
    );

    // Termination removes the file.
    let d = http(s.addr, "DELETE", &loc, &[tus()], b"").await;
    assert_eq!(d.status, 204, "{d:?}");
    assert!(!path.exists());
    assert_eq!(head(s.addr, &loc).await.status, 404);
    drop(s);

    // Expiry removes the file of an unfinished upload.
    let s = serve(|st| {
        st.upload_expire_after = Duration::from_secs(2);
        st.sweep_every = Duration::from_millis(500);
    })
    .await;
    let loc = create(s.addr, 1000, "late.pst").await;
    let mut first = [7u8; 400];
    first[..4].copy_from_slice(b"!BDN");
    let r = patch(s.addr, &loc, 0, &first, None).await;
    assert_eq!(r.status, 204);
    let path = upload_path(&s, &loc);
    let start = Instant::now();
    while path.exists() {
        assert!(start.elapsed() < Duration::from_secs(30), "never expired");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(head(s.addr, &loc).await.status, 404);
    assert!(
        s.svc
            .store()
            .upload(loc.rsplit('/').next().unwrap())
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn curl_creates_and_uploads_with_tus() {
    let s = serve(|_| {}).await;
    let file = corpus("pst/PstReader__simiden_pst2john_97_outlook_pass12345.pst");
    let len = std::fs::metadata(&file).unwrap().len();
    let base = format!("http://{}", s.addr);
    let curl = |args: &[&str]| {
        let out = std::process::Command::new("curl")
            .args(["-sS", "-i"])
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let header = |text: &str, name: &str| -> Option<String> {
        text.lines()
            .filter_map(|l| l.split_once(':'))
            .find(|(k, _)| k.trim().eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim().to_string())
    };
    let created = curl(&[
        "-X",
        "POST",
        "-H",
        "Tus-Resumable: 1.0.0",
        "-H",
        &format!("Upload-Length: {len}"),
        "-H",
        "Upload-Metadata: filename b3V0bG9vay5wc3Q=",
        &format!("{base}/api/v1/uploads"),
    ]);
    assert!(created.starts_with("HTTP/1.1 201"), "{created}");
    let loc = header(&created, "location").unwrap();
    let sent = curl(&[
        "-X",
        "PATCH",
        "-H",
        "Tus-Resumable: 1.0.0",
        "-H",
        "Upload-Offset: 0",
        "-H",
        "Content-Type: application/offset+octet-stream",
        "--data-binary",
        &format!("@{}", file.display()),
        &format!("{base}{loc}"),
    ]);
    assert!(sent.starts_with("HTTP/1.1 204"), "{sent}");
    assert_eq!(header(&sent, "upload-offset"), Some(len.to_string()));
    let h = curl(&["-I", "-H", "Tus-Resumable: 1.0.0", &format!("{base}{loc}")]);
    assert_eq!(header(&h, "upload-offset"), Some(len.to_string()), "{h}");
    assert_eq!(
        std::fs::read(upload_path(&s, &loc)).unwrap(),
        std::fs::read(&file).unwrap()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_ics_upload_goes_into_radicale_and_is_tracked_by_its_login() {
    let rad = Radicale::start(RadicaleOptions::default()).unwrap();
    let s = serve(|_| {}).await;
    let ics = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//passeur test//EN\r\n\
        BEGIN:VEVENT\r\nUID:upload-1@passeur.test\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20260105T090000Z\r\nDTEND:20260105T100000Z\r\nSUMMARY:one\r\nEND:VEVENT\r\n\
        BEGIN:VEVENT\r\nUID:upload-2@passeur.test\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20260106T090000Z\r\nDTEND:20260106T100000Z\r\nSUMMARY:two\r\nEND:VEVENT\r\n\
        END:VCALENDAR\r\n";
    // No file name: told by its content.
    let r = http(
        s.addr,
        "POST",
        "/api/v1/uploads",
        &[tus(), ("Upload-Length", ics.len().to_string())],
        b"",
    )
    .await;
    assert_eq!(r.status, 201);
    let loc = r.header("location").unwrap().to_string();
    assert_eq!(
        patch(s.addr, &loc, 0, ics.as_bytes(), None).await.status,
        204
    );
    let dav = format!("{}/", rad.url());
    // Without a DAV server, the field is named.
    let r = api(
        s.addr,
        "POST",
        "/api/v1/imports",
        None,
        Some(json!({"upload": loc, "destination": {"url": "imap://user1@127.0.0.1:1", "password": "pass1"}})),
    )
    .await;
    assert_eq!(
        (r.status, r.json()["field"].as_str()),
        (422, Some("destination.dav")),
        "{r:?}"
    );
    let r = api(
        s.addr,
        "POST",
        "/api/v1/imports",
        None,
        Some(json!({"upload": loc, "destination": {"url": "imap://user1@127.0.0.1:1", "password": "pass1", "dav": dav}})),
    )
    .await;
    assert_eq!(r.status, 201, "{r:?}");
    let id = r.json()["id"].as_str().unwrap().to_string();
    let v = wait_status(s.addr, &id, "user1", &["done", "failed"]).await;
    assert_eq!(v["status"], "done", "{v}");
    assert_eq!(v["passes"][0]["copied"], 2, "{v}");
    // Both events are in Radicale, in user1's calendars.
    let c = passeur_dav::DavClient::new(passeur_dav::DavConfig::new(
        url::Url::parse(&dav).unwrap(),
        "user1",
        "pass1",
    ))
    .unwrap();
    let home = c.discover().await.unwrap().calendar_home.unwrap();
    let mut events = 0;
    for coll in c.list_collections(&home).await.unwrap() {
        events += c.list_items(&coll).await.unwrap().len();
    }
    assert_eq!(events, 2);
}

/// A damaged PST's error names the file as it was sent, never where it lies on the server
/// (the page and the API said "cannot read /…/uploads/<id>: …").
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_damaged_upload_is_named_as_sent_not_by_its_server_path() {
    let dc = Dovecot::start(DovecotOptions::default()).unwrap();
    let s = serve(|_| {}).await;
    let mut data = b"!BDN".to_vec();
    data.extend(std::iter::repeat_n(0x5a, 4096));
    let loc = create(s.addr, data.len() as u64, "broken.pst").await;
    assert_eq!(patch(s.addr, &loc, 0, &data, None).await.status, 204);
    let r = api(
        s.addr,
        "POST",
        "/api/v1/imports",
        None,
        Some(json!({"upload": loc, "destination": {
            "url": format!("imap://user1@127.0.0.1:{}", dc.imap_port), "password": "pass1"}})),
    )
    .await;
    assert_eq!(r.status, 201, "{r:?}");
    let id = r.json()["id"].as_str().unwrap().to_string();
    let v = wait_status(s.addr, &id, "user1", &["done", "failed"]).await;
    assert_eq!(v["status"], "failed", "{v}");
    let data_dir = s.svc.settings().data_dir.display().to_string();
    let upload_id = loc.rsplit('/').next().unwrap();
    assert_eq!(v["source"], "file:broken.pst", "{v}");
    for said in [&v["error"], &v["passes"][0]["error"]] {
        let said = said.as_str().unwrap_or_default();
        assert!(said.contains("\"broken.pst\""), "{said}");
        assert!(
            !said.contains(&data_dir) && !said.contains(upload_id),
            "{said}"
        );
    }
}

/// The type is checked before the file is sent: a name no import reads is refused at
/// creation, content that cannot be that type at its first PATCH (both were accepted, and the
/// import refused them only after the whole file had come).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_upload_of_another_type_is_refused_before_its_bytes_are_sent() {
    let s = serve(|_| {}).await;
    let meta = |name: &str| {
        (
            "Upload-Metadata",
            format!("filename {}", b64(name.as_bytes())),
        )
    };
    for name in ["holiday.jpg", "archive.pst.zip", "README"] {
        let r = http(
            s.addr,
            "POST",
            "/api/v1/uploads",
            &[tus(), ("Upload-Length", "100".into()), meta(name)],
            b"",
        )
        .await;
        assert_eq!(
            (r.status, r.json()["code"].as_str()),
            (415, Some("file_type")),
            "{name}: {r:?}"
        );
    }
    // Any case; content that fits is taken.
    let ics = b"\xEF\xBB\xBF\r\n\r\nBEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n";
    let loc = create(s.addr, ics.len() as u64, "Agenda.ICS").await;
    assert_eq!(patch(s.addr, &loc, 0, ics, None).await.status, 204);
    for (name, body) in [
        ("mailbox.pst", b"PK\x03\x04 a zip, not a PST".as_slice()),
        ("contacts.vcf", b"\x89PNG\r\n\x1a\n not a vCard"),
        ("agenda.ics", b"!BDN a PST named .ics"),
    ] {
        let loc = create(s.addr, 1000, name).await;
        let r = patch(s.addr, &loc, 0, body, None).await;
        assert_eq!(
            (r.status, r.json()["code"].as_str()),
            (415, Some("file_content")),
            "{name}: {r:?}"
        );
        assert_eq!(head(s.addr, &loc).await.offset(), 0, "{name}: nothing kept");
    }
    // Without a name, either kind of content.
    let r = http(
        s.addr,
        "POST",
        "/api/v1/uploads",
        &[tus(), ("Upload-Length", "1000".into())],
        b"",
    )
    .await;
    let loc = r.header("location").unwrap().to_string();
    let r = patch(s.addr, &loc, 0, b"GIF89a", None).await;
    assert_eq!(
        (r.status, r.json()["code"].as_str()),
        (415, Some("file_content")),
        "{r:?}"
    );
}

/// Every file under `dir` (recursively).
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(files_under(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

/// A cluster on PostgreSQL: two `serve` processes (two services with their own data
/// directories, sharing the database and the secret key). An upload started through A, cut,
/// is resumed through B; while A still writes it, B refuses a second writer; A creates the
/// import and B's worker (A has none) runs it: the destination holds exactly the PST's mail.
/// Nothing of the file is on A's disk, and nothing stays in the database or on B's disk once
/// the migration is deleted.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn on_postgres_an_upload_resumes_through_another_serve_and_any_worker_imports_it() {
    let db = passeur_testkit::PgTestDb::create().unwrap();
    let dc = Dovecot::start(DovecotOptions::default()).unwrap();
    let key_dir = tempfile::tempdir().unwrap();
    let key = key_dir.path().join("secret.key");
    let a = serve_on(
        Store::connect(&db.url()).await.unwrap(),
        Some(&key),
        tempfile::tempdir().unwrap(),
        |st| st.workers = 0,
    )
    .await;
    let b = serve_on(
        Store::connect(&db.url()).await.unwrap(),
        Some(&key),
        tempfile::tempdir().unwrap(),
        |_| {},
    )
    .await;
    let file = corpus("pst/Aspose.Email-for-.NET__Outlook_Chunks_Test_part1.pst");
    let data = std::fs::read(&file).unwrap();
    let want = expected_mail(&file);
    assert!(want.len() > 10, "{}", want.len());
    let len = data.len() as u64;
    assert!(len > 2 << 20, "the file spans several stored chunks: {len}");

    let loc = create(a.addr, len, "mailbox.pst").await;
    let h = head(b.addr, &loc).await;
    assert_eq!(
        (h.status, h.offset()),
        (200, 0),
        "B knows an upload A created"
    );

    // Through A, one PATCH announcing the whole file, of which 1.5 MiB arrive, then a pause.
    let sent = (3 << 20) / 2;
    let mut conn = TcpStream::connect(a.addr).await.unwrap();
    let hdr = [
        tus(),
        ("Content-Type", "application/offset+octet-stream".into()),
        ("Upload-Offset", "0".into()),
    ];
    conn.write_all(&request_head("PATCH", &loc, &hdr, data.len()))
        .await
        .unwrap();
    conn.write_all(&data[..sent]).await.unwrap();
    conn.flush().await.unwrap();
    // Whole chunks are committed as they arrive: B sees them.
    let start = Instant::now();
    loop {
        let at = head(b.addr, &loc).await.offset();
        if at >= 1 << 20 {
            break;
        }
        assert!(
            start.elapsed() < WAIT,
            "A never committed a chunk: offset {at}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // A still writes it: B refuses a second writer.
    let busy = patch(b.addr, &loc, 1 << 20, b"x", None).await;
    assert_eq!(busy.status, 423, "{busy:?}");
    // The connection is cut: A keeps what arrived.
    drop(conn);
    let start = Instant::now();
    let mut at = loop {
        let h = head(b.addr, &loc).await;
        let probe = patch(b.addr, &loc, h.offset(), b"", None).await;
        if probe.status == 204 {
            break probe.offset();
        }
        assert!(matches!(probe.status, 423 | 409), "{probe:?}");
        assert!(start.elapsed() < WAIT, "the cut request never let go");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(at, sent as u64, "offset after a cut at {sent}");
    // Resumed through B, in 256 KiB chunks with their SHA-256, one of them first refused.
    let mut refused = false;
    while at < len {
        let end = (at + (256 << 10)).min(len);
        let chunk = &data[at as usize..end as usize];
        let sum = format!("sha256 {}", b64(&sha2::Sha256::digest(chunk)));
        if !refused {
            refused = true;
            let mut wrong = chunk.to_vec();
            wrong[7] ^= 1;
            let r = patch(b.addr, &loc, at, &wrong, Some(sum.clone())).await;
            assert_eq!(r.status, 460, "{r:?}");
            assert_eq!(head(a.addr, &loc).await.offset(), at);
        }
        let r = patch(b.addr, &loc, at, chunk, Some(sum)).await;
        assert_eq!((r.status, r.offset()), (204, end), "{r:?}");
        at = end;
    }
    // The store holds the file byte for byte; neither machine has it on disk.
    let id = loc.rsplit('/').next().unwrap().to_string();
    let chunks = b.svc.store().upload_chunks(&id, 0, 1000).await.unwrap();
    let stored: Vec<u8> = chunks.into_iter().flat_map(|(_, c)| c).collect();
    assert!(stored == data, "the stored bytes differ from the file");
    for s in [&a, &b] {
        let on_disk = files_under(&s.svc.settings().data_dir);
        assert!(on_disk.is_empty(), "{on_disk:?}");
    }

    // Imported through A, run by B's worker.
    let to = format!("imap://user1@127.0.0.1:{}", dc.imap_port);
    let r = api(
        a.addr,
        "POST",
        "/api/v1/imports",
        None,
        Some(json!({"upload": loc, "destination": {"url": to, "password": "pass1"}, "content": ["mail"]})),
    )
    .await;
    assert_eq!(r.status, 201, "{r:?}");
    let mid = r.json()["id"].as_str().unwrap().to_string();
    let v = wait_status(a.addr, &mid, "user1", &["done", "failed"]).await;
    assert_eq!(v["status"], "done", "{v}");
    assert_eq!(destination_mail(&dc, "user1", "pass1"), want);
    // B's copy of the file went when its pass ended.
    let left = files_under(&b.svc.settings().data_dir);
    assert!(left.is_empty(), "{left:?}");
    // Deleting the migration deletes the upload's bytes from the database.
    let d = api(
        b.addr,
        "DELETE",
        &format!("/api/v1/migrations/{mid}"),
        Some("user1"),
        None,
    )
    .await;
    assert_eq!(d.status, 204, "{d:?}");
    assert_eq!(head(a.addr, &loc).await.status, 404);
    let n = db.psql("SELECT count(*) FROM upload_chunks").unwrap();
    assert_eq!(n.trim(), "0");
    let n = db.psql("SELECT count(*) FROM uploads").unwrap();
    assert_eq!(n.trim(), "0");
}
