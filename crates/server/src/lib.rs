//! passeur's HTTP service.
//!
//! - [`router`]: the JSON API under `/api/v1` (its OpenAPI document at `/api/v1/openapi.json`),
//!   `/healthz`. Every error becomes a response in one place ([`ApiError`]).
//! - [`Service`]: what the routes act on: the engine's [`Runner`], the [`vault::Vault`] that
//!   seals credentials, and the in-process workers that run passes.
//!
//! Tracking needs the migration ID and the source login (header `X-Passeur-Account`): an
//! unknown ID and a wrong account give the same 404.

pub mod api;
pub mod vault;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use passeur_engine::{
    AccountSpec, Control, DavAccount, DavSpec, EngineError, FolderRules, Limits, MailOptions,
    MigrationSpec, RunOptions, Runner, Secret, Secrets,
};
use passeur_types::{ContentKind, Endpoint, MigrationId, Status};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use utoipa::OpenApi;

use api::{
    CreateMigration, Created, ErrorOut, FailureOut, MigrationOut, PassOut, PurgeRequest,
    ValidMigration,
};
use vault::Vault;

/// The largest JSON body accepted.
const MAX_BODY: usize = 64 << 10;

/// Operator settings of the service.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Passes run at once by this process's workers (0: HTTP only).
    pub workers: usize,
    /// Accept self-signed certificates on user servers (test set-ups only).
    pub insecure_tls: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            workers: 2,
            insecure_tls: false,
        }
    }
}

/// A migration's sealed passwords.
struct Sealed {
    source: String,
    destination: String,
}

/// What the routes act on.
pub struct Service {
    runner: Runner,
    vault: Vault,
    settings: Settings,
    sealed: Mutex<HashMap<MigrationId, Sealed>>,
    running: Mutex<HashMap<MigrationId, CancellationToken>>,
    slots: Arc<Semaphore>,
    /// Cancelled when the service shuts down: running passes stop at a safe point.
    shutdown: CancellationToken,
}

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Service")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl Service {
    pub fn new(runner: Runner, vault: Vault, settings: Settings) -> Arc<Service> {
        Arc::new(Service {
            runner,
            vault,
            slots: Arc::new(Semaphore::new(settings.workers.max(1))),
            settings,
            sealed: Mutex::new(HashMap::new()),
            running: Mutex::new(HashMap::new()),
            shutdown: CancellationToken::new(),
        })
    }

    /// Stops every running pass at its next safe point (what is copied stays).
    pub fn shut_down(&self) {
        self.shutdown.cancel();
    }

    /// Whether a pass of `id` is running or waiting for a worker.
    pub fn is_running(&self, id: MigrationId) -> bool {
        lock(&self.running).contains_key(&id)
    }

    fn secrets(&self, id: MigrationId) -> Result<Secrets, ApiError> {
        let sealed = lock(&self.sealed);
        let s = sealed.get(&id).ok_or_else(|| {
            ApiError::Conflict("this migration's credentials are no longer kept".into())
        })?;
        let ctx = id.to_string();
        let open = |v: &str| {
            self.vault
                .open(&ctx, v)
                .map_err(|e| ApiError::Internal(e.to_string()))
        };
        Ok(Secrets {
            source: Some(open(&s.source)?),
            destination: Some(open(&s.destination)?),
        })
    }

    fn run_options(&self) -> RunOptions {
        RunOptions {
            source_insecure_tls: self.settings.insecure_tls,
            destination_insecure_tls: self.settings.insecure_tls,
            ..Default::default()
        }
    }

    /// Queues a pass of `id`, started at `start_at` (Unix seconds) at the earliest.
    fn spawn_pass(
        self: &Arc<Self>,
        id: MigrationId,
        start_at: Option<i64>,
    ) -> Result<(), ApiError> {
        let cancel = self.shutdown.child_token();
        {
            let mut running = lock(&self.running);
            if running.contains_key(&id) {
                return Err(ApiError::Conflict(
                    "a pass of this migration is running".into(),
                ));
            }
            running.insert(id, cancel.clone());
        }
        let svc = Arc::clone(self);
        tokio::spawn(async move {
            let outcome = svc.run_one(id, start_at, cancel).await;
            if let Err(e) = outcome {
                tracing::warn!(migration = %id, error = %e, "pass failed");
            }
            lock(&svc.running).remove(&id);
        });
        Ok(())
    }

    async fn run_one(
        &self,
        id: MigrationId,
        start_at: Option<i64>,
        cancel: CancellationToken,
    ) -> Result<(), EngineError> {
        if let Some(t) = start_at {
            let wait = t - now();
            if wait > 0 {
                tokio::select! {
                    _ = tokio::time::sleep(std::time::Duration::from_secs(wait as u64)) => {}
                    _ = cancel.cancelled() => {
                        self.runner.store().set_status(id, Status::Stopped, None).await?;
                        return Ok(());
                    }
                }
            }
        }
        let _permit = tokio::select! {
            p = Arc::clone(&self.slots).acquire_owned() => p.ok(),
            _ = cancel.cancelled() => {
                self.runner.store().set_status(id, Status::Stopped, None).await?;
                return Ok(());
            }
        };
        let secrets = match self.secrets(id) {
            Ok(s) => s,
            Err(e) => {
                let msg = e.to_string();
                self.runner
                    .store()
                    .set_status(id, Status::Failed, Some(&msg))
                    .await?;
                return Ok(());
            }
        };
        let control = Control {
            cancel,
            ..Default::default()
        };
        self.runner
            .run_pass(id, &secrets, &self.run_options(), control)
            .await
            .map(|_| ())
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Every way a request can fail; turned into a response in one place.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{field}: {message}")]
    Field { field: String, message: String },
    #[error("{0}")]
    BadRequest(String),
    #[error("no such migration for this account")]
    NotFound,
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Engine(#[from] EngineError),
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<api::FieldError> for ApiError {
    fn from(e: api::FieldError) -> Self {
        ApiError::Field {
            field: e.field,
            message: e.message,
        }
    }
}

impl From<passeur_store::StoreError> for ApiError {
    fn from(e: passeur_store::StoreError) -> Self {
        ApiError::Engine(EngineError::Store(e))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, field) = match &self {
            ApiError::Field { field, .. } => {
                (StatusCode::UNPROCESSABLE_ENTITY, Some(field.clone()))
            }
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, None),
            ApiError::NotFound => (StatusCode::NOT_FOUND, None),
            ApiError::Conflict(_) => (StatusCode::CONFLICT, None),
            ApiError::Engine(e) if e.is_retryable() => (StatusCode::BAD_GATEWAY, None),
            ApiError::Engine(EngineError::Store(_)) | ApiError::Internal(_) => {
                (StatusCode::INTERNAL_SERVER_ERROR, None)
            }
            ApiError::Engine(_) => (StatusCode::BAD_GATEWAY, None),
        };
        let error = if status == StatusCode::INTERNAL_SERVER_ERROR {
            tracing::error!(error = %self, "request failed");
            "internal error".to_string()
        } else {
            match &self {
                ApiError::Field { message, .. } => message.clone(),
                other => other.to_string(),
            }
        };
        (status, Json(ErrorOut { error, field })).into_response()
    }
}

/// A JSON body whose rejections (bad JSON, wrong types, missing fields, too large) become
/// [`ApiError`]s naming what is wrong.
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    Json<T>: FromRequest<S, Rejection = JsonRejection>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(ApiJson(v)),
            Err(JsonRejection::JsonDataError(e)) => Err(ApiError::BadRequest(format!(
                "the request body does not match: {}",
                e.body_text().trim_start_matches(
                    "Failed to deserialize the JSON body into the target type: "
                )
            ))),
            Err(JsonRejection::JsonSyntaxError(_)) => Err(ApiError::BadRequest(
                "the request body is not valid JSON".into(),
            )),
            Err(JsonRejection::MissingJsonContentType(_)) => Err(ApiError::BadRequest(
                "the request body must be JSON (Content-Type: application/json)".into(),
            )),
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => Err(ApiError::BadRequest(
                format!("the request body is larger than {MAX_BODY} bytes"),
            )),
            Err(e) => Err(ApiError::BadRequest(e.body_text())),
        }
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "passeur",
        description = "E-mail, contacts and calendars migration service"
    ),
    paths(
        create_migration,
        get_migration,
        stop_migration,
        sync_migration,
        purge_migration
    ),
    components(schemas(
        CreateMigration,
        api::EndpointIn,
        Created,
        MigrationOut,
        PassOut,
        FailureOut,
        ErrorOut,
        PurgeRequest,
        PurgeOut
    ))
)]
struct ApiDoc;

/// The OpenAPI document of `/api/v1`.
pub fn openapi() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// The service's routes.
pub fn router(svc: Arc<Service>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/api/v1/openapi.json", get(|| async { Json(openapi()) }))
        .route("/api/v1/migrations", post(create_migration))
        .route("/api/v1/migrations/{id}", get(get_migration))
        .route("/api/v1/migrations/{id}/stop", post(stop_migration))
        .route("/api/v1/migrations/{id}/sync", post(sync_migration))
        .route("/api/v1/migrations/{id}/purge", post(purge_migration))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY))
        .with_state(svc)
}

/// The spec a valid request asks for.
fn spec_of(v: &ValidMigration) -> Result<MigrationSpec, ApiError> {
    let with_mail = v.content.contains(&ContentKind::Mail);
    let kinds: Vec<ContentKind> = v
        .content
        .iter()
        .copied()
        .filter(|k| *k != ContentKind::Mail)
        .collect();
    let dav = if kinds.is_empty() {
        None
    } else {
        let side = |url: &Option<String>, login: &str, field: &str| -> Result<String, ApiError> {
            let url = url.as_deref().unwrap_or_default();
            DavAccount::parse(url, login, Secret::default(), false)
                .map(|a| a.display_url())
                .map_err(|e| ApiError::Field {
                    field: field.into(),
                    message: e.to_string(),
                })
        };
        Some(DavSpec {
            from: side(&v.source_dav, &v.source.login, "source.dav")?,
            to: side(&v.destination_dav, &v.destination.login, "destination.dav")?,
            kinds,
            overwrite_conflicts: false,
        })
    };
    Ok(MigrationSpec::Accounts(AccountSpec {
        mail: MailOptions {
            rules: FolderRules::default(),
            limits: Limits::default(),
            dry_run: false,
            full: false,
        },
        from_admin: v.source_admin.clone(),
        to_admin: v.destination_admin.clone(),
        with_mail,
        dav,
        pop3_folder: None,
    }))
}

/// Create a migration; its first pass is queued (or scheduled at `start_at`).
#[utoipa::path(post, path = "/api/v1/migrations", request_body = CreateMigration,
    responses((status = 201, body = Created), (status = 400, body = ErrorOut), (status = 422, body = ErrorOut)))]
async fn create_migration(
    State(svc): State<Arc<Service>>,
    ApiJson(req): ApiJson<CreateMigration>,
) -> Result<(StatusCode, Json<Created>), ApiError> {
    let v = req.validate()?;
    let spec = spec_of(&v)?;
    let (id, _) = svc
        .runner
        .create(&v.source.to_url(), &v.destination.to_url(), &spec, false)
        .await?;
    let ctx = id.to_string();
    lock(&svc.sealed).insert(
        id,
        Sealed {
            source: svc.vault.seal(&ctx, &v.source_password),
            destination: svc.vault.seal(&ctx, &v.destination_password),
        },
    );
    svc.runner
        .store()
        .set_status(id, Status::Queued, None)
        .await?;
    svc.spawn_pass(id, v.start_at)?;
    Ok((StatusCode::CREATED, Json(Created { id: ctx })))
}

/// The migration `id` when `account` is its source login (for a file import: its destination
/// login); else `NotFound`, the same for an unknown ID.
async fn owned(
    svc: &Service,
    id: &str,
    headers: &HeaderMap,
) -> Result<(MigrationId, passeur_engine::MigrationView), ApiError> {
    let account = headers
        .get("x-passeur-account")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .unwrap_or_default();
    let id: MigrationId = id.parse().map_err(|_| ApiError::NotFound)?;
    let view = match svc.runner.view(id).await {
        Ok(v) => v,
        Err(EngineError::Store(passeur_store::StoreError::NotFound(_))) => {
            return Err(ApiError::NotFound);
        }
        Err(e) => return Err(e.into()),
    };
    let owner_url = if view.spec.is_import() {
        &view.row.destination
    } else {
        &view.row.source
    };
    let owner = Endpoint::parse(owner_url.split(' ').next().unwrap_or_default())
        .map(|e| e.login)
        .unwrap_or_default();
    if account.is_empty() || !owner.eq_ignore_ascii_case(account) {
        return Err(ApiError::NotFound);
    }
    Ok((id, view))
}

/// A migration's status, sync points, progress and failures.
#[utoipa::path(get, path = "/api/v1/migrations/{id}",
    params(("id" = String, Path), ("X-Passeur-Account" = String, Header, description = "the source login")),
    responses((status = 200, body = MigrationOut), (status = 404, body = ErrorOut)))]
async fn get_migration(
    State(svc): State<Arc<Service>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<MigrationOut>, ApiError> {
    let (id, v) = owned(&svc, &id, &headers).await?;
    let mut status = v.row.status.as_str().to_string();
    if svc.is_running(id) && v.row.status != Status::Running {
        status = "queued".into();
    }
    Ok(Json(MigrationOut {
        id: id.to_string(),
        status,
        error: v.row.error.clone(),
        source: v.row.source.clone(),
        destination: v.row.destination.clone(),
        content: v
            .spec
            .content()
            .iter()
            .map(|k| k.as_str().to_string())
            .collect(),
        items: v.items,
        bytes: v.bytes,
        passes: v
            .passes
            .iter()
            .map(|p| PassOut {
                number: p.number,
                status: p.status.to_string(),
                started_at: p.started_at,
                finished_at: p.finished_at,
                copied: p.counters.copied,
                bytes: p.counters.bytes,
                flags_updated: p.counters.flags_updated,
                failed: p.counters.failed,
                error: p.error.clone(),
            })
            .collect(),
        failures: v
            .failures
            .iter()
            .map(|f| FailureOut {
                pass: f.pass,
                kind: f.kind.as_str().to_string(),
                folder: f.folder.clone(),
                item: f.src_key.clone(),
                reason: f.reason.clone(),
            })
            .collect(),
    }))
}

/// Stop the running pass at its next safe point; what is copied stays.
#[utoipa::path(post, path = "/api/v1/migrations/{id}/stop",
    params(("id" = String, Path), ("X-Passeur-Account" = String, Header)),
    responses((status = 202), (status = 404, body = ErrorOut)))]
async fn stop_migration(
    State(svc): State<Arc<Service>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    let (id, _) = owned(&svc, &id, &headers).await?;
    if let Some(c) = lock(&svc.running).get(&id) {
        c.cancel();
    }
    Ok(StatusCode::ACCEPTED)
}

/// Start a new pass: copy only what is new since the last one.
#[utoipa::path(post, path = "/api/v1/migrations/{id}/sync",
    params(("id" = String, Path), ("X-Passeur-Account" = String, Header)),
    responses((status = 202), (status = 404, body = ErrorOut), (status = 409, body = ErrorOut)))]
async fn sync_migration(
    State(svc): State<Arc<Service>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    let (id, _) = owned(&svc, &id, &headers).await?;
    svc.spawn_pass(id, None)?;
    Ok(StatusCode::ACCEPTED)
}

/// What a purge deleted.
#[derive(Debug, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct PurgeOut {
    pub deleted: u64,
    /// Items left in place: changed on the destination since, or not found safely.
    pub skipped: u64,
    pub notes: Vec<String>,
}

/// Delete from the destination what this migration copied from pass `from_pass` on.
#[utoipa::path(post, path = "/api/v1/migrations/{id}/purge", request_body = PurgeRequest,
    params(("id" = String, Path), ("X-Passeur-Account" = String, Header)),
    responses((status = 200, body = PurgeOut), (status = 404, body = ErrorOut), (status = 409, body = ErrorOut)))]
async fn purge_migration(
    State(svc): State<Arc<Service>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    ApiJson(req): ApiJson<PurgeRequest>,
) -> Result<Json<PurgeOut>, ApiError> {
    let (id, _) = owned(&svc, &id, &headers).await?;
    if req.destination_password.is_empty() {
        return Err(ApiError::Field {
            field: "destination_password".into(),
            message: "is required".into(),
        });
    }
    if svc.is_running(id) {
        return Err(ApiError::Conflict(
            "a pass of this migration is running: stop it first".into(),
        ));
    }
    let pw = Secret::new(req.destination_password.clone());
    let r = svc
        .runner
        .purge(id, req.from_pass, false, pw, &svc.run_options())
        .await?;
    let mut notes = Vec::new();
    if let Some(m) = &r.mail {
        notes.extend(m.notes.iter().cloned());
    }
    if let Some(d) = &r.dav {
        notes.extend(d.notes.iter().cloned());
    }
    Ok(Json(PurgeOut {
        deleted: r.deleted(),
        skipped: r.skipped(),
        notes,
    }))
}

/// Serves the routes on `listener` until `shutdown` completes; then stops the running passes
/// at their next safe point and waits (up to `grace`) for them to record where they are.
pub async fn serve(
    listener: tokio::net::TcpListener,
    svc: Arc<Service>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    grace: std::time::Duration,
) -> std::io::Result<()> {
    let app = router(Arc::clone(&svc));
    let s = Arc::clone(&svc);
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            shutdown.await;
            s.shut_down();
        })
        .await?;
    let deadline = tokio::time::Instant::now() + grace;
    while !lock(&svc.running).is_empty() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    Ok(())
}
