//! passeur's HTTP service.
//!
//! - [`router`]: the JSON API under `/api/v1` (its OpenAPI document at `/api/v1/openapi.json`),
//!   `/healthz` and `/metrics`. Every error becomes a response in one place ([`ApiError`]).
//! - [`Service`]: what the routes and the workers act on: the engine's runner over the store,
//!   the [`vault::Vault`] that seals credentials into the store, the notifier, and the job
//!   handler ([`service`]). Passes, notifications and the expiry sweep are durable jobs
//!   (`passeur-jobs`), run by this process's workers or by any `passeur worker` sharing the
//!   database.
//!
//! Tracking needs the migration ID and the source login (header `X-Passeur-Account`; for a
//! file import, its destination login): an unknown ID and a wrong account give the same 404.

#![warn(missing_docs)]

pub mod api;
pub mod bulk;
mod credentials;
pub mod notes;
pub mod oauth_pages;
pub mod projects;
mod routes;
pub mod service;
pub mod uploads;
pub mod vault;
pub mod web;

pub use service::{Service, Settings};

use std::sync::Arc;

use axum::extract::FromRequest;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use passeur_engine::EngineError;
use utoipa::OpenApi;

use api::ErrorOut;

/// The largest JSON body accepted.
const MAX_BODY: usize = 64 << 10;

/// Every way a request can fail; turned into a response in one place.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A request field that is not what it should be (422).
    #[error("{field}: {message}")]
    Field {
        /// The field, as a JSON path (`source.url`).
        field: String,
        /// What is wrong with it.
        message: String,
    },
    /// A request that cannot be served as it is (400); the message says why.
    #[error("{0}")]
    BadRequest(String),
    /// No migration with this ID for the account given (404).
    #[error("no such migration for this account")]
    NotFound,
    /// The request clashes with the migration's state (409), e.g. a pass already running.
    #[error("{0}")]
    Conflict(String),
    /// Too many requests from one address (429).
    #[error("too many requests from this address: try again in a minute")]
    TooMany,
    /// A mail or DAV server refused or failed (502), or the store failed (500).
    #[error("{0}")]
    Engine(#[from] EngineError),
    /// A fault of the service itself (500); the details are logged, not shown.
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
            ApiError::TooMany => (StatusCode::TOO_MANY_REQUESTS, None),
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
        let code = match &self {
            ApiError::Field { .. } => "field",
            ApiError::BadRequest(_) => "bad_request",
            ApiError::NotFound => "not_found",
            ApiError::Conflict(_) => "conflict",
            ApiError::TooMany => "rate_limited",
            ApiError::Engine(EngineError::Store(_)) | ApiError::Internal(_) => "internal",
            ApiError::Engine(e) => e.code(),
        }
        .to_string();
        (status, Json(ErrorOut { error, code, field })).into_response()
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
        routes::create_migration,
        routes::connection_tests,
        routes::get_migration,
        routes::migration_events,
        routes::stop_migration,
        routes::sync_migration,
        routes::purge_migration,
        routes::sign_in_migration,
        credentials::change_credentials,
        routes::report_csv,
        routes::delete_migration,
        uploads::tus_options,
        uploads::create_upload,
        uploads::head_upload,
        uploads::patch_upload,
        uploads::delete_upload,
        uploads::create_import
    ),
    components(schemas(
        api::CreateMigration,
        api::EndpointIn,
        api::Created,
        api::ConnectionTest,
        api::ConnectionTestOut,
        api::SideTestOut,
        api::MigrationOut,
        api::PassOut,
        api::ProgressOut,
        api::FailureOut,
        api::NoteOut,
        api::ErrorOut,
        api::PurgeRequest,
        api::SignInRequest,
        api::CredentialsRequest,
        api::SignInOut,
        api::PurgeOut,
        api::PurgeStateOut,
        api::ConnectionsOut,
        api::CreateImport
    ))
)]
struct ApiDoc;

/// The OpenAPI document of `/api/v1`.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.merge(<projects::ProjectsDoc as OpenApi>::openapi());
    doc
}

/// The service's routes.
pub fn router(svc: Arc<Service>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/metrics", get(routes::metrics))
        .route("/api/v1/openapi.json", get(|| async { Json(openapi()) }))
        .route("/api/v1/migrations", post(routes::create_migration))
        .route("/api/v1/connection-tests", post(routes::connection_tests))
        .route(
            "/api/v1/migrations/{id}",
            get(routes::get_migration).delete(routes::delete_migration),
        )
        .route(
            "/api/v1/migrations/{id}/events",
            get(routes::migration_events),
        )
        .route("/api/v1/migrations/{id}/stop", post(routes::stop_migration))
        .route("/api/v1/migrations/{id}/sync", post(routes::sync_migration))
        .route(
            "/api/v1/migrations/{id}/sign-in",
            post(routes::sign_in_migration),
        )
        .route(
            "/api/v1/migrations/{id}/credentials",
            post(credentials::change_credentials),
        )
        .route(
            "/api/v1/migrations/{id}/purge",
            post(routes::purge_migration),
        )
        .route(
            "/api/v1/migrations/{id}/report.csv",
            get(routes::report_csv),
        )
        .merge(projects::routes())
        .merge(uploads::routes())
        .merge(web::pages())
        .merge(oauth_pages::routes())
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY))
        .with_state(svc)
}

/// Serves the routes on `listener` and runs this process's workers until `shutdown`
/// completes; then stops the running jobs at their next safe point, gives them back to the
/// queue, and waits (up to `grace`) for them to record where they are. Requests still open
/// after `grace` (a tracking page's live stream never ends by itself) are cut.
pub async fn serve(
    listener: tokio::net::TcpListener,
    svc: Arc<Service>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    grace: std::time::Duration,
) -> std::io::Result<()> {
    let app = router(Arc::clone(&svc));
    let workers = {
        let svc = Arc::clone(&svc);
        tokio::spawn(async move { svc.run_workers().await })
    };
    let s = Arc::clone(&svc);
    // With the client's address, for the per-address limits (tracking lookups, failed logins).
    let app = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
    let (asked, stopping) = tokio::sync::oneshot::channel::<()>();
    let server = axum::serve(listener, app).with_graceful_shutdown(async move {
        shutdown.await;
        s.shut_down();
        let _ = asked.send(());
    });
    tokio::select! {
        r = server => r?,
        // The graceful end waits for every open request, and a browser that follows a
        // migration keeps one open (Server-Sent Events): without a bound, SIGTERM never
        // ended the process while someone watched a tracking page.
        () = async {
            if stopping.await.is_ok() {
                tokio::time::sleep(grace).await;
            } else {
                std::future::pending::<()>().await;
            }
        } => {
            tracing::warn!(grace_seconds = grace.as_secs(), "requests still open after the grace period: closed");
        }
    }
    svc.shut_down();
    let _ = tokio::time::timeout(grace, workers).await;
    Ok(())
}
