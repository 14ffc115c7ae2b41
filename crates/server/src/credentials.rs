//! A new password for a side of a migration: `POST /api/v1/migrations/{id}/credentials`.
//!
//! A migration created with a wrong password failed, and Synchronise ran it again with the same
//! one. Its owner (the migration ID and the source login, as for every action) gives the new
//! password of the source and/or the destination while no pass runs; each is checked by a
//! login as the pass will log in (IMAP or POP3 for mail, else the DAV server), and only then
//! sealed in place of the old one. No password is logged or echoed back.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use passeur_engine::{MigrationSpec, Side};
use passeur_store::JobState;
use passeur_types::Endpoint;

use crate::api::{CredentialsRequest, ErrorOut};
use crate::routes::{TEST_WITHIN, log_in_dav, log_in_mail};
use crate::service::PASS;
use crate::{ApiError, ApiJson, Service};

/// Give a new password for the source and/or the destination of a migration that is not
/// running (a wrong or changed password made it fail). Each password is checked by logging in
/// before it replaces the one kept (`422` naming the field when the server refuses it); then
/// `POST …/sync` runs with it. A side that signs in with OAuth 2.0 uses `…/sign-in` instead.
#[utoipa::path(post, path = "/api/v1/migrations/{id}/credentials", request_body = CredentialsRequest,
    params(("id" = String, Path), ("X-Passeur-Account" = String, Header, description = "the source login (a file import: the destination login)")),
    responses((status = 204, description = "checked and kept"),
        (status = 404, body = ErrorOut), (status = 409, body = ErrorOut, description = "a pass is running"),
        (status = 422, body = ErrorOut, description = "a password is missing or the server refused it"),
        (status = 502, body = ErrorOut, description = "the server could not be reached to check it")))]
pub(crate) async fn change_credentials(
    State(svc): State<Arc<Service>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    addr: crate::routes::ClientAddr,
    ApiJson(req): ApiJson<CredentialsRequest>,
) -> Result<StatusCode, ApiError> {
    // Each request may try a password against a server: as rate-limited as a login.
    crate::routes::rate_limit(&svc, &addr).await?;
    let (id, v) = crate::routes::owned(&svc, &id, crate::routes::account_header(&headers)).await?;
    let given = |p: &Option<String>| p.as_deref().filter(|p| !p.is_empty()).map(str::to_owned);
    let (source, destination) = (
        given(&req.source_password),
        given(&req.destination_password),
    );
    if source.is_none() && destination.is_none() {
        return Err(ApiError::Field {
            field: "source_password".into(),
            message: "give a new password for the source, the destination or both".into(),
        });
    }
    if v.spec.is_import() && source.is_some() {
        return Err(ApiError::Field {
            field: "source_password".into(),
            message: "a file import has no source password".into(),
        });
    }
    let jobs = svc.store().jobs_of(id).await?;
    if jobs
        .iter()
        .any(|j| j.kind == PASS && matches!(j.state, JobState::Running))
        || v.row.status == passeur_types::Status::Running
    {
        return Err(ApiError::Conflict(
            "a pass of this migration is running: stop it first".into(),
        ));
    }
    let (src_oauth, dst_oauth) = svc.logs_in_with_oauth(id).await;
    for (given, oauth, field) in [
        (&source, src_oauth, "source_password"),
        (&destination, dst_oauth, "destination_password"),
    ] {
        if given.is_some() && oauth {
            return Err(ApiError::Field {
                field: field.into(),
                message: "this side signs in with its provider: sign in again instead".into(),
            });
        }
    }
    if let Some(p) = &source {
        check_login(&svc, &v, Side::Source, p).await?;
    }
    if let Some(p) = &destination {
        check_login(&svc, &v, Side::Destination, p).await?;
    }
    svc.replace_passwords(
        id,
        source.as_deref(),
        destination.as_deref(),
        !v.spec.is_import(),
    )
    .await
    .map_err(ApiError::Conflict)?;
    tracing::info!(
        migration = %id,
        source = source.is_some(),
        destination = destination.is_some(),
        "new password checked and kept"
    );
    Ok(StatusCode::NO_CONTENT)
}

/// Logs in to `side` of the migration `v` with `password`, as a pass would, changing nothing.
async fn check_login(
    svc: &Service,
    v: &passeur_engine::MigrationView,
    side: Side,
    password: &str,
) -> Result<(), ApiError> {
    let field = match side {
        Side::Source => "source_password",
        Side::Destination => "destination_password",
    };
    // The mail server when the migration moves mail, else the DAV server.
    let (mail, dav, admin) = match &v.spec {
        MigrationSpec::Accounts(a) => {
            let (url, dav, admin) = match side {
                Side::Source => (
                    &v.row.source,
                    a.dav.as_ref().map(|d| &d.from),
                    &a.from_admin,
                ),
                Side::Destination => (
                    &v.row.destination,
                    a.dav.as_ref().map(|d| &d.to),
                    &a.to_admin,
                ),
            };
            (
                a.with_mail.then(|| url.clone()),
                dav.cloned().map(|d| (d, url.clone())),
                admin.clone(),
            )
        }
        MigrationSpec::Import(i) => (
            i.import.imap.clone(),
            i.import
                .dav
                .clone()
                .map(|d| (d, i.import.dav_user.clone().unwrap_or_default())),
            i.to_admin.clone(),
        ),
    };
    let attempt = async {
        if let Some(url) = mail {
            return log_in_mail(svc, side, &url, (password, admin), None).await;
        }
        let Some((url, login_of)) = dav else {
            return Ok(());
        };
        // The DAV login: the account's (an import names it; a recorded URL carries it).
        let login = Endpoint::of_recorded(&login_of)
            .map(|e| e.login)
            .unwrap_or(login_of);
        log_in_dav(svc, side, (&url, &login), (password, admin), None).await
    };
    match tokio::time::timeout(TEST_WITHIN, attempt).await {
        Err(_) => Err(ApiError::Field {
            field: field.into(),
            message: "the server did not answer within 30 s: the password was not changed".into(),
        }),
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) if e.code() == "auth" => Err(ApiError::Field {
            field: field.into(),
            message: "the server refused this password: it was not changed".into(),
        }),
        Ok(Err(e)) => Err(e.into()),
    }
}
