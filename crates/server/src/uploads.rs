//! File migrations: resumable uploads over tus 1.0 at `/api/v1/uploads` (core, creation,
//! termination, checksum), then `POST /api/v1/imports` to import a finished upload.
//!
//! - Where the bytes go depends on the store:
//!   - **SQLite** (one machine): a file under `<data dir>/uploads/`. The offset a client is
//!     told (and the row's `received`) only moves after an fsync. The file lives on the
//!     machine that received it: its import is a job only that machine runs (`only_node`), and
//!     another machine answers a PATCH with `421 Misdirected Request`.
//!   - **PostgreSQL** (a cluster): rows of the store, in chunks of [`STORED_CHUNK`] bytes,
//!     each committed with the offset it moves. Any `serve` takes the next PATCH and any
//!     worker runs the import, which first copies the chunks, in order and a few at a time,
//!     to a file of its own machine and deletes that copy when the pass ends. We chose this
//!     over a shared file system or an object store because the database is the one thing
//!     every process of a cluster already reaches: nothing else to set up, and deleting the
//!     upload (termination, expiry, or its migration forgotten) deletes its bytes in the same
//!     statement. The cost is database space and write traffic while a file is uploaded
//!     (measured in `bench/uploads.sh`).
//! - Bodies are streamed, never held in memory (at most one chunk per PATCH). A PATCH
//!   without a checksum keeps what arrived before a cut (committed every `COMMIT_EVERY` bytes,
//!   or every chunk, and at the cut); a PATCH with `Upload-Checksum` is all or nothing.
//! - One PATCH at a time per upload (another gets `423 Locked`, which tus clients retry):
//!   per process for files, across the cluster for stored uploads (a writer's lease on the
//!   upload's row, renewed as it writes; a writer that died frees it after [`WRITER_TTL`]).
//! - An upload not imported within `Settings::upload_expire_after` (24 h) is deleted with its
//!   bytes by the sweep (of the machine holding its file, or of any machine when stored); an
//!   imported one lives as long as its migration.

use std::collections::HashSet;
use std::path::{Path as FsPath, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use axum::Json;
use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{head, post};
use base64::Engine as _;
use futures::StreamExt as _;
use passeur_engine::{FileKind, ImportSpec, ImportTarget, MigrationSpec, file_source_id};
use passeur_notify::Notification;
use passeur_store::Upload;
use passeur_types::ContentKind;
use sha1::Digest as _;
use tokio::io::{AsyncSeekExt as _, AsyncWriteExt as _};

use crate::api::{CreateImport, Created, ErrorOut};
use crate::routes::{guard, lang_of};
use crate::service::lock;
use crate::{ApiError, ApiJson, Service};

/// A PATCH's body, as it arrives (its first bytes may have been read and put back).
type Chunks = futures::stream::BoxStream<'static, Result<axum::body::Bytes, axum::Error>>;

/// The protocol version spoken.
pub const TUS_VERSION: &str = "1.0.0";
/// The extensions supported.
pub const TUS_EXTENSIONS: &str = "creation,termination,checksum";
/// The checksum algorithms of `Upload-Checksum`.
pub const TUS_CHECKSUMS: &str = "sha1,sha256";
/// A PATCH without checksum commits (fsync, then offset) every this many bytes, so that a
/// cut in a long request loses little.
const COMMIT_EVERY: u64 = 8 << 20;
/// The size of the chunks a stored upload is kept in (PostgreSQL).
pub const STORED_CHUNK: usize = 1 << 20;
/// How long a writer of a stored upload holds it without writing or renewing.
pub const WRITER_TTL: std::time::Duration = std::time::Duration::from_secs(60);
/// How often a writer of a stored upload renews its hold while the client is slow.
const WRITER_RENEW: std::time::Duration = std::time::Duration::from_secs(10);
/// The longest `Upload-Metadata` kept.
const MAX_METADATA: usize = 4096;
/// The status of a chunk whose checksum does not match (tus checksum extension).
const CHECKSUM_MISMATCH: u16 = 460;

/// The routes of uploads (no body limit) and imports (the JSON limit of the router).
pub(crate) fn routes() -> Router<Arc<Service>> {
    Router::new()
        .route("/api/v1/uploads", post(create_upload).options(tus_options))
        .route(
            "/api/v1/uploads/{id}",
            head(head_upload)
                .patch(patch_upload)
                .delete(delete_upload)
                .options(tus_options),
        )
        .layer(DefaultBodyLimit::disable())
        .route("/api/v1/imports", post(create_import))
}

/// A tus answer: a status, headers, and for errors a JSON body naming the problem.
pub(crate) struct Tus {
    status: StatusCode,
    headers: Vec<(&'static str, String)>,
    error: Option<String>,
    /// The error's code when the status alone does not say it.
    code: Option<&'static str>,
}

impl Tus {
    fn ok(status: StatusCode) -> Tus {
        Tus {
            status,
            headers: Vec::new(),
            error: None,
            code: None,
        }
    }

    fn err(status: StatusCode, msg: impl Into<String>) -> Tus {
        Tus {
            status,
            headers: Vec::new(),
            error: Some(msg.into()),
            code: None,
        }
    }

    /// A file of a type no import reads (its name: `file_type`; its first bytes:
    /// `file_content`), which the file page says in its own language.
    fn wrong_type(code: &'static str, msg: impl Into<String>) -> Tus {
        Tus {
            code: Some(code),
            ..Tus::err(StatusCode::UNSUPPORTED_MEDIA_TYPE, msg)
        }
    }

    fn header(mut self, name: &'static str, value: impl ToString) -> Tus {
        self.headers.push((name, value.to_string()));
        self
    }

    fn internal(e: impl std::fmt::Display) -> Tus {
        tracing::error!(error = %e, "upload request failed");
        Tus::err(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
    }
}

impl From<passeur_store::StoreError> for Tus {
    fn from(e: passeur_store::StoreError) -> Tus {
        Tus::internal(e)
    }
}

impl IntoResponse for Tus {
    fn into_response(self) -> Response {
        let mut res = match self.error {
            Some(error) => {
                let code = match self.status {
                    _ if self.code.is_some() => self.code.unwrap_or_default(),
                    StatusCode::INTERNAL_SERVER_ERROR => "internal",
                    StatusCode::NOT_FOUND | StatusCode::GONE => "not_found",
                    StatusCode::CONFLICT => "conflict",
                    StatusCode::PAYLOAD_TOO_LARGE => "too_large",
                    _ => "bad_request",
                };
                let out = ErrorOut {
                    error,
                    code: code.into(),
                    field: None,
                };
                (self.status, Json(out)).into_response()
            }
            None => self.status.into_response(),
        };
        let h = res.headers_mut();
        h.insert("tus-resumable", HeaderValue::from_static(TUS_VERSION));
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        for (name, value) in self.headers {
            if let Ok(v) = HeaderValue::from_str(&value) {
                h.insert(name, v);
            }
        }
        res
    }
}

pub(crate) type TusResult = Result<Tus, Tus>;

fn header_str<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok()).map(str::trim)
}

/// Every request but OPTIONS must say it speaks our version.
fn check_version(h: &HeaderMap) -> Result<(), Tus> {
    match header_str(h, "tus-resumable") {
        Some(TUS_VERSION) => Ok(()),
        Some(other) => Err(Tus::err(
            StatusCode::PRECONDITION_FAILED,
            format!("Tus-Resumable {other:?} is not supported: this server speaks {TUS_VERSION}"),
        )
        .header("tus-version", TUS_VERSION)),
        None => Err(Tus::err(
            StatusCode::PRECONDITION_FAILED,
            format!("the Tus-Resumable header is required ({TUS_VERSION})"),
        )
        .header("tus-version", TUS_VERSION)),
    }
}

fn parse_size(h: &HeaderMap, name: &str) -> Result<Option<u64>, Tus> {
    match header_str(h, name) {
        None => Ok(None),
        Some(v) => v
            .parse::<u64>()
            .map(Some)
            .map_err(|_| Tus::err(StatusCode::BAD_REQUEST, format!("{name} is not a number"))),
    }
}

/// Checks `Upload-Metadata`: comma-separated `key[ base64]`, keys unique and without spaces.
fn check_metadata(m: &str) -> Result<(), String> {
    if m.len() > MAX_METADATA {
        return Err(format!(
            "Upload-Metadata is longer than {MAX_METADATA} bytes"
        ));
    }
    let mut keys = HashSet::new();
    for pair in m.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let mut it = pair.split(' ');
        let key = it.next().unwrap_or_default();
        if key.is_empty() || !key.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(format!("Upload-Metadata: bad key {key:?}"));
        }
        if !keys.insert(key) {
            return Err(format!("Upload-Metadata: key {key:?} given twice"));
        }
        if let Some(v) = it.next()
            && base64::engine::general_purpose::STANDARD.decode(v).is_err()
        {
            return Err(format!(
                "Upload-Metadata: the value of {key:?} is not base64"
            ));
        }
        if it.next().is_some() {
            return Err(format!("Upload-Metadata: {key:?} has more than one value"));
        }
    }
    Ok(())
}

/// One value of an upload's metadata, decoded (e.g. `filename`).
pub(crate) fn metadata_value(metadata: &str, key: &str) -> Option<String> {
    metadata.split(',').map(str::trim).find_map(|pair| {
        let (k, v) = pair.split_once(' ').unwrap_or((pair, ""));
        (k == key).then(|| {
            base64::engine::general_purpose::STANDARD
                .decode(v)
                .ok()
                .map(|b| String::from_utf8_lossy(&b).into_owned())
        })?
    })
}

/// 128 random bits, as 32 hex digits.
fn new_upload_id() -> String {
    let bytes: [u8; 16] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn uploads_dir(svc: &Service) -> PathBuf {
    svc.settings.data_dir.join("uploads")
}

/// The upload `id` if it exists and has not expired (an imported one never does).
async fn live_upload(svc: &Service, id: &str) -> Result<Upload, Tus> {
    let gone = || Tus::err(StatusCode::NOT_FOUND, "no such upload (or it expired)");
    if id.len() != 32 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(gone());
    }
    let Some(u) = svc.store().upload(id).await? else {
        return Err(gone());
    };
    if u.migration.is_none() && u.expires_at_ms < svc.store().clock_ms().await? {
        return Err(gone());
    }
    Ok(u)
}

/// The file of an upload held by another machine cannot be written here.
fn check_node(u: &Upload) -> Result<(), Tus> {
    if u.node != passeur_jobs::this_node() {
        return Err(Tus::err(
            StatusCode::MISDIRECTED_REQUEST,
            format!(
                "this upload is held by the machine {:?}: send its requests there",
                u.node
            ),
        ));
    }
    Ok(())
}

/// What the server supports.
#[utoipa::path(options, path = "/api/v1/uploads",
    responses((status = 204, description = "`Tus-Version`, `Tus-Extension`, `Tus-Max-Size`, `Tus-Checksum-Algorithm`")))]
pub(crate) async fn tus_options(State(svc): State<Arc<Service>>) -> Tus {
    Tus::ok(StatusCode::NO_CONTENT)
        .header("tus-version", TUS_VERSION)
        .header("tus-extension", TUS_EXTENSIONS)
        .header("tus-max-size", svc.settings.max_upload)
        .header("tus-checksum-algorithm", TUS_CHECKSUMS)
}

/// Create an upload (tus creation): `Upload-Length` (bytes), optional `Upload-Metadata`
/// (`filename <base64>` names the file). Answers `201` with its URL in `Location`. An upload
/// not imported within 24 hours is deleted.
#[utoipa::path(post, path = "/api/v1/uploads",
    params(("Tus-Resumable" = String, Header, description = "1.0.0"),
        ("Upload-Length" = u64, Header), ("Upload-Metadata" = Option<String>, Header)),
    responses((status = 201, description = "created; its URL in `Location`"),
        (status = 400, body = ErrorOut), (status = 412, body = ErrorOut),
        (status = 413, body = ErrorOut, description = "larger than `Tus-Max-Size`")))]
pub(crate) async fn create_upload(
    State(svc): State<Arc<Service>>,
    headers: HeaderMap,
) -> TusResult {
    check_version(&headers)?;
    let Some(length) = parse_size(&headers, "upload-length")? else {
        let msg = if headers.contains_key("upload-defer-length") {
            "Upload-Defer-Length is not supported: give Upload-Length"
        } else {
            "the Upload-Length header is required"
        };
        return Err(Tus::err(StatusCode::BAD_REQUEST, msg));
    };
    let max = svc.settings.max_upload;
    if length > max {
        return Err(Tus::err(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the file is larger than the {max} bytes this server accepts"),
        )
        .header("tus-max-size", max));
    }
    let metadata = header_str(&headers, "upload-metadata")
        .unwrap_or_default()
        .to_string();
    check_metadata(&metadata).map_err(|m| Tus::err(StatusCode::BAD_REQUEST, m))?;
    if let Some(name) = metadata_value(&metadata, "filename")
        && expected_content(Some(&name)).is_none()
    {
        return Err(Tus::wrong_type(
            "file_type",
            format!(
                "{name:?} is not a file this service imports: send a .pst or .ost (Outlook), \
                 .ics, .ifb or .vcs (calendar) or .vcf (contacts) file"
            ),
        ));
    }
    let now = svc.store().clock_ms().await?;
    let ttl = i64::try_from(svc.settings.upload_expire_after.as_millis()).unwrap_or(i64::MAX / 4);
    let id = new_upload_id();
    let mut u = Upload {
        id: id.clone(),
        length,
        received: 0,
        metadata,
        path: String::new(),
        node: String::new(),
        created_at_ms: now,
        expires_at_ms: now.saturating_add(ttl),
        migration: None,
    };
    if stores_uploads(&svc) {
        svc.store().create_upload(&u).await?;
        tracing::info!(upload = %id, length, "upload created (kept in the store)");
        return Ok(created(&id));
    }
    let dir = uploads_dir(&svc);
    tokio::fs::create_dir_all(&dir)
        .await
        .map_err(Tus::internal)?;
    let dir = tokio::fs::canonicalize(&dir).await.map_err(Tus::internal)?;
    let path = dir.join(&id);
    let file = tokio::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .await
        .map_err(Tus::internal)?;
    file.sync_all().await.map_err(Tus::internal)?;
    drop(file);
    u.path = path.display().to_string();
    u.node = passeur_jobs::this_node();
    if let Err(e) = svc.store().create_upload(&u).await {
        let _ = tokio::fs::remove_file(&path).await;
        return Err(e.into());
    }
    tracing::info!(upload = %id, length, "upload created");
    Ok(created(&id))
}

fn created(id: &str) -> Tus {
    Tus::ok(StatusCode::CREATED)
        .header("location", format!("/api/v1/uploads/{id}"))
        .header("upload-offset", 0)
}

/// Whether new uploads are kept in the store (PostgreSQL: a cluster) rather than in a file of
/// this machine (SQLite).
fn stores_uploads(svc: &Service) -> bool {
    svc.store().backend_name() == "postgres"
}

/// Where an upload is: `Upload-Offset` (bytes safely received) and `Upload-Length`.
#[utoipa::path(head, path = "/api/v1/uploads/{id}",
    params(("id" = String, Path), ("Tus-Resumable" = String, Header)),
    responses((status = 200, description = "`Upload-Offset`, `Upload-Length`, `Upload-Metadata`"),
        (status = 404, description = "no such upload, or it expired")))]
pub(crate) async fn head_upload(
    State(svc): State<Arc<Service>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> TusResult {
    check_version(&headers)?;
    let u = live_upload(&svc, &id).await?;
    let mut t = Tus::ok(StatusCode::OK)
        .header("upload-offset", u.received)
        .header("upload-length", u.length);
    if !u.metadata.is_empty() {
        t = t.header("upload-metadata", &u.metadata);
    }
    Ok(t)
}

/// The uploads being written in this process: one PATCH at a time per upload.
struct Writing(String);

impl Writing {
    fn take(id: &str) -> Option<Writing> {
        let mut set = lock(busy());
        set.insert(id.to_string()).then(|| Writing(id.to_string()))
    }
}

impl Drop for Writing {
    fn drop(&mut self) {
        lock(busy()).remove(&self.0);
    }
}

fn busy() -> &'static Mutex<HashSet<String>> {
    static BUSY: OnceLock<Mutex<HashSet<String>>> = OnceLock::new();
    BUSY.get_or_init(Default::default)
}

enum Hasher {
    Sha1(sha1::Sha1),
    Sha256(sha2::Sha256),
}

impl Hasher {
    fn update(&mut self, b: &[u8]) {
        match self {
            Hasher::Sha1(h) => h.update(b),
            Hasher::Sha256(h) => h.update(b),
        }
    }

    fn finish(self) -> Vec<u8> {
        match self {
            Hasher::Sha1(h) => h.finalize().to_vec(),
            Hasher::Sha256(h) => h.finalize().to_vec(),
        }
    }
}

/// `Upload-Checksum: <algorithm> <base64 digest>`.
fn parse_checksum(h: &HeaderMap) -> Result<Option<(Hasher, Vec<u8>)>, Tus> {
    let Some(v) = header_str(h, "upload-checksum") else {
        return Ok(None);
    };
    let bad = |m: String| Tus::err(StatusCode::BAD_REQUEST, m);
    let (algo, digest) = v
        .split_once(' ')
        .ok_or_else(|| bad("Upload-Checksum must be \"<algorithm> <base64 digest>\"".into()))?;
    let digest = base64::engine::general_purpose::STANDARD
        .decode(digest.trim())
        .map_err(|_| bad("Upload-Checksum: the digest is not base64".into()))?;
    let hasher = match algo.to_ascii_lowercase().as_str() {
        "sha1" => Hasher::Sha1(sha1::Sha1::new()),
        "sha256" => Hasher::Sha256(sha2::Sha256::new()),
        other => {
            return Err(bad(format!(
                "Upload-Checksum: the algorithm {other:?} is not supported ({TUS_CHECKSUMS})"
            )));
        }
    };
    Ok(Some((hasher, digest)))
}

/// Append bytes at `Upload-Offset` (which must be the upload's offset, else `409`). With
/// `Upload-Checksum`, a chunk whose digest differs is discarded (`460`). Answers the new
/// `Upload-Offset`: those bytes are on disk.
#[utoipa::path(patch, path = "/api/v1/uploads/{id}",
    params(("id" = String, Path), ("Tus-Resumable" = String, Header), ("Upload-Offset" = u64, Header),
        ("Upload-Checksum" = Option<String>, Header, description = "`sha1 <base64>` or `sha256 <base64>`")),
    request_body(content = Vec<u8>, content_type = "application/offset+octet-stream"),
    responses((status = 204, description = "the new `Upload-Offset`"),
        (status = 404, body = ErrorOut), (status = 409, body = ErrorOut, description = "wrong offset"),
        (status = 413, body = ErrorOut, description = "more bytes than the upload's length"),
        (status = 415, body = ErrorOut), (status = 423, body = ErrorOut, description = "another request is writing it"),
        (status = 460, body = ErrorOut, description = "checksum mismatch: the chunk was discarded")))]
pub(crate) async fn patch_upload(
    State(svc): State<Arc<Service>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> TusResult {
    let mut stream: Chunks = body.into_data_stream().boxed();
    let r = patch(&svc, &id, &headers, &mut stream).await;
    if r.is_err() {
        // Read (and drop) a little of what the client still sends, so that it gets the
        // answer rather than a reset connection.
        let mut left: usize = 4 << 20;
        while left > 0 {
            match tokio::time::timeout(std::time::Duration::from_secs(2), stream.next()).await {
                Ok(Some(Ok(b))) => left = left.saturating_sub(b.len()),
                _ => break,
            }
        }
    }
    r
}

async fn patch(svc: &Service, id: &str, headers: &HeaderMap, stream: &mut Chunks) -> TusResult {
    check_version(headers)?;
    if header_str(headers, "content-type") != Some("application/offset+octet-stream") {
        return Err(Tus::err(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "the Content-Type of a PATCH must be application/offset+octet-stream",
        ));
    }
    let offset = parse_size(headers, "upload-offset")?.ok_or_else(|| {
        Tus::err(
            StatusCode::BAD_REQUEST,
            "the Upload-Offset header is required",
        )
    })?;
    let mut checksum = parse_checksum(headers)?;
    let u = live_upload(svc, id).await?;
    if offset == 0 && u.received == 0 {
        let name = metadata_value(&u.metadata, "filename");
        check_first_bytes(name.as_deref(), stream).await?;
    }
    if u.held_in_store() {
        return patch_stored(svc, &u.id, offset, headers, checksum, stream).await;
    }
    check_node(&u)?;
    let Some(_writing) = Writing::take(&u.id) else {
        return Err(Tus::err(
            StatusCode::LOCKED,
            "another request is writing this upload: try again shortly",
        ));
    };
    // Read again under the lock: the offset may have moved meanwhile.
    let u = live_upload(svc, id).await?;
    let conflict = |at: u64| {
        Tus::err(
            StatusCode::CONFLICT,
            format!("Upload-Offset {offset} is not the upload's offset {at}"),
        )
        .header("upload-offset", at)
    };
    if offset != u.received {
        return Err(conflict(u.received));
    }
    let room = u.length - u.received;
    if let Some(n) = parse_size(headers, "content-length")?
        && n > room
    {
        return Err(too_long(&u));
    }
    let mut file = tokio::fs::OpenOptions::new()
        .write(true)
        .open(&u.path)
        .await
        .map_err(Tus::internal)?;
    file.seek(std::io::SeekFrom::Start(offset))
        .await
        .map_err(Tus::internal)?;
    // Bytes written by this request, and those of them committed (synced, offset moved).
    let (mut written, mut committed) = (0u64, 0u64);
    let mut cut = false;
    while let Some(frame) = stream.next().await {
        let bytes = match frame {
            Ok(b) => b,
            Err(e) => {
                tracing::info!(upload = %u.id, error = %e, "upload request cut");
                cut = true;
                break;
            }
        };
        if written + bytes.len() as u64 > room {
            discard(&mut file, offset + committed).await;
            return Err(too_long(&u));
        }
        file.write_all(&bytes).await.map_err(Tus::internal)?;
        written += bytes.len() as u64;
        match &mut checksum {
            Some((h, _)) => h.update(&bytes),
            None if written - committed >= COMMIT_EVERY => {
                commit(svc, &mut file, &u.id, offset + committed, offset + written).await?;
                committed = written;
            }
            None => {}
        }
    }
    if cut {
        // Keep what arrived, unless it was to be checked as a whole.
        if checksum.is_some() {
            discard(&mut file, offset).await;
        } else if written > committed {
            commit(svc, &mut file, &u.id, offset + committed, offset + written).await?;
        }
        return Err(Tus::err(
            StatusCode::BAD_REQUEST,
            "the request body ended early",
        ));
    }
    if let Some((h, want)) = checksum
        && h.finish() != want
    {
        discard(&mut file, offset).await;
        return Err(Tus::err(
            StatusCode::from_u16(CHECKSUM_MISMATCH).unwrap_or(StatusCode::BAD_REQUEST),
            "the chunk's checksum does not match: it was discarded",
        )
        .header("upload-offset", offset));
    }
    if written > committed {
        commit(svc, &mut file, &u.id, offset + committed, offset + written).await?;
    }
    let at = offset + written;
    if at == u.length {
        tracing::info!(upload = %u.id, length = u.length, "upload complete");
    }
    Ok(Tus::ok(StatusCode::NO_CONTENT).header("upload-offset", at))
}

/// A PATCH of an upload kept in the store: under a writer's lease on it, so that one request
/// at a time writes it whichever process of the cluster received it.
async fn patch_stored(
    svc: &Service,
    id: &str,
    offset: u64,
    headers: &HeaderMap,
    checksum: Option<(Hasher, Vec<u8>)>,
    stream: &mut Chunks,
) -> TusResult {
    let writer = new_upload_id();
    let ttl = WRITER_TTL.as_millis() as i64;
    if !svc.store().claim_upload_writer(id, &writer, ttl).await? {
        return Err(Tus::err(
            StatusCode::LOCKED,
            "another request is writing this upload: try again shortly",
        ));
    }
    let w = StoredWriter {
        svc,
        id,
        writer: &writer,
        ttl,
    };
    let r = w.patch(offset, headers, checksum, stream).await;
    if let Err(e) = svc.store().release_upload_writer(id, &writer).await {
        tracing::warn!(upload = %id, error = %e, "cannot let go of an upload");
    }
    r
}

/// The holder of a stored upload's writer lease, for one PATCH.
struct StoredWriter<'a> {
    svc: &'a Service,
    id: &'a str,
    writer: &'a str,
    ttl: i64,
}

impl StoredWriter<'_> {
    fn changed() -> Tus {
        Tus::err(
            StatusCode::CONFLICT,
            "the upload changed while this request wrote it",
        )
    }

    /// Writes one chunk at byte `at`; with `advance`, the offset moves past it.
    async fn put(&self, at: u64, data: &[u8], advance: bool) -> Result<(), Tus> {
        let store = self.svc.store();
        if store
            .put_upload_chunk(self.id, self.writer, self.ttl, at, data, advance)
            .await?
        {
            Ok(())
        } else {
            Err(Self::changed())
        }
    }

    /// Drops what this request wrote from byte `from` on (not counted, or refused).
    async fn drop_from(&self, from: u64) {
        if let Err(e) = self
            .svc
            .store()
            .drop_upload_chunks(self.id, self.writer, from)
            .await
        {
            tracing::warn!(upload = %self.id, error = %e, "cannot drop a refused chunk");
        }
    }

    async fn patch(
        &self,
        offset: u64,
        headers: &HeaderMap,
        mut checksum: Option<(Hasher, Vec<u8>)>,
        stream: &mut Chunks,
    ) -> TusResult {
        // Read again under the lease: the offset may have moved meanwhile.
        let u = live_upload(self.svc, self.id).await?;
        if offset != u.received {
            return Err(Tus::err(
                StatusCode::CONFLICT,
                format!(
                    "Upload-Offset {offset} is not the upload's offset {}",
                    u.received
                ),
            )
            .header("upload-offset", u.received));
        }
        let room = u.length - u.received;
        if let Some(n) = parse_size(headers, "content-length")?
            && n > room
        {
            return Err(too_long(&u));
        }
        // Chunks beyond the offset are left over from a cut request or a writer that died.
        if !self
            .svc
            .store()
            .drop_upload_chunks(self.id, self.writer, offset)
            .await?
        {
            return Err(Self::changed());
        }
        // Without a checksum every chunk counts once written; with one, none counts before
        // the whole request is checked.
        let advance = checksum.is_none();
        let mut buf: Vec<u8> = Vec::with_capacity(STORED_CHUNK);
        // Bytes received by this request, and those of them written as chunks.
        let (mut written, mut stored) = (0u64, 0u64);
        let mut cut = false;
        let mut renew = tokio::time::interval(WRITER_RENEW);
        renew.tick().await;
        loop {
            let frame = tokio::select! {
                f = stream.next() => f,
                _ = renew.tick() => {
                    if !self.svc.store().renew_upload_writer(self.id, self.writer, self.ttl, None).await? {
                        return Err(Self::changed());
                    }
                    continue;
                }
            };
            let bytes = match frame {
                None => break,
                Some(Ok(b)) => b,
                Some(Err(e)) => {
                    tracing::info!(upload = %self.id, error = %e, "upload request cut");
                    cut = true;
                    break;
                }
            };
            if written + bytes.len() as u64 > room {
                if !advance {
                    self.drop_from(offset).await;
                }
                return Err(too_long(&u));
            }
            if let Some((h, _)) = &mut checksum {
                h.update(&bytes);
            }
            written += bytes.len() as u64;
            buf.extend_from_slice(&bytes);
            while buf.len() >= STORED_CHUNK {
                self.put(offset + stored, &buf[..STORED_CHUNK], advance)
                    .await?;
                stored += STORED_CHUNK as u64;
                buf.drain(..STORED_CHUNK);
            }
        }
        if cut {
            // Keep what arrived, unless it was to be checked as a whole.
            if advance {
                if !buf.is_empty() {
                    self.put(offset + stored, &buf, true).await?;
                }
            } else {
                self.drop_from(offset).await;
            }
            return Err(Tus::err(
                StatusCode::BAD_REQUEST,
                "the request body ended early",
            ));
        }
        if !buf.is_empty() {
            self.put(offset + stored, &buf, advance).await?;
        }
        if let Some((h, want)) = checksum {
            if h.finish() != want {
                self.drop_from(offset).await;
                return Err(Tus::err(
                    StatusCode::from_u16(CHECKSUM_MISMATCH).unwrap_or(StatusCode::BAD_REQUEST),
                    "the chunk's checksum does not match: it was discarded",
                )
                .header("upload-offset", offset));
            }
            let to = Some((offset, offset + written));
            if !self
                .svc
                .store()
                .renew_upload_writer(self.id, self.writer, self.ttl, to)
                .await?
            {
                return Err(Self::changed());
            }
        }
        let at = offset + written;
        if at == u.length {
            tracing::info!(upload = %u.id, length = u.length, "upload complete (kept in the store)");
        }
        Ok(Tus::ok(StatusCode::NO_CONTENT).header("upload-offset", at))
    }
}

fn too_long(u: &Upload) -> Tus {
    Tus::err(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!(
            "more bytes than the upload's length ({} bytes, {} received)",
            u.length, u.received
        ),
    )
}

/// Syncs the file, then moves the offset from `from` to `to`.
async fn commit(
    svc: &Service,
    file: &mut tokio::fs::File,
    id: &str,
    from: u64,
    to: u64,
) -> Result<(), Tus> {
    file.flush().await.map_err(Tus::internal)?;
    file.sync_data().await.map_err(Tus::internal)?;
    if !svc.store().advance_upload(id, from, to).await? {
        return Err(Tus::err(
            StatusCode::CONFLICT,
            "the upload changed while this request wrote it",
        ));
    }
    Ok(())
}

/// Cuts the file back to `len` (a chunk refused as a whole).
async fn discard(file: &mut tokio::fs::File, len: u64) {
    let _ = file.flush().await;
    if let Err(e) = file.set_len(len).await {
        tracing::warn!(error = %e, "cannot cut back a refused chunk");
    }
}

/// Delete an upload and its file (tus termination). An upload already imported goes with its
/// migration (`DELETE /api/v1/migrations/{id}`).
#[utoipa::path(delete, path = "/api/v1/uploads/{id}",
    params(("id" = String, Path), ("Tus-Resumable" = String, Header)),
    responses((status = 204), (status = 404, body = ErrorOut), (status = 409, body = ErrorOut)))]
pub(crate) async fn delete_upload(
    State(svc): State<Arc<Service>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> TusResult {
    check_version(&headers)?;
    let u = live_upload(&svc, &id).await?;
    if u.migration.is_some() {
        return Err(Tus::err(
            StatusCode::CONFLICT,
            "this upload is being imported: delete its migration instead",
        ));
    }
    if !u.held_in_store() {
        check_node(&u)?;
    }
    // A stored upload's chunks go with its row.
    svc.store().delete_upload(&u.id).await?;
    if !u.held_in_store() {
        remove_file(FsPath::new(&u.path)).await;
    }
    tracing::info!(upload = %u.id, "upload deleted on request");
    Ok(Tus::ok(StatusCode::NO_CONTENT))
}

/// Deletes an upload's file; a file already gone is fine.
pub(crate) async fn remove_file(path: &FsPath) {
    match tokio::fs::remove_file(path).await {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "cannot delete an upload's file")
        }
    }
}

/// The upload ID from an ID or the upload's URL.
fn upload_id(s: &str) -> &str {
    s.trim()
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or_default()
}

/// What the file is: by the extension of its name, else by its first bytes.
fn file_kind(name: Option<&str>, path: &FsPath) -> Option<FileKind> {
    let ext = name
        .and_then(|n| FsPath::new(n).extension())
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    if let Some(ext) = ext {
        // Told by the extension alone: this name is never opened.
        if let Some(k) = FileKind::detect(FsPath::new(&format!("upload.{ext}"))) {
            return Some(k);
        }
    }
    FileKind::detect(path)
}

/// What a stored upload is: by the extension of its name, else by its first bytes (copied to
/// a scratch file for [`FileKind::detect`]).
async fn stored_kind(svc: &Service, u: &Upload, name: Option<&str>) -> Option<FileKind> {
    let by_name = name
        .and_then(|n| FsPath::new(n).extension())
        .and_then(|e| e.to_str())
        .and_then(|e| FileKind::detect(FsPath::new(&format!("upload.{e}"))));
    if by_name.is_some() {
        return by_name;
    }
    let (_, head) = svc.store().upload_chunks(&u.id, 0, 1).await.ok()?.pop()?;
    let dir = uploads_dir(svc);
    tokio::fs::create_dir_all(&dir).await.ok()?;
    let probe = dir.join(format!(".probe-{}", new_upload_id()));
    tokio::fs::write(&probe, &head[..head.len().min(4096)])
        .await
        .ok()?;
    let kind = FileKind::detect(&probe);
    remove_file(&probe).await;
    kind
}

/// The file an import names in its spec: the upload's file, or for a stored upload a name
/// that the pass replaces with its own machine's copy ([`crate::service`]).
fn import_file(u: &Upload) -> String {
    if u.held_in_store() {
        format!("{STORED_FILE_PREFIX}{}", u.id)
    } else {
        u.path.clone()
    }
}

/// How an import's spec names a stored upload before a pass copies it to a file.
pub(crate) const STORED_FILE_PREFIX: &str = "upload:";

/// Import a finished upload into the destination account: a PST/OST (mail over IMAP, and
/// contacts, calendars and tasks over DAV when `destination.dav` is given), or an .ics /
/// .vcf file (into a DAV collection named after the file). The kind is told by the file's
/// name, else its content. Track it with the destination login.
#[utoipa::path(post, path = "/api/v1/imports", request_body = CreateImport,
    responses((status = 201, body = Created), (status = 400, body = ErrorOut),
        (status = 409, body = ErrorOut, description = "the upload is not complete, or already imported"),
        (status = 422, body = ErrorOut)))]
pub(crate) async fn create_import(
    State(svc): State<Arc<Service>>,
    headers: HeaderMap,
    ApiJson(mut req): ApiJson<CreateImport>,
) -> Result<(StatusCode, Json<Created>), ApiError> {
    // The file page's "Sign in with …" for the destination.
    crate::oauth_pages::use_signed_in(
        &svc,
        &headers,
        "file",
        "dst",
        "destination",
        &mut req.destination,
    )
    .await?;
    let v = req.validate()?;
    crate::routes::check_provider(&svc, "destination.oauth.provider", v.oauth.as_ref())?;
    let no_upload = || ApiError::Field {
        field: "upload".into(),
        message: "no such upload (or it expired)".into(),
    };
    let u = match live_upload(&svc, upload_id(&req.upload)).await {
        Ok(u) => u,
        Err(t) if t.status == StatusCode::NOT_FOUND => return Err(no_upload()),
        Err(t) => return Err(ApiError::Internal(t.error.unwrap_or_default())),
    };
    if u.migration.is_some() {
        return Err(ApiError::Conflict("this upload is already imported".into()));
    }
    if !u.is_complete() {
        return Err(ApiError::Conflict(format!(
            "this upload is not complete: {} of {} bytes received",
            u.received, u.length
        )));
    }
    let name = metadata_value(&u.metadata, "filename");
    let path = PathBuf::from(&u.path);
    let here = u.node == passeur_jobs::this_node();
    let kind = if u.held_in_store() {
        stored_kind(&svc, &u, name.as_deref()).await
    } else if here {
        file_kind(name.as_deref(), &path)
    } else {
        name.as_deref()
            .and_then(|n| FsPath::new(n).extension())
            .and_then(|e| e.to_str())
            .and_then(|e| FileKind::detect(FsPath::new(&format!("upload.{e}"))))
    };
    let Some(kind) = kind else {
        return Err(ApiError::Field {
            field: "upload".into(),
            message: "the file is not a PST/OST, an .ics or a .vcf file".into(),
        });
    };
    let dst = &v.destination;
    let wants_dav = v.content.iter().any(|k| *k != ContentKind::Mail);
    let dav_required = || ApiError::Field {
        field: "destination.dav".into(),
        message: match kind {
            FileKind::Pst => "is required for contacts, calendars and tasks".into(),
            _ => "is required to import a calendar or address book file".into(),
        },
    };
    let target = match kind {
        FileKind::Pst => {
            let with_mail = v.content.is_empty() || v.content.contains(&ContentKind::Mail);
            let with_dav = if v.content.is_empty() {
                v.dav.is_some()
            } else {
                wants_dav
            };
            if with_dav && v.dav.is_none() {
                return Err(dav_required());
            }
            ImportTarget {
                file: import_file(&u),
                format: kind,
                imap: with_mail.then(|| dst.to_url()),
                dav: if with_dav { v.dav.clone() } else { None },
                dav_user: with_dav.then(|| dst.login.clone()),
                collection: None,
            }
        }
        FileKind::Ics | FileKind::Vcf => {
            let fits = match kind {
                FileKind::Vcf => [ContentKind::Contacts].as_slice(),
                _ => [ContentKind::Calendars, ContentKind::Tasks].as_slice(),
            };
            if let Some((i, k)) = v
                .content
                .iter()
                .enumerate()
                .find(|(_, k)| !fits.contains(k))
            {
                return Err(ApiError::Field {
                    field: format!("content[{i}]"),
                    message: format!("this file holds no {}", k.as_str()),
                });
            }
            let Some(dav) = v.dav.clone() else {
                return Err(dav_required());
            };
            let collection = name
                .as_deref()
                .and_then(|n| FsPath::new(n).file_stem())
                .map(|s| s.to_string_lossy().into_owned())
                .filter(|s| !s.trim().is_empty())
                .unwrap_or_else(|| "Imported".into());
            ImportTarget {
                file: import_file(&u),
                format: kind,
                imap: None,
                dav: Some(dav),
                dav_user: Some(dst.login.clone()),
                collection: Some(collection),
            }
        }
    };
    guard(&svc, "destination.url", dst).await?;
    let source = if here {
        let p = path.clone();
        tokio::task::spawn_blocking(move || file_source_id(&p))
            .await
            .map_err(|e| ApiError::Internal(e.to_string()))?
            .map_err(|e| {
                // Its error names the file's path on this machine: logged, not shown.
                tracing::warn!(upload = %u.id, error = %e, "cannot read an upload to import it");
                ApiError::Conflict("cannot read the uploaded file: send it again".into())
            })?
            .1
    } else if u.held_in_store() {
        format!("upload:{}#{}", u.id, u.length)
    } else {
        format!("file:{}#upload:{}", u.path, u.length)
    };
    let destination = target.destination();
    let spec = MigrationSpec::Import(ImportSpec {
        import: target,
        to_admin: v.admin.clone(),
    });
    let (id, _) = svc
        .runner
        .create(&source, &destination, &spec, false)
        .await?;
    let lang = lang_of(v.lang.as_deref(), &headers);
    let prepared = async {
        svc.keep_credentials(id, "", &v.password).await?;
        if v.oauth.is_some() {
            svc.keep_oauth(id, None, v.oauth.as_ref()).await?;
        }
        svc.store()
            .put_service_meta(
                id,
                &passeur_store::ServiceMeta {
                    notify: v.notify.clone(),
                    lang: lang.tag().into(),
                    project: None,
                    ..Default::default()
                },
            )
            .await?;
        svc.store().attach_upload(&u.id, id).await
    }
    .await;
    match prepared {
        Ok(true) => {}
        Ok(false) => {
            let _ = svc.store().delete_migration(id).await;
            return Err(ApiError::Conflict(
                "this upload is already imported, or not complete".into(),
            ));
        }
        Err(e) => {
            let _ = svc.store().delete_migration(id).await;
            return Err(e.into());
        }
    }
    if let Err(e) = svc.queue_pass(id, None).await {
        let _ = svc.forget_migration(id).await;
        return Err(e.into());
    }
    svc.queue_notification(
        id,
        Notification::Started {
            migration_id: id.to_string(),
            tracking_url: svc.tracking_url(id),
            source: name.unwrap_or_else(|| "file".into()),
            destination: dst.to_url(),
        },
    )
    .await;
    tracing::info!(migration = %id, upload = %u.id, "file import created");
    if req.destination.signed_in {
        crate::oauth_pages::forget(&svc, &headers, "file", &["dst"]).await;
    }
    Ok((StatusCode::CREATED, Json(Created { id: id.to_string() })))
}

/// What an upload's first bytes must be, from its file name's extension (no name: either).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expected {
    /// A PST or OST file: `!BDN`.
    Pst,
    /// An iCalendar or vCard text: `BEGIN:` after an optional BOM and blank lines.
    Text,
    /// Either of them (the upload has no name).
    Any,
}

/// `None` for a name whose extension no import reads.
fn expected_content(name: Option<&str>) -> Option<Expected> {
    let Some(name) = name else {
        return Some(Expected::Any);
    };
    let ext = FsPath::new(name)
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)?;
    match ext.as_str() {
        "pst" | "ost" => Some(Expected::Pst),
        "ics" | "ical" | "icalendar" | "ifb" | "vcs" | "vcf" | "vcard" => Some(Expected::Text),
        _ => None,
    }
}

/// Whether `head` (a file's first bytes) can start a file of that kind: `None` while too few
/// bytes have come to tell.
fn fits(expected: Expected, head: &[u8]) -> Option<bool> {
    // Far more than a BOM and a few blank lines; a text this blank is no calendar.
    const ENOUGH: usize = 4096;
    let starts = |head: &[u8], with: &[u8]| -> Option<bool> {
        let n = head.len().min(with.len());
        if !head[..n].eq_ignore_ascii_case(&with[..n]) {
            Some(false)
        } else if n < with.len() {
            None
        } else {
            Some(true)
        }
    };
    match expected {
        Expected::Pst => starts(head, b"!BDN"),
        Expected::Text => {
            const BOM: &[u8] = b"\xEF\xBB\xBF";
            let rest = if head.len() < BOM.len() && BOM.starts_with(head) {
                return None;
            } else {
                head.strip_prefix(BOM).unwrap_or(head)
            };
            let at = rest.iter().position(|b| !b" \t\r\n".contains(b));
            match at {
                None if head.len() >= ENOUGH => Some(false),
                None => None,
                Some(at) => starts(&rest[at..], b"BEGIN:"),
            }
        }
        Expected::Any => match (fits(Expected::Pst, head), fits(Expected::Text, head)) {
            (Some(true), _) | (_, Some(true)) => Some(true),
            (Some(false), Some(false)) => Some(false),
            _ => None,
        },
    }
}

/// Refuses the first PATCH of an upload whose first bytes cannot start a file of its type
/// (they are read from `stream` as far as needed, then put back in front of the rest). A
/// request that ends before they tell is let through.
async fn check_first_bytes(name: Option<&str>, stream: &mut Chunks) -> Result<(), Tus> {
    let Some(expected) = expected_content(name) else {
        return Ok(());
    };
    let mut read: Vec<Result<axum::body::Bytes, axum::Error>> = Vec::new();
    let mut head = Vec::new();
    let verdict = loop {
        if let Some(v) = fits(expected, &head) {
            break Some(v);
        }
        match stream.next().await {
            Some(Ok(b)) => {
                let room = 8192usize.saturating_sub(head.len());
                head.extend_from_slice(&b[..b.len().min(room)]);
                read.push(Ok(b));
            }
            Some(Err(e)) => {
                read.push(Err(e));
                break None;
            }
            None => break None,
        }
    };
    let rest = std::mem::replace(stream, futures::stream::empty().boxed());
    *stream = futures::stream::iter(read).chain(rest).boxed();
    if verdict == Some(false) {
        let what = match expected {
            Expected::Pst => "an Outlook PST or OST file",
            Expected::Text => "an iCalendar or vCard file",
            Expected::Any => "a PST, OST, iCalendar or vCard file",
        };
        return Err(Tus::wrong_type(
            "file_content",
            format!("this file's content is not {what}: nothing was kept"),
        ));
    }
    Ok(())
}

/// Hides, in texts shown to a user (errors, failures, notifications), where a migration's
/// uploads lie on the service's disks: any path ending with an upload's ID (its file, a
/// pass's copy on any machine) becomes the name it was sent with, or "the uploaded file".
#[derive(Debug, Default)]
pub(crate) struct UploadNames(Vec<(String, Option<String>)>);

impl UploadNames {
    /// The uploads of `id` (none when they cannot be read: nothing is hidden then, but a
    /// store that cannot be read fails the page anyway).
    pub(crate) async fn of(svc: &Service, id: passeur_types::MigrationId) -> UploadNames {
        let uploads = svc.store().uploads_of(id).await.unwrap_or_default();
        UploadNames(
            uploads
                .into_iter()
                .map(|u| {
                    let name =
                        metadata_value(&u.metadata, "filename").filter(|n| !n.trim().is_empty());
                    (u.id, name)
                })
                .collect(),
        )
    }

    /// The name the (first) upload was sent with, or "uploaded file".
    pub(crate) fn sent_name(&self) -> &str {
        self.0
            .first()
            .and_then(|(_, name)| name.as_deref())
            .unwrap_or("uploaded file")
    }

    /// `text` with every path to an upload replaced by its name.
    pub(crate) fn hide(&self, text: &str) -> String {
        let mut out = text.to_string();
        for (id, name) in &self.0 {
            let shown = match name {
                Some(n) => format!("the uploaded file {n:?}"),
                None => "the uploaded file".to_string(),
            };
            let mut from = 0;
            while let Some(at) = out[from..].find(id.as_str()).map(|i| i + from) {
                let end = at + id.len();
                // The path is the run of non-blank characters that ends with the ID; a bare ID
                // (no directory before it) is left as is.
                let start = out[..at]
                    .rfind(char::is_whitespace)
                    .map_or(0, |w| w + out[w..].chars().next().map_or(1, char::len_utf8));
                if out[start..at].contains(['/', '\\']) {
                    out.replace_range(start..end, &shown);
                    from = start + shown.len();
                } else {
                    from = end;
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_bytes_fit_the_type_or_wait_for_more() {
        assert_eq!(fits(Expected::Pst, b"!BD"), None);
        assert_eq!(fits(Expected::Pst, b"!BDN\0\0"), Some(true));
        assert_eq!(fits(Expected::Pst, b"PK\x03"), Some(false));
        assert_eq!(fits(Expected::Text, b"\xEF\xBB"), None);
        assert_eq!(
            fits(Expected::Text, b"\xEF\xBB\xBF\r\n \r\nbegin:vcard"),
            Some(true)
        );
        assert_eq!(fits(Expected::Text, b"\r\n\r\nBEG"), None);
        assert_eq!(fits(Expected::Text, b"\r\nEND:"), Some(false));
        assert_eq!(fits(Expected::Text, &[b'\n'; 5000]), Some(false));
        assert_eq!(fits(Expected::Any, b"!BDN"), Some(true));
        assert_eq!(fits(Expected::Any, b"BEGIN:"), Some(true));
        assert_eq!(fits(Expected::Any, b"GIF89a"), Some(false));
        assert_eq!(expected_content(Some("a.OST")), Some(Expected::Pst));
        assert_eq!(expected_content(Some("a.Vcs")), Some(Expected::Text));
        assert_eq!(
            expected_content(Some("birthdays.ICAL")),
            Some(Expected::Text)
        );
        assert_eq!(expected_content(Some("team.vcard")), Some(Expected::Text));
        assert_eq!(expected_content(Some("a.txt")), None);
        assert_eq!(expected_content(Some("pst")), None);
        assert_eq!(expected_content(None), Some(Expected::Any));
    }

    #[test]
    fn upload_paths_are_hidden_bare_ids_kept() {
        let n = UploadNames(vec![
            ("abc123".into(), Some("a.pst".into())),
            ("def456".into(), None),
        ]);
        assert_eq!(
            n.hide("cannot read /srv/data/uploads/abc123: bad magic"),
            "cannot read the uploaded file \"a.pst\": bad magic"
        );
        assert_eq!(
            n.hide("x /a/fetched/def456 and C:\\up\\def456, upload def456"),
            "x the uploaded file and the uploaded file, upload def456"
        );
        assert_eq!(n.hide("nothing here"), "nothing here");
    }

    #[test]
    fn metadata_is_checked_and_read() {
        let m = "filename YS5wc3Q=,is_confidential";
        assert!(check_metadata(m).is_ok());
        assert_eq!(metadata_value(m, "filename").as_deref(), Some("a.pst"));
        assert_eq!(metadata_value(m, "is_confidential").as_deref(), Some(""));
        assert_eq!(metadata_value(m, "other"), None);
        assert!(check_metadata("").is_ok());
        for bad in ["filename !!!", "a YQ==,a YQ==", "a YQ== YQ=="] {
            assert!(check_metadata(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ids_are_128_random_bits() {
        let (a, b) = (new_upload_id(), new_upload_id());
        assert_eq!(a.len(), 32);
        assert_ne!(a, b);
        assert_eq!(upload_id("/api/v1/uploads/abc/"), "abc");
        assert_eq!(upload_id(" abc "), "abc");
    }
}
