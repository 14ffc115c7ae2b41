//! Project mode: many migrations under one project ID and password, created one at a time or
//! in bulk from a CSV or spreadsheet, followed on one dashboard, paused and resumed together.
//!
//! # Authentication
//! `POST /api/v1/projects/{id}/session {"password"}` opens a session (12 hours). Scripts get
//! the token in the answer and send `Authorization: Bearer TOKEN`. The pages send
//! `X-Passeur-Cookie: 1`: the token then goes only into an `HttpOnly; SameSite=Strict` cookie
//! (`Secure` when the service's public URL is `https://`), never into the page, and the answer
//! holds the session's CSRF token, which every cookie-authenticated request other than `GET`
//! must repeat in `X-CSRF-Token`. A wrong password, an unknown project, a missing, expired or
//! logged-out session all get the same `401`. Failed logins are counted per client address:
//! after 10 in 10 minutes, logins from that address get `429` until the window ends.
//!
//! # Bulk creation
//! `POST /api/v1/projects/{id}/migrations/bulk` takes the file as the request body (CSV,
//! `.xlsx`, `.xls` or `.ods`, at most 4 MiB, 10,000 rows; see [`crate::bulk`] for the columns
//! and what is accepted). Every row is checked first. Then, by default, **the valid rows are
//! created and the invalid ones are reported**: a bad row never blocks the good ones. With
//! `?dry_run=true` nothing is created (the preview); with `?atomic=true` nothing is created
//! if any row is bad. Errors name the row (the file's own row number) and the column (its
//! template header).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use passeur_engine::DavAccount;
use passeur_net::discover::Presets;
use passeur_notify::{Lang, Notification};
use passeur_store::{NewProject, Project, ServiceMeta, Session, StoreError};
use serde::{Deserialize, Serialize};
use utoipa::{OpenApi, ToSchema};
use zeroize::Zeroizing;

use crate::api::{CreateMigration, EndpointIn, ErrorOut, FieldError, plausible_address};
use crate::bulk::{self, Col};
use crate::routes::ClientAddr;
use crate::{ApiError, ApiJson, Service};

/// The session cookie of the pages.
pub const COOKIE: &str = "passeur_project";
/// How long a session lasts.
const SESSION_TTL: Duration = Duration::from_secs(12 * 3600);
/// The largest bulk file.
pub const BULK_MAX: usize = 4 << 20;
/// Failed logins allowed per client address and window.
const FAILED_LOGINS: u32 = 10;
const LOGIN_WINDOW: Duration = Duration::from_secs(600);

/// The project routes, merged into the service's router.
pub fn routes() -> Router<Arc<Service>> {
    Router::new()
        .route("/api/v1/projects", post(create_project))
        .route("/api/v1/projects/template.csv", get(template_csv))
        .route("/api/v1/projects/template.xlsx", get(template_xlsx))
        .route("/api/v1/projects/{id}", get(get_project))
        .route("/api/v1/projects/{id}/session", post(login).delete(logout))
        .route(
            "/api/v1/projects/{id}/migrations",
            get(list_migrations).post(add_account),
        )
        .route("/api/v1/projects/{id}/accounts", post(add_account))
        .route(
            "/api/v1/projects/{id}/migrations/bulk",
            post(bulk_create).layer(DefaultBodyLimit::max(BULK_MAX)),
        )
        .route(
            "/api/v1/projects/{id}/accounts/bulk",
            post(bulk_create).layer(DefaultBodyLimit::max(BULK_MAX)),
        )
        .route(
            "/api/v1/projects/{id}/migrations/{mid}",
            axum::routing::delete(delete_migration),
        )
        .route(
            "/api/v1/projects/{id}/migrations/{mid}/stop",
            post(stop_migration),
        )
        .route(
            "/api/v1/projects/{id}/migrations/{mid}/sync",
            post(sync_migration),
        )
        .route("/api/v1/projects/{id}/pause", post(pause))
        .route("/api/v1/projects/{id}/resume", post(resume))
        .route("/api/v1/projects/{id}/options", put(set_options))
}

#[derive(OpenApi)]
#[openapi(
    paths(
        create_project,
        login,
        logout,
        get_project,
        list_migrations,
        add_account,
        bulk_create,
        stop_migration,
        sync_migration,
        delete_migration,
        pause,
        resume,
        set_options,
        template_csv,
        template_xlsx
    ),
    components(schemas(
        ServerIn,
        ProjectOptions,
        CreateProject,
        LoginIn,
        SessionOut,
        ProjectOut,
        ProjectMigrationOut,
        AccountIn,
        BulkOut,
        CreatedRow,
        RowError,
        PauseOut
    ))
)]
pub(crate) struct ProjectsDoc;

// ---- JSON shapes -----------------------------------------------------------------------------

/// A mail server: its type, host and port.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ServerIn {
    /// `imaps` (default), `imap+starttls`, `imap` (no TLS), `pop3s` or `pop3+starttls` (a
    /// source only).
    #[serde(default = "imaps", rename = "type")]
    pub kind: String,
    /// The server's host name.
    pub host: String,
    /// Default: 993 for imaps, 143 for imap, 995 for pop3s, 110 for pop3.
    #[serde(default)]
    pub port: Option<u16>,
}

fn imaps() -> String {
    "imaps".into()
}

impl ServerIn {
    /// `scheme://LOGIN@host:port` for `login`.
    fn url(&self, login: &str) -> String {
        let port = self.port.unwrap_or(match self.kind.as_str() {
            "imap" | "imap+starttls" => 143,
            "pop3s" => 995,
            "pop3" | "pop3+starttls" => 110,
            _ => 993,
        });
        let host = if self.host.contains(':') && !self.host.starts_with('[') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        let login: String = form_urlencoded::byte_serialize(login.as_bytes()).collect();
        format!("{}://{login}@{host}:{port}", self.kind)
    }

    fn check(&self, field: &str, source: bool) -> Result<(), FieldError> {
        let kinds: &[&str] = if source {
            &[
                "imaps",
                "imap+starttls",
                "imap",
                "pop3s",
                "pop3+starttls",
                "pop3",
            ]
        } else {
            &["imaps", "imap+starttls", "imap"]
        };
        if !kinds.contains(&self.kind.as_str()) {
            return Err(bad(
                &format!("{field}.type"),
                format!("must be one of {}", kinds.join(", ")),
            ));
        }
        if self.host.trim().is_empty() {
            return Err(bad(&format!("{field}.host"), "is required"));
        }
        // The host is checked whole by the migration's own validation.
        crate::api::endpoint(
            field,
            &EndpointIn {
                url: self.url("check@example.org"),
                password: "x".into(),
                oauth: None,
                signed_in: false,
                sign_in_later: false,
                admin: None,
                dav: None,
            },
        )
        .map(|_| ())
        .map_err(|e| bad(&format!("{field}.host"), e.message))
    }
}

/// A project's options.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ProjectOptions {
    /// What its migrations move: `mail`, `contacts`, `calendars`, `tasks` (default: mail).
    #[serde(default = "mail_only")]
    pub content: Vec<String>,
    /// How many of its migrations run at once across the cluster (1–50, default 2; also
    /// accepted as `concurrency`).
    #[serde(default = "two", alias = "concurrency")]
    pub simultaneous: u32,
    /// Connections each migration opens to each server (1–16, default 4).
    #[serde(default = "four")]
    pub connections: u32,
    /// The source server of accounts that name none.
    #[serde(default)]
    pub source: Option<ServerIn>,
    /// The destination server of accounts that name none.
    #[serde(default)]
    pub destination: Option<ServerIn>,
    /// The source's CalDAV/CardDAV server (`https://dav.example/`), each account's principal
    /// found under it by its login; when absent, found from the login's domain (RFC 6764).
    /// Used when contacts, calendars or tasks are moved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_dav: Option<String>,
    /// The destination's CalDAV/CardDAV server, as `source_dav`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination_dav: Option<String>,
}

fn mail_only() -> Vec<String> {
    vec!["mail".into()]
}
fn two() -> u32 {
    2
}
fn four() -> u32 {
    4
}

impl Default for ProjectOptions {
    fn default() -> Self {
        ProjectOptions {
            content: mail_only(),
            simultaneous: 2,
            connections: 4,
            source: None,
            destination: None,
            source_dav: None,
            destination_dav: None,
        }
    }
}

impl ProjectOptions {
    /// The options stored as JSON (defaults for what is missing or unreadable).
    pub fn from_json(s: &str) -> ProjectOptions {
        serde_json::from_str(s).unwrap_or_default()
    }

    fn check(&self) -> Result<(), FieldError> {
        if self.content.is_empty() {
            return Err(bad(
                "options.content",
                "is empty: choose mail, contacts, calendars or tasks",
            ));
        }
        for (i, c) in self.content.iter().enumerate() {
            if !matches!(c.as_str(), "mail" | "contacts" | "calendars" | "tasks") {
                return Err(bad(
                    &format!("options.content[{i}]"),
                    format!(
                        "unknown content kind {c:?}: expected mail, contacts, calendars or tasks"
                    ),
                ));
            }
        }
        for (field, dav) in [
            ("options.source_dav", &self.source_dav),
            ("options.destination_dav", &self.destination_dav),
        ] {
            if let Some(u) = dav.as_deref().filter(|u| !u.trim().is_empty()) {
                DavAccount::parse(u, "check", Default::default(), false)
                    .map_err(|e| bad(field, e.to_string()))?;
            }
        }
        if !(1..=50).contains(&self.simultaneous) {
            return Err(bad("options.simultaneous", "must be between 1 and 50"));
        }
        if !(1..=16).contains(&self.connections) {
            return Err(bad("options.connections", "must be between 1 and 16"));
        }
        if let Some(s) = &self.source {
            s.check("options.source", true)?;
        }
        if let Some(d) = &self.destination {
            d.check("options.destination", false)?;
        }
        Ok(())
    }
}

/// `POST /api/v1/projects`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateProject {
    /// The project's name, as its owner wants to see it.
    pub name: String,
    /// At least 10 characters, with an upper-case letter, a lower-case letter, a digit and
    /// another character.
    #[schema(format = Password)]
    pub password: String,
    /// The contact address: it receives the project ID.
    #[serde(default)]
    pub notify: Option<String>,
    /// `en` or `fr` (default: from `Accept-Language`).
    #[serde(default)]
    pub lang: Option<String>,
    /// Default servers and limits for its migrations.
    #[serde(default)]
    pub options: Option<ProjectOptions>,
}

impl Drop for CreateProject {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.password);
    }
}

/// `POST /api/v1/projects/{id}/session`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginIn {
    /// The project's password.
    #[schema(format = Password)]
    pub password: String,
}

impl Drop for LoginIn {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.password);
    }
}

/// A new session.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SessionOut {
    /// For `Authorization: Bearer`; absent when it was set as a cookie.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// Repeat it in `X-CSRF-Token` on requests authenticated by the cookie.
    pub csrf: String,
    /// Unix seconds.
    pub expires_at: i64,
}

/// A project and the progress of every migration in it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ProjectOut {
    /// The project's ID.
    pub id: String,
    /// The project's name.
    pub name: String,
    /// The contact address, if any.
    pub notify: Option<String>,
    /// `en` or `fr`.
    pub lang: String,
    /// Its waiting migrations are held.
    pub paused: bool,
    /// Default servers and limits for its migrations.
    pub options: ProjectOptions,
    /// Every migration of the project, oldest first.
    pub migrations: Vec<ProjectMigrationOut>,
    /// How many migrations are in each status.
    pub totals: HashMap<String, u64>,
}

/// One migration of a project.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ProjectMigrationOut {
    /// The migration's ID.
    pub id: String,
    /// The source and destination logins.
    pub source: String,
    /// The destination login.
    pub destination: String,
    /// queued, scheduled, paused, running, done, stopped, failed
    pub status: String,
    /// Why it failed, in a sentence.
    pub error: Option<String>,
    /// The kind of that error as a stable word (see `MigrationOut::error_code`).
    #[serde(default)]
    pub error_code: Option<String>,
    /// Messages on the destination so far, and the pass's total when known.
    pub done: u64,
    /// Items the current (or last) pass is to have on the destination, when known.
    pub total: Option<u64>,
    /// `done / total`, 0 to 100.
    pub percent: Option<f64>,
    /// Messages copied by the current (or last) pass, and not copied.
    pub copied: u64,
    /// Messages that could not be copied.
    pub failed: u64,
    /// Messages in the item map (everything copied), and their bytes.
    pub items: u64,
    /// The bytes of the messages in the item map.
    pub bytes: u64,
}

/// One account to migrate in a project. Each side's server defaults to the project's.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AccountIn {
    /// The login on the source server.
    pub source_login: String,
    /// Its password; empty when `source_signed_in`.
    #[schema(format = Password)]
    #[serde(default)]
    pub source_password: String,
    /// The source logs in with the token of this browser's "Sign in with …" on the project's
    /// dashboard (the pages), instead of a password.
    #[serde(default)]
    pub source_signed_in: bool,
    /// The source server (default: the project's).
    #[serde(default)]
    pub source_server: Option<ServerIn>,
    /// Log in as this admin on behalf of `source_login` (the password is the admin's).
    #[serde(default)]
    pub source_admin: Option<String>,
    /// The login on the destination server.
    pub destination_login: String,
    /// Its password; empty when `destination_signed_in`.
    #[schema(format = Password)]
    #[serde(default)]
    pub destination_password: String,
    /// As `source_signed_in`, for the destination.
    #[serde(default)]
    pub destination_signed_in: bool,
    /// The destination server (default: the project's).
    #[serde(default)]
    pub destination_server: Option<ServerIn>,
    /// Log in as this admin on behalf of `destination_login` (the password is the admin's).
    #[serde(default)]
    pub destination_admin: Option<String>,
}

impl Drop for AccountIn {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.source_password);
        zeroize::Zeroize::zeroize(&mut self.destination_password);
    }
}

/// What a bulk creation did (or, with `dry_run`, would do).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct BulkOut {
    /// True when nothing was created (the file was only checked).
    pub dry_run: bool,
    /// Data rows read (empty lines skipped).
    pub rows: usize,
    /// Rows valid so far (with `dry_run`: those that would be created).
    pub valid: Vec<usize>,
    /// The migrations created, by row.
    pub created: Vec<CreatedRow>,
    /// Every problem found, by row and column.
    pub errors: Vec<RowError>,
}

/// A migration created from one row.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CreatedRow {
    /// The row's number in the file.
    pub row: usize,
    /// The new migration's ID.
    pub id: String,
    /// The source login of the row.
    pub source: String,
}

/// A problem in one row of a bulk file.
#[derive(Debug, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct RowError {
    /// The row number in the file (the header is row 1).
    pub row: usize,
    /// The column's template header; absent when the problem is the whole row.
    pub column: Option<String>,
    /// What is wrong.
    pub message: String,
}

/// What a pause or a resume did.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PauseOut {
    /// True when the project is now paused.
    pub paused: bool,
    /// Waiting migrations held (pause) or released (resume).
    pub jobs: u64,
}

fn bad(field: &str, message: impl Into<String>) -> FieldError {
    FieldError {
        field: field.into(),
        message: message.into(),
    }
}

// ---- errors and authentication -------------------------------------------------------------

/// The failures of project routes beyond [`ApiError`]'s.
pub enum ProjectError {
    /// An error every route may give.
    Api(ApiError),
    /// Wrong ID or password, or no live session: always the same answer.
    Unauthorized,
    /// A cookie-authenticated change without the session's CSRF token.
    Csrf,
    /// Too many failed logins from this address.
    Throttled(u64),
}

impl From<ApiError> for ProjectError {
    fn from(e: ApiError) -> Self {
        ProjectError::Api(e)
    }
}

impl From<FieldError> for ProjectError {
    fn from(e: FieldError) -> Self {
        ProjectError::Api(e.into())
    }
}

impl From<StoreError> for ProjectError {
    fn from(e: StoreError) -> Self {
        ProjectError::Api(e.into())
    }
}

impl IntoResponse for ProjectError {
    fn into_response(self) -> Response {
        let (status, error, code) = match self {
            ProjectError::Api(e) => return e.into_response(),
            ProjectError::Unauthorized => (
                StatusCode::UNAUTHORIZED,
                "wrong project ID or password, or the session has ended: log in again",
                "unauthorized",
            ),
            ProjectError::Csrf => (
                StatusCode::FORBIDDEN,
                "the X-CSRF-Token header is missing or does not match this session",
                "csrf",
            ),
            ProjectError::Throttled(secs) => {
                let mut r = (
                    StatusCode::TOO_MANY_REQUESTS,
                    Json(ErrorOut {
                        error: format!(
                            "too many failed logins from this address: try again in {secs} s"
                        ),
                        code: "rate_limited".into(),
                        field: None,
                    }),
                )
                    .into_response();
                if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                    r.headers_mut().insert(header::RETRY_AFTER, v);
                }
                return r;
            }
        };
        (
            status,
            Json(ErrorOut {
                error: error.into(),
                code: code.into(),
                field: None,
            }),
        )
            .into_response()
    }
}

type Res<T> = Result<T, ProjectError>;

/// The session token of a request: `Authorization: Bearer`, else the cookie (and whether it
/// came from the cookie).
pub(crate) fn token_of(headers: &HeaderMap) -> Option<(String, bool)> {
    if let Some(t) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    {
        return Some((t.trim().to_string(), false));
    }
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|c| {
            c.trim()
                .strip_prefix(&format!("{COOKIE}="))
                .map(str::to_string)
        })
        .filter(|t| !t.is_empty())
        .map(|t| (t, true))
}

/// The live session of the request on project `id`; for a change made with the cookie, the
/// CSRF token must match.
async fn authed(svc: &Service, id: &str, headers: &HeaderMap, method: &Method) -> Res<Session> {
    let Some((token, cookie)) = token_of(headers) else {
        return Err(ProjectError::Unauthorized);
    };
    let Some(s) = svc.store().project_session(&token).await? else {
        return Err(ProjectError::Unauthorized);
    };
    if s.project_id != id {
        return Err(ProjectError::Unauthorized);
    }
    if cookie && method != Method::GET && method != Method::HEAD {
        let sent = headers
            .get("x-csrf-token")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        if !constant_eq(sent.as_bytes(), s.csrf.as_bytes()) {
            return Err(ProjectError::Csrf);
        }
    }
    Ok(s)
}

fn constant_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn project_of(svc: &Service, id: &str) -> Res<Project> {
    svc.store()
        .project(id)
        .await?
        .ok_or(ProjectError::Unauthorized)
}

/// The throttle key of a client address's failed logins.
fn login_key(ip: IpAddr) -> String {
    format!("project-login:{ip}")
}

/// Refuses a client address that failed too often lately, whichever process of the service
/// saw the failures (they are counted in the store).
async fn check_throttle(svc: &Service, addr: &ClientAddr) -> Res<()> {
    let Some(ip) = addr.0 else { return Ok(()) };
    let window = LOGIN_WINDOW.as_millis() as i64;
    let (n, left_ms) = svc.store().throttle_count(&login_key(ip), window).await?;
    if n >= FAILED_LOGINS {
        return Err(ProjectError::Throttled(
            ((left_ms + 999) / 1000).max(1) as u64
        ));
    }
    Ok(())
}

async fn count_failure(svc: &Service, addr: &ClientAddr) {
    let Some(ip) = addr.0 else { return };
    let window = LOGIN_WINDOW.as_millis() as i64;
    if let Err(e) = svc.store().throttle_hit(&login_key(ip), window).await {
        tracing::warn!(error = %e, "cannot count a failed login");
    }
}

fn session_cookie(svc: &Service, value: &str, max_age: i64) -> Option<HeaderValue> {
    let secure = if svc.settings.public_url.starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    HeaderValue::from_str(&format!(
        "{COOKIE}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Strict{secure}"
    ))
    .ok()
}

// ---- handlers ------------------------------------------------------------------------------

/// Whether a project password is strong enough; the field error if not.
fn check_password(p: &str) -> Result<(), FieldError> {
    let strong = p.chars().count() >= 10
        && p.chars().any(|c| c.is_uppercase())
        && p.chars().any(|c| c.is_lowercase())
        && p.chars().any(|c| c.is_ascii_digit())
        && p.chars().any(|c| !c.is_alphanumeric());
    if p.len() > 1024 {
        return Err(bad("password", "is too long (at most 1024 bytes)"));
    }
    if !strong {
        return Err(bad(
            "password",
            "must have at least 10 characters, with an upper-case letter, a lower-case letter, a digit and another character",
        ));
    }
    Ok(())
}

/// Create a project. Its ID is returned (and mailed to `notify`); keep it with the password.
#[utoipa::path(post, path = "/api/v1/projects", request_body = CreateProject,
    responses((status = 201, body = crate::api::Created), (status = 400, body = ErrorOut), (status = 422, body = ErrorOut)))]
pub(crate) async fn create_project(
    State(svc): State<Arc<Service>>,
    headers: HeaderMap,
    ApiJson(req): ApiJson<CreateProject>,
) -> Res<(StatusCode, Json<crate::api::Created>)> {
    let name = req.name.trim();
    if name.is_empty() {
        return Err(bad("name", "is required").into());
    }
    if name.chars().count() > 200 || name.chars().any(char::is_control) {
        return Err(bad(
            "name",
            "must be at most 200 characters, without control characters",
        )
        .into());
    }
    check_password(&req.password)?;
    if let Some(n) = &req.notify
        && !plausible_address(n)
    {
        return Err(bad("notify", "is not an e-mail address").into());
    }
    let lang = match req.lang.as_deref() {
        Some(l @ ("en" | "fr")) => l.parse().unwrap_or_default(),
        Some(_) => return Err(bad("lang", "must be fr or en").into()),
        None => headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|h| h.to_str().ok())
            .map(Lang::from_accept_language)
            .unwrap_or_default(),
    };
    let options = req.options.clone().unwrap_or_default();
    options.check()?;
    let id = svc
        .store()
        .create_project(&NewProject {
            name: name.to_string(),
            password: req.password.clone(),
            notify: req.notify.clone(),
            lang: lang.tag().into(),
            options: serde_json::to_string(&options).unwrap_or_default(),
        })
        .await?;
    if let Some(to) = &req.notify {
        svc.queue_mail(
            to,
            lang,
            Notification::ProjectCreated {
                project_id: id.clone(),
                url: project_url(&svc, &id),
            },
        )
        .await;
    }
    tracing::info!(project = %id, "project created");
    Ok((StatusCode::CREATED, Json(crate::api::Created { id })))
}

pub(crate) fn project_url(svc: &Service, id: &str) -> String {
    format!(
        "{}/project/{id}",
        svc.settings.public_url.trim_end_matches('/')
    )
}

/// Log in to a project: a bearer token (or, with `X-Passeur-Cookie: 1`, an HttpOnly cookie)
/// and the session's CSRF token.
#[utoipa::path(post, path = "/api/v1/projects/{id}/session", request_body = LoginIn,
    params(("id" = String, Path), ("X-Passeur-Cookie" = Option<String>, Header, description = "1: set the token as a cookie instead of returning it")),
    responses((status = 200, body = SessionOut), (status = 401, body = ErrorOut), (status = 429, body = ErrorOut)))]
pub(crate) async fn login(
    State(svc): State<Arc<Service>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    addr: ClientAddr,
    ApiJson(req): ApiJson<LoginIn>,
) -> Res<Response> {
    check_throttle(&svc, &addr).await?;
    let id = id.trim().to_ascii_lowercase();
    if id.len() > 64
        || !svc
            .store()
            .verify_project_password(&id, &req.password)
            .await?
    {
        count_failure(&svc, &addr).await;
        tracing::info!(client = ?addr.0, "failed project login");
        return Err(ProjectError::Unauthorized);
    }
    svc.store().touch_project(&id).await?;
    let s = svc.store().create_project_session(&id, SESSION_TTL).await?;
    let as_cookie = headers
        .get("x-passeur-cookie")
        .is_some_and(|v| v.as_bytes() == b"1");
    let out = SessionOut {
        token: (!as_cookie).then(|| s.token.clone()),
        csrf: s.csrf.clone(),
        expires_at: s.expires_at_ms / 1000,
    };
    let mut r = Json(out).into_response();
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if as_cookie && let Some(c) = session_cookie(&svc, &s.token, SESSION_TTL.as_secs() as i64) {
        r.headers_mut().insert(header::SET_COOKIE, c);
    }
    Ok(r)
}

/// Log out: the session ends (its cookie too).
#[utoipa::path(delete, path = "/api/v1/projects/{id}/session",
    params(("id" = String, Path)),
    responses((status = 204), (status = 401, body = ErrorOut), (status = 403, body = ErrorOut)))]
pub(crate) async fn logout(
    State(svc): State<Arc<Service>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    method: Method,
) -> Res<Response> {
    authed(&svc, &id, &headers, &method).await?;
    if let Some((token, _)) = token_of(&headers) {
        svc.store().delete_project_session(&token).await?;
    }
    let mut r = StatusCode::NO_CONTENT.into_response();
    if let Some(c) = session_cookie(&svc, "", 0) {
        r.headers_mut().insert(header::SET_COOKIE, c);
    }
    Ok(r)
}

/// The migrations of a project, each with its status and progress.
async fn migrations_out(svc: &Service, id: &str) -> Res<Vec<ProjectMigrationOut>> {
    let mut out = Vec::new();
    for m in svc.store().project_migrations(id).await? {
        let v = match svc.viewer().await.view(m).await {
            Ok(v) => v,
            // Deleted meanwhile.
            Err(passeur_engine::EngineError::Store(StoreError::NotFound(_))) => continue,
            Err(e) => return Err(ApiError::from(e).into()),
        };
        let full = crate::routes::migration_out(svc, m, &v).await?;
        let mail = full.progress.iter().find(|p| p.kind == "mail");
        let login = |u: &str| {
            passeur_types::Endpoint::of_recorded(u)
                .map(|e| e.login)
                .unwrap_or_default()
        };
        let mut percent = mail.and_then(|p| p.percent);
        if full.status == "done" {
            percent = Some(100.0);
        }
        out.push(ProjectMigrationOut {
            id: full.id,
            source: login(&full.source),
            destination: login(&full.destination),
            status: full.status,
            error: full.error,
            error_code: full.error_code,
            done: mail.map_or(0, |p| p.done),
            total: mail.and_then(|p| p.total),
            percent,
            copied: mail.map_or(0, |p| p.copied),
            failed: mail.map_or(0, |p| p.failed),
            items: full.items,
            bytes: full.bytes,
        });
    }
    Ok(out)
}

/// A project, its options and the progress of every migration in it.
#[utoipa::path(get, path = "/api/v1/projects/{id}",
    params(("id" = String, Path)),
    responses((status = 200, body = ProjectOut), (status = 401, body = ErrorOut)))]
pub(crate) async fn get_project(
    State(svc): State<Arc<Service>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    method: Method,
) -> Res<Json<ProjectOut>> {
    authed(&svc, &id, &headers, &method).await?;
    let p = project_of(&svc, &id).await?;
    let migrations = migrations_out(&svc, &id).await?;
    let mut totals = HashMap::new();
    for m in &migrations {
        *totals.entry(m.status.clone()).or_insert(0) += 1;
    }
    Ok(Json(ProjectOut {
        options: ProjectOptions::from_json(&p.options),
        id: p.id,
        name: p.name,
        notify: p.notify,
        lang: p.lang,
        paused: p.paused,
        migrations,
        totals,
    }))
}

/// The migrations of a project, each with its status and progress.
#[utoipa::path(get, path = "/api/v1/projects/{id}/migrations",
    params(("id" = String, Path)),
    responses((status = 200, body = Vec<ProjectMigrationOut>), (status = 401, body = ErrorOut)))]
pub(crate) async fn list_migrations(
    State(svc): State<Arc<Service>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    method: Method,
) -> Res<Json<Vec<ProjectMigrationOut>>> {
    authed(&svc, &id, &headers, &method).await?;
    Ok(Json(migrations_out(&svc, &id).await?))
}

/// One account to create, whatever it came from (JSON or a file's row).
struct Account {
    source_login: String,
    source_password: Zeroizing<String>,
    source_server: ServerIn,
    source_admin: Option<String>,
    destination_login: String,
    destination_password: Zeroizing<String>,
    destination_server: ServerIn,
    destination_admin: Option<String>,
    /// The source signs in later, on its tracking page (no password).
    source_sign_in: bool,
    /// The destination signs in later, on its tracking page (no password).
    destination_sign_in: bool,
}

impl Account {
    /// The migration request it makes; checked like any other.
    fn request(&self, p: &Project) -> CreateMigration {
        let opts = ProjectOptions::from_json(&p.options);
        // Contacts, calendars and tasks: the project's DAV server of each side, else the
        // login's domain (found through DNS, RFC 6764).
        let with_dav = opts.content.iter().any(|c| c != "mail");
        let dav = |server: &Option<String>, login: &str| -> Option<String> {
            if !with_dav {
                return None;
            }
            match server.as_deref().map(str::trim).filter(|u| !u.is_empty()) {
                Some(u) => Some(u.to_owned()),
                None => login.rsplit_once('@').map(|(_, d)| d.to_owned()),
            }
        };
        CreateMigration {
            source: EndpointIn {
                url: self.source_server.url(&self.source_login),
                password: if self.source_sign_in {
                    String::new()
                } else {
                    self.source_password.to_string()
                },
                oauth: None,
                signed_in: false,
                sign_in_later: self.source_sign_in,
                admin: self.source_admin.clone(),
                dav: dav(&opts.source_dav, &self.source_login),
            },
            destination: EndpointIn {
                url: self.destination_server.url(&self.destination_login),
                password: if self.destination_sign_in {
                    String::new()
                } else {
                    self.destination_password.to_string()
                },
                oauth: None,
                signed_in: false,
                sign_in_later: self.destination_sign_in,
                admin: self.destination_admin.clone(),
                dav: dav(&opts.destination_dav, &self.destination_login),
            },
            content: opts.content,
            notify: None,
            start_at: None,
            lang: Some(p.lang.clone()),
            gmail_archive_folder: None,
        }
    }
}

/// A migration's pair of accounts as a key: the two URLs as recorded, without what follows
/// them (a DAV server), in lower case.
fn pair_key(source: &str, destination: &str) -> (String, String) {
    let first = |s: &str| {
        s.split_whitespace()
            .next()
            .unwrap_or_default()
            .to_lowercase()
    };
    (first(source), first(destination))
}

/// The account pairs project `id` already migrates, with the migration of each: a second
/// migration of the same pair would copy everything again into the destination (the item map
/// that keeps a pass from copying twice is per migration).
async fn project_pairs(
    svc: &Service,
    id: &str,
) -> Result<HashMap<(String, String), String>, ApiError> {
    let mut pairs = HashMap::new();
    for m in svc.store().project_migrations(id).await? {
        match svc.store().migration(m).await {
            Ok(row) => {
                pairs.insert(pair_key(&row.source, &row.destination), m.to_string());
            }
            Err(StoreError::NotFound(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(pairs)
}

/// What a row or an account that repeats a pair is told.
fn already_there(what: &str) -> String {
    format!(
        "this source and destination are already in the project ({what}): a second migration \
         would copy everything again; synchronise the existing one instead"
    )
}

/// Creates `a` in project `p`; its ID.
async fn create_account(svc: &Service, p: &Project, a: &Account) -> Result<String, ApiError> {
    create_request(svc, p, a.request(p)).await
}

/// Creates the migration `req` asks for in project `p`; its ID.
async fn create_request(
    svc: &Service,
    p: &Project,
    req: CreateMigration,
) -> Result<String, ApiError> {
    let v = req.validate()?;
    let id = crate::routes::create_valid(
        svc,
        &v,
        ServiceMeta {
            notify: None,
            lang: p.lang.clone(),
            project: Some(p.id.clone()),
            ..Default::default()
        },
    )
    .await?;
    Ok(id.to_string())
}

/// Add one account to migrate. A side without a server takes the project's default.
#[utoipa::path(post, path = "/api/v1/projects/{id}/migrations", request_body = AccountIn,
    params(("id" = String, Path), ("X-CSRF-Token" = Option<String>, Header, description = "with the session cookie")),
    responses((status = 201, body = crate::api::Created), (status = 401, body = ErrorOut), (status = 422, body = ErrorOut)))]
pub(crate) async fn add_account(
    State(svc): State<Arc<Service>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    method: Method,
    ApiJson(req): ApiJson<AccountIn>,
) -> Res<(StatusCode, Json<crate::api::Created>)> {
    authed(&svc, &id, &headers, &method).await?;
    let p = project_of(&svc, &id).await?;
    let opts = ProjectOptions::from_json(&p.options);
    let server = |given: &Option<ServerIn>, default: &Option<ServerIn>, field: &str, source| {
        let s = given
            .clone()
            .or_else(|| default.clone())
            .ok_or_else(|| bad(field, "is required: the project has no default server"))?;
        s.check(field, source)?;
        Ok::<_, FieldError>(s)
    };
    for (v, f) in [
        (&req.source_login, "source_login"),
        (&req.destination_login, "destination_login"),
    ] {
        if v.trim().is_empty() {
            return Err(bad(f, "is required").into());
        }
    }
    let a = Account {
        source_server: server(&req.source_server, &opts.source, "source_server", true)?,
        destination_server: server(
            &req.destination_server,
            &opts.destination,
            "destination_server",
            false,
        )?,
        source_login: req.source_login.trim().to_string(),
        source_password: Zeroizing::new(req.source_password.clone()),
        source_admin: req.source_admin.clone().filter(|s| !s.trim().is_empty()),
        destination_login: req.destination_login.trim().to_string(),
        destination_password: Zeroizing::new(req.destination_password.clone()),
        destination_admin: req
            .destination_admin
            .clone()
            .filter(|s| !s.trim().is_empty()),
        source_sign_in: false,
        destination_sign_in: false,
    };
    // A side signed in with a provider on the dashboard takes this browser's token.
    let page = format!("project/{}", p.id);
    let mut request = a.request(&p);
    let mut signed = Vec::new();
    for (wants, side, field, e) in [
        (req.source_signed_in, "src", "source", &mut request.source),
        (
            req.destination_signed_in,
            "dst",
            "destination",
            &mut request.destination,
        ),
    ] {
        if wants {
            e.signed_in = true;
            crate::oauth_pages::use_signed_in(&svc, &headers, &page, side, field, e).await?;
            signed.push(side);
        }
    }
    if let Ok(v) = request.validate() {
        let key = pair_key(&v.source.to_url(), &v.destination.to_url());
        if let Some(prev) = project_pairs(&svc, &p.id).await?.get(&key) {
            return Err(ApiError::Conflict(already_there(&format!("migration {prev}"))).into());
        }
    }
    let created = create_request(&svc, &p, request)
        .await
        .map_err(|e| match e {
            // Name the account's fields, not the migration request's.
            ApiError::Field { field, message } => ApiError::Field {
                field: account_field(&field),
                message,
            },
            other => other,
        })?;
    // A browser's sign-in serves one account.
    crate::oauth_pages::forget(&svc, &headers, &page, &signed).await;
    // The servers of the last account become the project's defaults.
    if opts.source.as_ref() != Some(&a.source_server)
        || opts.destination.as_ref() != Some(&a.destination_server)
    {
        let new = ProjectOptions {
            source: Some(a.source_server.clone()),
            destination: Some(a.destination_server.clone()),
            ..opts.clone()
        };
        svc.store()
            .set_project_options(
                &p.id,
                &serde_json::to_string(&new).unwrap_or_default(),
                new.simultaneous,
            )
            .await?;
    }
    Ok((
        StatusCode::CREATED,
        Json(crate::api::Created { id: created }),
    ))
}

/// The account field a migration request's field comes from.
fn account_field(f: &str) -> String {
    match f {
        "source.url" => "source_server".into(),
        "destination.url" => "destination_server".into(),
        "source.password" => "source_password".into(),
        "destination.password" => "destination_password".into(),
        "source.admin" => "source_admin".into(),
        "destination.admin" => "destination_admin".into(),
        "source.signed_in" => "source_signed_in".into(),
        "destination.signed_in" => "destination_signed_in".into(),
        other => other.into(),
    }
}

#[derive(Deserialize, Default)]
pub(crate) struct BulkQuery {
    #[serde(default)]
    dry_run: bool,
    #[serde(default)]
    atomic: bool,
}

fn row_err(row: usize, col: Option<Col>, message: impl Into<String>) -> RowError {
    RowError {
        row,
        column: col.map(|c| c.header().to_string()),
        message: message.into(),
    }
}

/// Microsoft 365 / Outlook.com's IMAP server (its preset's).
fn microsoft_365(presets: &Presets) -> ServerIn {
    let imap = presets.by_id("microsoft").and_then(|p| p.imap.clone());
    ServerIn {
        kind: "imaps".into(),
        host: imap
            .as_ref()
            .map_or_else(|| "outlook.office365.com".into(), |s| s.host.clone()),
        port: Some(imap.map_or(993, |s| s.port)),
    }
}

/// Whether a row's side signs in later (OAuth 2.0, on its tracking page) instead of giving
/// a password: its server is at a provider the service signs in with, and the row has no
/// password for it, or the provider takes no password at all (Microsoft 365). A provider that
/// takes only a sign-in the service is not set up for is an error.
fn signs_in_later(svc: &Service, server: &ServerIn, password: &str) -> Result<bool, String> {
    let with_provider = crate::oauth_pages::provider_for_host(svc, &server.host).is_some();
    let oauth_only = svc
        .settings
        .presets
        .for_host(&server.host)
        .filter(|p| !p.auth.is_empty() && p.auth.iter().all(|a| a == "oauth2"));
    match oauth_only {
        Some(_) if with_provider => Ok(true),
        Some(p) => Err(format!(
            "{} takes only a sign-in (OAuth 2.0), which this service is not set up for: ask its operator",
            p.name
        )),
        None => Ok(with_provider && password.is_empty()),
    }
}

/// The server of one side of a row: from its type and URL cells, else the project's default.
fn row_server(
    r: &bulk::Row,
    source: bool,
    default: &Option<ServerIn>,
    presets: &Presets,
) -> Result<ServerIn, RowError> {
    let (tcol, ucol) = if source {
        (Col::SourceType, Col::SourceUrl)
    } else {
        (Col::DestinationType, Col::DestinationUrl)
    };
    let t: String = r
        .get(tcol)
        .chars()
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_lowercase)
        .collect();
    let family = match t.as_str() {
        "" | "imap" | "imaps" | "imap/ssl" | "imap/tls" | "imapssl" | "imap+starttls"
        | "imap/starttls" => "imap",
        "pop" | "pop3" | "pops" | "pop3s" | "pop3/ssl" if source => "pop3",
        "pop" | "pop3" | "pops" | "pop3s" | "pop3/ssl" => {
            return Err(row_err(
                r.number,
                Some(tcol),
                "POP cannot be a destination: use IMAP",
            ));
        }
        // Microsoft 365 / Outlook.com (or an Exchange of one's own, or OVHcloud's Hosted
        // Exchange) through IMAP: never EWS or Graph. An empty address is Microsoft 365 unless
        // the project has a default server for the side.
        "exchange" | "ews" | "o365" | "office365" | "microsoft365" | "exchange/ews" => "exchange",
        _ => {
            return Err(row_err(
                r.number,
                Some(tcol),
                format!("unknown type {:?}: expected IMAP or POP", r.get(tcol)),
            ));
        }
    };
    let u = r.get(ucol);
    if u.is_empty() {
        return match default {
            Some(d) => Ok(d.clone()),
            None if family == "exchange" => Ok(microsoft_365(presets)),
            None => Err(row_err(
                r.number,
                Some(ucol),
                "is empty, and the project has no default server for this side",
            )),
        };
    }
    let (scheme, rest) = match u.split_once("://") {
        Some((s, rest)) => (Some(s.to_ascii_lowercase()), rest),
        None => (None, u),
    };
    let hostport = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if hostport.contains('@') {
        return Err(row_err(
            r.number,
            Some(ucol),
            "must be a server address, without a login or password",
        ));
    }
    let (host, port) = match hostport.rsplit_once(':') {
        Some((h, _)) if !h.ends_with(']') && h.contains(':') => (hostport.to_string(), None),
        Some((h, p)) => match p.parse::<u16>() {
            Ok(p) if p > 0 => (h.trim_matches(['[', ']']).to_string(), Some(p)),
            _ => {
                return Err(row_err(r.number, Some(ucol), format!("bad port {p:?}")));
            }
        },
        None => (hostport.trim_matches(['[', ']']).to_string(), None),
    };
    let wants_starttls = t.contains("starttls");
    let family = if family == "exchange" { "imap" } else { family };
    let kind = match (family, scheme.as_deref()) {
        ("imap", Some(s @ ("imap" | "imaps" | "imap+starttls"))) => s.to_string(),
        ("pop3", Some(s @ ("pop3" | "pop3s" | "pop3+starttls"))) => s.to_string(),
        ("pop3", Some("pop")) => "pop3".into(),
        ("pop3", Some("pops")) => "pop3s".into(),
        (_, Some("http" | "https")) => {
            return Err(row_err(
                r.number,
                Some(ucol),
                "is a web address: give the IMAP server (imap.example.org or imaps://imap.example.org:993)",
            ));
        }
        (_, Some(other)) => {
            return Err(row_err(
                r.number,
                Some(ucol),
                format!("unknown scheme {other:?} for type {family}"),
            ));
        }
        ("imap", None) if wants_starttls || port == Some(143) => "imap+starttls".into(),
        ("imap", None) => "imaps".into(),
        (_, None) if port == Some(110) => "pop3+starttls".into(),
        _ => "pop3s".into(),
    };
    let s = ServerIn { kind, host, port };
    let field = if source { "source" } else { "destination" };
    s.check(field, source)
        .map_err(|e| row_err(r.number, Some(ucol), e.message))?;
    Ok(s)
}

/// The account of a row, or every problem of it.
/// A row's account. `signs_in` tells whether a side's server (with the row's password for
/// it) signs in later instead of taking a password ([`signs_in_later`]).
fn row_account(
    r: &bulk::Row,
    opts: &ProjectOptions,
    presets: &Presets,
    signs_in: &dyn Fn(&ServerIn, &str) -> Result<bool, String>,
) -> Result<Account, Vec<RowError>> {
    let mut errors = Vec::new();
    for c in [Col::SourceLogin, Col::DestinationLogin] {
        if r.get(c).is_empty() {
            errors.push(row_err(r.number, Some(c), "is required"));
        }
    }
    for c in [
        Col::SourceLogin,
        Col::DestinationLogin,
        Col::SourceAdmin,
        Col::DestinationAdmin,
    ] {
        let v = r.get(c);
        if !v.is_empty() && (v.len() > 320 || v.chars().any(|ch| ch.is_control() || ch == ' ')) {
            errors.push(row_err(r.number, Some(c), "is not a login"));
        }
    }
    // Each side: its server, and whether it signs in later or needs its password.
    let mut side = |source: bool| {
        let (ucol, pcol, default) = if source {
            (Col::SourceUrl, Col::SourcePassword, &opts.source)
        } else {
            (
                Col::DestinationUrl,
                Col::DestinationPassword,
                &opts.destination,
            )
        };
        let server = row_server(r, source, default, presets)
            .map_err(|e| errors.push(e))
            .ok()?;
        match signs_in(&server, r.get(pcol)) {
            Ok(true) => Some((server, true)),
            Ok(false) if r.get(pcol).is_empty() => {
                errors.push(row_err(r.number, Some(pcol), "is required"));
                None
            }
            Ok(false) => Some((server, false)),
            Err(m) => {
                errors.push(row_err(r.number, Some(ucol), m));
                None
            }
        }
    };
    let source = side(true);
    let destination = side(false);
    match (source, destination) {
        (Some((s, s_later)), Some((d, d_later))) if errors.is_empty() => Ok(Account {
            source_login: r.get(Col::SourceLogin).to_string(),
            source_password: Zeroizing::new(r.get(Col::SourcePassword).to_string()),
            source_server: s,
            source_admin: Some(r.get(Col::SourceAdmin).to_string()).filter(|s| !s.is_empty()),
            destination_login: r.get(Col::DestinationLogin).to_string(),
            destination_password: Zeroizing::new(r.get(Col::DestinationPassword).to_string()),
            destination_server: d,
            destination_admin: Some(r.get(Col::DestinationAdmin).to_string())
                .filter(|s| !s.is_empty()),
            source_sign_in: s_later,
            destination_sign_in: d_later,
        }),
        _ => Err(errors),
    }
}

/// The column of a migration request's field, for a row's error.
fn col_of(field: &str) -> Option<Col> {
    Some(match field {
        "source.url" => Col::SourceUrl,
        "destination.url" => Col::DestinationUrl,
        "source.password" => Col::SourcePassword,
        "destination.password" => Col::DestinationPassword,
        "source.admin" => Col::SourceAdmin,
        "destination.admin" => Col::DestinationAdmin,
        _ => return None,
    })
}

/// Create many accounts from a CSV or spreadsheet file (the request body). By default the
/// valid rows are created and the others reported; `dry_run=true` creates nothing (preview);
/// `atomic=true` creates nothing if any row is bad.
#[utoipa::path(post, path = "/api/v1/projects/{id}/migrations/bulk",
    request_body(content = Vec<u8>, content_type = "text/csv", description = "a CSV, .xlsx, .xls or .ods file (at most 4 MiB, 10,000 rows)"),
    params(("id" = String, Path), ("dry_run" = Option<bool>, Query), ("atomic" = Option<bool>, Query),
        ("X-CSRF-Token" = Option<String>, Header, description = "with the session cookie")),
    responses((status = 200, body = BulkOut), (status = 400, body = ErrorOut), (status = 401, body = ErrorOut)))]
pub(crate) async fn bulk_create(
    State(svc): State<Arc<Service>>,
    Path(id): Path<String>,
    Query(q): Query<BulkQuery>,
    headers: HeaderMap,
    method: Method,
    body: Bytes,
) -> Res<Json<BulkOut>> {
    authed(&svc, &id, &headers, &method).await?;
    let p = project_of(&svc, &id).await?;
    let opts = ProjectOptions::from_json(&p.options);
    let rows = tokio::task::spawn_blocking(move || bulk::parse(&body))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?
        .map_err(ApiError::BadRequest)?;
    let mut out = BulkOut {
        dry_run: q.dry_run,
        rows: rows.len(),
        valid: Vec::new(),
        created: Vec::new(),
        errors: Vec::new(),
    };
    let mut accounts = Vec::new();
    let mut pairs = project_pairs(&svc, &id).await?;
    for r in &rows {
        let signs_in = |server: &ServerIn, password: &str| signs_in_later(&svc, server, password);
        match row_account(r, &opts, &svc.settings.presets, &signs_in) {
            Ok(a) => match a.request(&p).validate() {
                Ok(v) => {
                    let key = pair_key(&v.source.to_url(), &v.destination.to_url());
                    match pairs.get(&key) {
                        Some(prev) if prev.starts_with("row ") => {
                            out.errors
                                .push(row_err(r.number, None, already_there(prev)))
                        }
                        Some(prev) => out.errors.push(row_err(
                            r.number,
                            None,
                            already_there(&format!("migration {prev}")),
                        )),
                        None => {
                            pairs.insert(key, format!("row {}", r.number));
                            accounts.push((r.number, a));
                        }
                    }
                }
                Err(e) => out
                    .errors
                    .push(row_err(r.number, col_of(&e.field), e.message)),
            },
            Err(errs) => out.errors.extend(errs),
        }
    }
    out.valid = accounts.iter().map(|(n, _)| *n).collect();
    if q.dry_run || (q.atomic && !out.errors.is_empty()) {
        return Ok(Json(out));
    }
    for (n, a) in &accounts {
        match create_account(&svc, &p, a).await {
            Ok(mid) => out.created.push(CreatedRow {
                row: *n,
                id: mid,
                source: a.source_login.clone(),
            }),
            Err(ApiError::Field { field, message }) => {
                out.errors.push(row_err(*n, col_of(&field), message));
            }
            Err(e @ ApiError::Engine(_))
                if !matches!(e, ApiError::Engine(passeur_engine::EngineError::Store(_))) =>
            {
                out.errors.push(row_err(*n, None, e.to_string()));
            }
            Err(e) => return Err(e.into()),
        }
    }
    out.errors.sort_by_key(|e| e.row);
    tracing::info!(project = %id, created = out.created.len(), errors = out.errors.len(), "bulk creation");
    Ok(Json(out))
}

/// Migration `mid` if it belongs to project `id`; else the same 404 as an unknown one.
async fn member(svc: &Service, id: &str, mid: &str) -> Res<passeur_types::MigrationId> {
    let m: passeur_types::MigrationId = mid.parse().map_err(|_| ApiError::NotFound)?;
    match svc.store().migration(m).await {
        Ok(_) => {}
        Err(StoreError::NotFound(_)) => return Err(ApiError::NotFound.into()),
        Err(e) => return Err(e.into()),
    }
    if svc.store().service_meta(m).await?.project.as_deref() != Some(id) {
        return Err(ApiError::NotFound.into());
    }
    Ok(m)
}

/// Stop one migration of the project at its next safe point (or before it starts).
#[utoipa::path(post, path = "/api/v1/projects/{id}/migrations/{mid}/stop",
    params(("id" = String, Path), ("mid" = String, Path), ("X-CSRF-Token" = Option<String>, Header)),
    responses((status = 202), (status = 401, body = ErrorOut), (status = 404, body = ErrorOut)))]
pub(crate) async fn stop_migration(
    State(svc): State<Arc<Service>>,
    Path((id, mid)): Path<(String, String)>,
    headers: HeaderMap,
    method: Method,
) -> Res<StatusCode> {
    authed(&svc, &id, &headers, &method).await?;
    let m = member(&svc, &id, &mid).await?;
    svc.stop_migration(m).await?;
    Ok(StatusCode::ACCEPTED)
}

/// Start a new pass of one migration of the project: only what is new is copied.
#[utoipa::path(post, path = "/api/v1/projects/{id}/migrations/{mid}/sync",
    params(("id" = String, Path), ("mid" = String, Path), ("X-CSRF-Token" = Option<String>, Header)),
    responses((status = 202), (status = 401, body = ErrorOut), (status = 404, body = ErrorOut), (status = 409, body = ErrorOut)))]
pub(crate) async fn sync_migration(
    State(svc): State<Arc<Service>>,
    Path((id, mid)): Path<(String, String)>,
    headers: HeaderMap,
    method: Method,
) -> Res<StatusCode> {
    authed(&svc, &id, &headers, &method).await?;
    let m = member(&svc, &id, &mid).await?;
    svc.start_sync(m).await?;
    Ok(StatusCode::ACCEPTED)
}

/// Forget one migration of the project (credentials, item map, passes); what it copied stays.
#[utoipa::path(delete, path = "/api/v1/projects/{id}/migrations/{mid}",
    params(("id" = String, Path), ("mid" = String, Path), ("X-CSRF-Token" = Option<String>, Header)),
    responses((status = 204), (status = 401, body = ErrorOut), (status = 404, body = ErrorOut)))]
pub(crate) async fn delete_migration(
    State(svc): State<Arc<Service>>,
    Path((id, mid)): Path<(String, String)>,
    headers: HeaderMap,
    method: Method,
) -> Res<StatusCode> {
    authed(&svc, &id, &headers, &method).await?;
    let m = member(&svc, &id, &mid).await?;
    svc.stop(m).await?;
    svc.store().delete_migration(m).await?;
    tracing::info!(project = %id, migration = %m, "project migration deleted on request");
    Ok(StatusCode::NO_CONTENT)
}

/// Hold every waiting migration of the project; running ones finish their pass.
#[utoipa::path(post, path = "/api/v1/projects/{id}/pause",
    params(("id" = String, Path), ("X-CSRF-Token" = Option<String>, Header)),
    responses((status = 200, body = PauseOut), (status = 401, body = ErrorOut)))]
pub(crate) async fn pause(
    State(svc): State<Arc<Service>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    method: Method,
) -> Res<Json<PauseOut>> {
    authed(&svc, &id, &headers, &method).await?;
    let jobs = svc.store().pause_project(&id).await?;
    Ok(Json(PauseOut { paused: true, jobs }))
}

/// Let the project's held migrations run again.
#[utoipa::path(post, path = "/api/v1/projects/{id}/resume",
    params(("id" = String, Path), ("X-CSRF-Token" = Option<String>, Header)),
    responses((status = 200, body = PauseOut), (status = 401, body = ErrorOut)))]
pub(crate) async fn resume(
    State(svc): State<Arc<Service>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    method: Method,
) -> Res<Json<PauseOut>> {
    authed(&svc, &id, &headers, &method).await?;
    let jobs = svc.store().resume_project(&id).await?;
    Ok(Json(PauseOut {
        paused: false,
        jobs,
    }))
}

/// Replace the project's options. The number of simultaneous migrations applies at once to
/// the waiting ones.
#[utoipa::path(put, path = "/api/v1/projects/{id}/options", request_body = ProjectOptions,
    params(("id" = String, Path), ("X-CSRF-Token" = Option<String>, Header)),
    responses((status = 200, body = ProjectOptions), (status = 401, body = ErrorOut), (status = 422, body = ErrorOut)))]
pub(crate) async fn set_options(
    State(svc): State<Arc<Service>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    method: Method,
    ApiJson(opts): ApiJson<ProjectOptions>,
) -> Res<Json<ProjectOptions>> {
    authed(&svc, &id, &headers, &method).await?;
    opts.check()?;
    svc.store()
        .set_project_options(
            &id,
            &serde_json::to_string(&opts).unwrap_or_default(),
            opts.simultaneous,
        )
        .await?;
    Ok(Json(opts))
}

/// The bulk-creation template, CSV (`;`-separated, UTF-8 with BOM).
#[utoipa::path(get, path = "/api/v1/projects/template.csv",
    responses((status = 200, content_type = "text/csv")))]
pub(crate) async fn template_csv() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"passeur-project-template.csv\"",
            ),
        ],
        bulk::template_csv(),
    )
        .into_response()
}

/// The bulk-creation template, XLSX.
#[utoipa::path(get, path = "/api/v1/projects/template.xlsx",
    responses((status = 200, content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")))]
pub(crate) async fn template_xlsx() -> Result<Response, ApiError> {
    let bytes = bulk::template_xlsx().map_err(ApiError::Internal)?;
    Ok((
        [
            (
                header::CONTENT_TYPE,
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            ),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"passeur-project-template.xlsx\"",
            ),
        ],
        bytes,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_sign_in(_: &ServerIn, _: &str) -> Result<bool, String> {
        Ok(false)
    }

    /// Microsoft 365's server signs in later, as with a service set up for it.
    fn m365_signs_in(s: &ServerIn, _: &str) -> Result<bool, String> {
        Ok(s.host == "outlook.office365.com")
    }

    fn row(cells: [&str; 10]) -> bulk::Row {
        bulk::Row {
            number: 7,
            cells: cells.map(str::to_string),
        }
    }

    #[test]
    fn passwords_must_be_strong() {
        assert!(check_password("Correct-Horse-9").is_ok());
        for weak in [
            "Short-9a",
            "correct-horse-9",
            "CORRECT-HORSE-9",
            "Correct-Horse",
            "CorrectHorse9",
        ] {
            assert!(check_password(weak).is_err(), "{weak}");
        }
    }

    #[test]
    fn row_servers_from_type_and_url() {
        let opts = ProjectOptions::default();
        let r = row([
            "IMAP",
            "imap.a.example",
            "a@a.example",
            "p",
            "IMAP",
            "imap://10.0.0.1:1143",
            "b@b.example",
            "q",
            "",
            "",
        ]);
        let a = row_account(&r, &opts, &Presets::built_in(), &no_sign_in)
            .ok()
            .unwrap();
        assert_eq!(
            a.source_server.url(&a.source_login),
            "imaps://a%40a.example@imap.a.example:993"
        );
        assert_eq!(a.destination_server.url("b"), "imap://b@10.0.0.1:1143");
        let r = row([
            "pop",
            "pop.a.example:110",
            "a@a.example",
            "p",
            "",
            "imap.b.example:143",
            "b@b.example",
            "q",
            "",
            "",
        ]);
        let a = row_account(&r, &opts, &Presets::built_in(), &no_sign_in)
            .ok()
            .unwrap();
        assert_eq!(
            a.source_server.url("a"),
            "pop3+starttls://a@pop.a.example:110"
        );
        assert_eq!(
            a.destination_server.url("b"),
            "imap+starttls://b@imap.b.example:143"
        );
    }

    #[test]
    fn bad_rows_name_their_columns() {
        let opts = ProjectOptions::default();
        let r = row([
            "Exchange",
            "https://owa.example",
            "a@a.example",
            "",
            "POP",
            "",
            "b@b.example",
            "q",
            "",
            "",
        ]);
        let errs = row_account(&r, &opts, &Presets::built_in(), &no_sign_in)
            .err()
            .unwrap();
        let cols: Vec<_> = errs.iter().map(|e| e.column.clone().unwrap()).collect();
        assert!(errs.iter().all(|e| e.row == 7));
        assert!(
            cols.contains(&Col::SourceUrl.header().to_string()),
            "{cols:?}"
        );
        assert!(
            cols.contains(&Col::DestinationType.header().to_string()),
            "{cols:?}"
        );
        assert!(errs.iter().any(|e| e.message.contains("is a web address")));
        // Microsoft 365 by its type alone: its server, and a sign-in instead of the password.
        let m365 = row([
            "Office365",
            "",
            "a@a.example",
            "p",
            "IMAP",
            "imap.b.example",
            "b@b.example",
            "q",
            "",
            "",
        ]);
        let a = row_account(&m365, &opts, &Presets::built_in(), &m365_signs_in)
            .ok()
            .unwrap();
        assert_eq!(
            a.source_server.url("a@a.example"),
            "imaps://a%40a.example@outlook.office365.com:993"
        );
        assert!(a.source_sign_in && !a.destination_sign_in);
        let p = Project {
            id: "p".into(),
            name: "p".into(),
            notify: None,
            lang: "en".into(),
            options: "{}".into(),
            paused: false,
            created_at_ms: 0,
            updated_at_ms: 0,
        };
        let req = a.request(&p);
        assert!(req.source.sign_in_later && req.source.password.is_empty());
        assert!(!req.destination.sign_in_later && req.destination.password == "q");
        assert!(req.validate().is_ok());
        // An Exchange of one's own (OVHcloud's Hosted Exchange): its IMAP, with the password.
        let own = row([
            "Exchange",
            "ex.mail.ovh.net",
            "a@a.example",
            "p",
            "IMAP",
            "imap.b.example",
            "b@b.example",
            "",
            "",
            "",
        ]);
        let errs = row_account(&own, &opts, &Presets::built_in(), &m365_signs_in)
            .err()
            .unwrap();
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert_eq!(
            errs[0].column.as_deref(),
            Some(Col::DestinationPassword.header())
        );
        let own = row([
            "Exchange",
            "ex.mail.ovh.net",
            "a@a.example",
            "p",
            "IMAP",
            "imap.b.example",
            "b@b.example",
            "q",
            "",
            "",
        ]);
        let a = row_account(&own, &opts, &Presets::built_in(), &m365_signs_in)
            .ok()
            .unwrap();
        assert_eq!(a.source_server.url("a"), "imaps://a@ex.mail.ovh.net:993");
        assert!(!a.source_sign_in);
        // A provider that takes only a sign-in the service cannot do: said on the row.
        let none = |_: &ServerIn, _: &str| -> Result<bool, String> {
            Err("Outlook.com / Microsoft 365 takes only a sign-in (OAuth 2.0)".into())
        };
        let errs = row_account(&m365, &opts, &Presets::built_in(), &none)
            .err()
            .unwrap();
        assert_eq!(errs[0].column.as_deref(), Some(Col::SourceUrl.header()));
        // No URL and no default server.
        let r = row([
            "IMAP",
            "imap.a.example",
            "a@a.example",
            "p",
            "IMAP",
            "",
            "b@b.example",
            "q",
            "",
            "",
        ]);
        let errs = row_account(&r, &opts, &Presets::built_in(), &no_sign_in)
            .err()
            .unwrap();
        assert_eq!(
            errs[0].column.as_deref(),
            Some(Col::DestinationUrl.header())
        );
        // ... which the project's default fills.
        let opts = ProjectOptions {
            destination: Some(ServerIn {
                kind: "imaps".into(),
                host: "imap.b.example".into(),
                port: None,
            }),
            ..Default::default()
        };
        assert!(row_account(&r, &opts, &Presets::built_in(), &no_sign_in).is_ok());
    }
}
