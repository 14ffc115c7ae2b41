//! The handlers of `/api/v1`, `/metrics`: they validate, check ownership, and act through the
//! [`Service`]; long work is queued as jobs.

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::{ConnectInfo, FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::Stream;
use passeur_engine::{
    AccountSpec, DavAccount, DavSpec, EngineError, FolderRules, Limits, MailOptions, MigrationSpec,
    MigrationView, Secret, Side,
};
use passeur_notify::{Lang, Notification};
use passeur_store::{Job, JobState};
use passeur_types::{ContentKind, Endpoint, MigrationId, Status};

use crate::api::{
    self, ConnectionTest, ConnectionTestOut, ConnectionsOut, CreateMigration, Created, EndpointIn,
    ErrorOut, FailureOut, MigrationOut, NoteOut, PassOut, ProgressOut, PurgeOut, PurgeRequest,
    PurgeStateOut, SideTestOut, ValidMigration,
};
use crate::service::{PASS, PURGE, PassProgress, PurgeResult, lock};
use crate::{ApiError, ApiJson, Service};

/// Tracking lookups allowed per client address and minute.
const LOOKUPS_PER_MINUTE: u32 = 120;

/// The client's address, for the per-address limits; `None` is not limited.
///
/// - A peer on another machine is the client.
/// - A peer on this machine (loopback) is a reverse proxy or a local script: the client is the
///   last address of its `X-Forwarded-For` (the one the proxy added), and a loopback peer
///   without that header is not limited.
/// - No connection info (a router driven in-process): not limited.
pub(crate) struct ClientAddr(pub(crate) Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = Infallible;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Infallible> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip());
        Ok(ClientAddr(match peer {
            Some(ip) if ip.is_loopback() => parts
                .headers
                .get_all("x-forwarded-for")
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                .filter_map(|a| a.trim().parse::<IpAddr>().ok())
                .next_back(),
            other => other,
        }))
    }
}

/// Counts tracking lookups per client address in one-minute windows, shared by every process
/// of the service through the store's `throttle` table.
///
/// A write to the store for each lookup would put one commit (an fsync on SQLite) in front of
/// every GET. So each process counts its own lookups and adds them to the shared count at
/// most once a second per address (lookups counted meanwhile are added a second later by a
/// task of their own), or every [`LOOKUP_BATCH`] lookups, or at each lookup once the count
/// nears the limit. It decides on the last shared count plus its own since: across the
/// cluster the limit holds to within about a second's lookups.
pub(crate) async fn rate_limit(svc: &Arc<Service>, addr: &ClientAddr) -> Result<(), ApiError> {
    let Some(ip) = addr.0 else { return Ok(()) };
    let (send, schedule) = {
        let mut w = lock(&svc.lookups);
        if w.len() > 100_000 {
            w.retain(|_, c| c.synced.is_some_and(|t| t.elapsed() < LOOKUP_WINDOW));
        }
        let c = w.entry(ip).or_default();
        c.unsent += 1;
        let due = c.unsent >= LOOKUP_BATCH
            || (c.shared <= LOOKUPS_PER_MINUTE
                && c.shared + c.unsent + LOOKUP_BATCH > LOOKUPS_PER_MINUTE)
            || c.synced
                .is_none_or(|t| t.elapsed() >= Duration::from_secs(1));
        if due {
            // Claimed by this request; a concurrent one counts on.
            c.synced = Some(Instant::now());
            (std::mem::take(&mut c.unsent), false)
        } else {
            (0, !std::mem::replace(&mut c.flush_planned, true))
        }
    };
    if send > 0 {
        tell_lookups(svc, ip, send).await;
    }
    if schedule {
        let svc = Arc::clone(svc);
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let send = {
                let mut w = lock(&svc.lookups);
                let c = w.entry(ip).or_default();
                c.flush_planned = false;
                c.synced = Some(Instant::now());
                std::mem::take(&mut c.unsent)
            };
            if send > 0 {
                tell_lookups(&svc, ip, send).await;
            }
        });
    }
    let w = lock(&svc.lookups);
    let c = w.get(&ip).copied().unwrap_or_default();
    if c.shared.saturating_add(c.unsent) > LOOKUPS_PER_MINUTE {
        return Err(ApiError::TooMany);
    }
    Ok(())
}

/// Adds `n` lookups of `ip` to the store's shared count, and keeps the count it answers.
async fn tell_lookups(svc: &Service, ip: IpAddr, n: u32) {
    let window = LOOKUP_WINDOW.as_millis() as i64;
    let key = format!("lookup:{ip}");
    match svc.store().throttle_add(&key, window, n).await {
        Ok(total) => lock(&svc.lookups).entry(ip).or_default().shared = total,
        Err(e) => {
            // Counted here at least, until the store answers again.
            tracing::warn!(error = %e, "cannot count a tracking lookup in the store");
            let mut w = lock(&svc.lookups);
            let c = w.entry(ip).or_default();
            c.shared = c.shared.saturating_add(n);
        }
    }
}

/// The window of the tracking-lookup limit.
const LOOKUP_WINDOW: Duration = Duration::from_secs(60);
/// A process tells the store its lookups of one address at least every this many.
const LOOKUP_BATCH: u32 = 10;

/// One client address's tracking lookups, as this process knows them.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct LookupCount {
    /// The window's count in the store when this process last told it.
    shared: u32,
    /// Lookups here since.
    unsent: u32,
    synced: Option<Instant>,
    /// A task will tell the store what is unsent.
    flush_planned: bool,
}

/// `connections`, at most the lowest documented limit of the providers of `hosts`.
pub(crate) fn capped_connections<'a>(
    presets: &passeur_net::discover::Presets,
    connections: usize,
    hosts: impl IntoIterator<Item = &'a str>,
) -> usize {
    match presets.connection_cap(hosts) {
        Some((cap, _)) => connections.min(cap).max(1),
        None => connections,
    }
}

/// The connections of a migration's passes, and the provider limit that caps them.
fn connections_out(
    presets: &passeur_net::discover::Presets,
    row: &passeur_store::MigrationRow,
    spec: &MigrationSpec,
) -> Option<ConnectionsOut> {
    let MigrationSpec::Accounts(a) = spec else {
        return None;
    };
    if !a.with_mail {
        return None;
    }
    let hosts: Vec<String> = [&row.source, &row.destination]
        .iter()
        .filter_map(|u| Endpoint::of_recorded(u))
        .map(|e| e.host)
        .collect();
    let cap = presets.connection_cap(hosts.iter().map(String::as_str));
    Some(ConnectionsOut {
        used: a.mail.limits.connections as u64,
        provider_limit: cap.map(|(n, _)| n as u64),
        provider: cap.map(|(_, p)| p.name.clone()),
    })
}

/// The spec a valid request asks for.
fn spec_of(
    presets: &passeur_net::discover::Presets,
    v: &ValidMigration,
) -> Result<MigrationSpec, ApiError> {
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
            rules: FolderRules {
                gmail_archive: v.gmail_archive_folder.clone(),
                ..FolderRules::default()
            },
            limits: Limits {
                // Within the providers' documented limits (their presets).
                connections: capped_connections(
                    presets,
                    Limits::default().connections,
                    [v.source.host.as_str(), v.destination.host.as_str()],
                ),
                ..Limits::default()
            },
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

/// Refuses a user server whose addresses the service may not reach (loopback, private,
/// link-local, metadata), naming the field. A name that does not resolve passes here: the
/// pass will say so.
pub(crate) async fn guard(svc: &Service, field: &str, ep: &Endpoint) -> Result<(), ApiError> {
    let policy = svc.address_policy();
    match passeur_net::resolve(&ep.host, ep.port, &policy, Duration::from_secs(10)).await {
        Err(e @ passeur_net::NetError::AddressRefused { .. }) => Err(ApiError::Field {
            field: field.into(),
            message: e.to_string(),
        }),
        _ => Ok(()),
    }
}

pub(crate) fn lang_of(v: Option<&str>, headers: &HeaderMap) -> Lang {
    match v {
        Some(l) => l.parse().unwrap_or_default(),
        None => headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|h| h.to_str().ok())
            .map(Lang::from_accept_language)
            .unwrap_or_default(),
    }
}

/// Refuses a token that names a provider this service is not registered with: tokens never go
/// to an endpoint a user names.
pub(crate) fn check_provider(
    svc: &Service,
    field: &str,
    t: Option<&passeur_oauth::TokenFile>,
) -> Result<(), ApiError> {
    if let Some(name) = t.and_then(|t| t.provider.as_deref())
        && !svc.settings.oauth_providers.iter().any(|p| p.name == name)
    {
        let known: Vec<&str> = svc
            .settings
            .oauth_providers
            .iter()
            .map(|p| p.name.as_str())
            .collect();
        return Err(ApiError::Field {
            field: field.into(),
            message: if known.is_empty() {
                "this service is registered with no OAuth 2.0 provider".into()
            } else {
                format!(
                    "is not one of this service's providers ({})",
                    known.join(", ")
                )
            },
        });
    }
    Ok(())
}

/// Creates the migration `v` asks for: checks its servers against the address guard, keeps its
/// credentials and `meta`, and queues its first pass. Nothing is left behind on failure.
pub(crate) async fn create_valid(
    svc: &Service,
    v: &ValidMigration,
    meta: passeur_store::ServiceMeta,
) -> Result<MigrationId, ApiError> {
    let spec = spec_of(&svc.settings.presets, v)?;
    check_provider(svc, "source.oauth.provider", v.source_oauth.as_ref())?;
    check_provider(
        svc,
        "destination.oauth.provider",
        v.destination_oauth.as_ref(),
    )?;
    guard(svc, "source.url", &v.source).await?;
    guard(svc, "destination.url", &v.destination).await?;
    for (later, field, side) in [
        (v.source_sign_in, "source.sign_in_later", &v.source),
        (
            v.destination_sign_in,
            "destination.sign_in_later",
            &v.destination,
        ),
    ] {
        if later && crate::oauth_pages::provider_for_host(svc, &side.host).is_none() {
            return Err(ApiError::Field {
                field: field.into(),
                message: format!(
                    "{} is not the server of a provider this service signs in with: give a password or a token",
                    side.host
                ),
            });
        }
    }
    let meta = passeur_store::ServiceMeta {
        source_sign_in: v.source_sign_in,
        destination_sign_in: v.destination_sign_in,
        ..meta
    };
    let (id, _) = svc
        .runner
        .create(&v.source.to_url(), &v.destination.to_url(), &spec, false)
        .await?;
    let stored = async {
        svc.keep_credentials(id, &v.source_password, &v.destination_password)
            .await?;
        if v.source_oauth.is_some() || v.destination_oauth.is_some() {
            svc.keep_oauth(id, v.source_oauth.as_ref(), v.destination_oauth.as_ref())
                .await?;
        }
        svc.store().put_service_meta(id, &meta).await?;
        // A side that signs in later: the first pass is queued by its sign-in.
        if meta.awaits_sign_in() {
            return Ok(0);
        }
        svc.queue_pass(id, v.start_at.map(|s| s * 1000)).await
    }
    .await;
    if let Err(e) = stored {
        // Leave nothing half-made behind.
        let _ = svc.store().delete_migration(id).await;
        return Err(e.into());
    }
    Ok(id)
}

/// An `auto://ADDRESS` (or `auto:ADDRESS`) side replaced by the URL detection finds, else
/// left as is. Detection asks the provider presets, DNS SRV and MX records, the domain's
/// autoconfig files and the ISPDB (when the operator keeps it). The autoconfig fetches meet the
/// service's address guard, redirects included, so that a user's domain cannot aim them at an
/// internal address; the URL found then meets the guard like any other.
pub(crate) async fn resolve_auto(
    svc: &Service,
    side: &mut EndpointIn,
    field: &str,
    destination: bool,
) -> Result<(), ApiError> {
    let Some(address) = side
        .url
        .strip_prefix("auto://")
        .or_else(|| side.url.strip_prefix("auto:"))
        .map(str::to_owned)
    else {
        return Ok(());
    };
    let bad = |message: String| ApiError::Field {
        field: field.into(),
        message,
    };
    let mut d = passeur_net::discover::Discoverer::new(None, svc.settings.presets.clone())
        .and_then(|d| d.with_address_policy(svc.address_policy()))
        .map_err(|e| bad(e.to_string()))?;
    d.ispdb = svc.settings.ispdb.clone();
    let found = d.detect(&address).await.map_err(|e| bad(e.to_string()))?;
    let url = if destination {
        found
            .incoming
            .iter()
            .find(|(p, s)| {
                *p == passeur_net::discover::MailProtocol::Imap
                    && s.security != passeur_net::discover::Security::Plain
            })
            .and_then(|(p, s)| s.url(*p, found.login_for(s)))
            .ok_or_else(|| {
                bad(format!(
                    "no encrypted IMAP server found for {address}: give its URL"
                ))
            })?
    } else {
        found.url().map_err(|e| bad(e.to_string()))?
    };
    side.url = url;
    Ok(())
}

/// Create a migration; its first pass is queued (or scheduled at `start_at`).
#[utoipa::path(post, path = "/api/v1/migrations", request_body = CreateMigration,
    responses((status = 201, body = Created), (status = 400, body = ErrorOut), (status = 422, body = ErrorOut)))]
pub(crate) async fn create_migration(
    State(svc): State<Arc<Service>>,
    headers: HeaderMap,
    ApiJson(mut req): ApiJson<CreateMigration>,
) -> Result<(StatusCode, Json<Created>), ApiError> {
    resolve_auto(&svc, &mut req.source, "source.url", false).await?;
    resolve_auto(&svc, &mut req.destination, "destination.url", true).await?;
    let signed = signed_sides(&svc, &headers, &mut req.source, &mut req.destination).await?;
    let v = req.validate()?;
    let lang = lang_of(v.lang.as_deref(), &headers);
    let id = create_valid(
        &svc,
        &v,
        passeur_store::ServiceMeta {
            notify: v.notify.clone(),
            lang: lang.tag().into(),
            project: None,
            ..Default::default()
        },
    )
    .await?;
    // A browser's sign-in serves one migration.
    crate::oauth_pages::forget(&svc, &headers, "migrate", &signed).await;
    // A side that signs in later: where and how, instead of "started".
    let waits = [
        (v.source_sign_in, &v.source),
        (v.destination_sign_in, &v.destination),
    ]
    .into_iter()
    .find(|(later, _)| *later)
    .and_then(|(_, e)| crate::oauth_pages::provider_for_host(&svc, &e.host));
    let (tracking_url, source, destination) = (
        svc.tracking_url(id),
        v.source.to_url(),
        v.destination.to_url(),
    );
    let migration_id = id.to_string();
    let n = match waits {
        Some(p) => Notification::SignInNeeded {
            migration_id,
            tracking_url,
            source,
            destination,
            provider: crate::oauth_pages::label(&svc.settings.presets, p),
        },
        None => Notification::Started {
            migration_id,
            tracking_url,
            source,
            destination,
        },
    };
    svc.queue_notification(id, n).await;
    Ok((StatusCode::CREATED, Json(Created { id: id.to_string() })))
}

/// The sides that log in with this browser's "Sign in with …" (`signed_in`), their tokens
/// filled in.
async fn signed_sides(
    svc: &Service,
    headers: &HeaderMap,
    source: &mut EndpointIn,
    destination: &mut EndpointIn,
) -> Result<Vec<&'static str>, ApiError> {
    use crate::oauth_pages::use_signed_in;
    let mut sides = Vec::new();
    if source.signed_in {
        use_signed_in(svc, headers, "migrate", "src", "source", source).await?;
        sides.push("src");
    }
    if destination.signed_in {
        use_signed_in(svc, headers, "migrate", "dst", "destination", destination).await?;
        sides.push("dst");
    }
    Ok(sides)
}

/// One side's test: the mail server, and the DAV server too when one is given.
async fn test_side(svc: &Service, side: Side, e: &EndpointIn, ep: Endpoint) -> SideTestOut {
    let dav = e.dav.as_deref().map(str::trim).filter(|u| !u.is_empty());
    let (mut out, dav) = tokio::join!(test_mail(svc, side, e, ep.clone()), async {
        match dav {
            Some(url) => Some(test_dav(svc, side, e, &ep.login, url).await),
            None => None,
        }
    });
    out.dav = dav.map(Box::new);
    out
}

/// The words of a failed test: the kind, from the error's code.
fn test_failure(err: &EngineError) -> SideTestOut {
    let reason = match err.code() {
        c @ ("auth" | "tls" | "refused" | "unreachable") => c,
        _ => "other",
    };
    SideTestOut {
        ok: false,
        reason: Some(reason.into()),
        error: Some(err.to_string()),
        dav: None,
    }
}

/// Logs in to the CalDAV/CardDAV server at `url` as `login` (finding the user's principal and
/// homes, as a pass starts), changing nothing. A token is tried as given: nothing is renewed.
pub(crate) async fn log_in_dav(
    svc: &Service,
    side: Side,
    (url, login): (&str, &str),
    (password, admin): (&str, Option<String>),
    oauth: Option<&passeur_oauth::TokenFile>,
) -> Result<(), EngineError> {
    let acc = DavAccount::parse(
        url,
        login,
        Secret::new(password.to_owned()),
        svc.settings.insecure_tls,
    )?
    .with_net(None, &svc.run_options())
    .with_admin(admin);
    // A side that logs in with a token sends it as `Authorization: Bearer`, as the pass will.
    let oauth =
        oauth.map(|o| std::sync::Arc::new(passeur_oauth::TokenSource::new(o.token.clone(), None)));
    let acc = acc.with_oauth(oauth.as_ref(), side).await?;
    let client = acc.connect(side).await?;
    client.discover().await.map_err(|err| EngineError::Dav {
        side,
        action: "log in to the DAV server",
        source: err,
    })?;
    Ok(())
}

/// Logs in to the mail server at `url` (IMAP or POP3), as a pass would, changing nothing. A
/// token is tried as given: nothing is renewed.
pub(crate) async fn log_in_mail(
    svc: &Service,
    side: Side,
    url: &str,
    (password, admin): (&str, Option<String>),
    oauth: Option<&passeur_oauth::TokenFile>,
) -> Result<(), EngineError> {
    let acc = passeur_engine::mail_account(
        url,
        admin,
        Secret::new(password.to_owned()),
        svc.settings.insecure_tls,
        &svc.run_options(),
    )?
    .with_oauth(
        oauth.map(|o| std::sync::Arc::new(passeur_oauth::TokenSource::new(o.token.clone(), None))),
    );
    if acc.endpoint.protocol == passeur_types::Protocol::Pop3 {
        let client = passeur_engine::connect_pop3(&acc, false).await?;
        let _ = client.quit().await;
    } else {
        let client = acc.connect(side).await?;
        let _ = client.logout().await;
    }
    Ok(())
}

/// How long a connection test (or a password check) waits for a server.
pub(crate) const TEST_WITHIN: Duration = Duration::from_secs(30);

/// A test's outcome as the API says it.
fn test_out(r: Result<Result<(), EngineError>, tokio::time::error::Elapsed>) -> SideTestOut {
    match r {
        Err(_) => SideTestOut {
            ok: false,
            reason: Some("unreachable".into()),
            error: Some("no answer within 30 s".into()),
            dav: None,
        },
        Ok(Ok(())) => SideTestOut {
            ok: true,
            reason: None,
            error: None,
            dav: None,
        },
        Ok(Err(err)) => test_failure(&err),
    }
}

async fn test_dav(
    svc: &Service,
    side: Side,
    e: &EndpointIn,
    login: &str,
    url: &str,
) -> SideTestOut {
    let oauth = e.oauth.as_ref().map(|o| o.token_file());
    let attempt = log_in_dav(
        svc,
        side,
        (url, login),
        (&e.password, e.admin.clone()),
        oauth.as_ref(),
    );
    test_out(tokio::time::timeout(TEST_WITHIN, attempt).await)
}

async fn test_mail(svc: &Service, side: Side, e: &EndpointIn, ep: Endpoint) -> SideTestOut {
    let oauth = e.oauth.as_ref().map(|o| o.token_file());
    let url = ep.to_url();
    let attempt = log_in_mail(
        svc,
        side,
        &url,
        (&e.password, e.admin.clone()),
        oauth.as_ref(),
    );
    test_out(tokio::time::timeout(TEST_WITHIN, attempt).await)
}

/// Log in on each side, as a migration would, and say per side whether it worked and why not.
#[utoipa::path(post, path = "/api/v1/connection-tests", request_body = ConnectionTest,
    responses((status = 200, body = ConnectionTestOut), (status = 422, body = ErrorOut)))]
pub(crate) async fn connection_tests(
    State(svc): State<Arc<Service>>,
    headers: HeaderMap,
    ApiJson(mut req): ApiJson<ConnectionTest>,
) -> Result<Json<ConnectionTestOut>, ApiError> {
    signed_sides(&svc, &headers, &mut req.source, &mut req.destination).await?;
    let src = api::endpoint("source", &req.source)?;
    let dst = api::endpoint("destination", &req.destination)?;
    let (source, destination) = tokio::join!(
        test_side(&svc, Side::Source, &req.source, src),
        test_side(&svc, Side::Destination, &req.destination, dst)
    );
    Ok(Json(ConnectionTestOut {
        source,
        destination,
    }))
}

/// The migration `id` when `account` is its owner (source login; for a file import, its
/// destination login); else `NotFound`, the same for an unknown ID.
pub(crate) async fn owned(
    svc: &Service,
    id: &str,
    account: &str,
) -> Result<(MigrationId, MigrationView), ApiError> {
    let account = account.trim();
    let id: MigrationId = id.parse().map_err(|_| ApiError::NotFound)?;
    let view = match svc.viewer().await.view(id).await {
        Ok(v) => v,
        Err(EngineError::Store(passeur_store::StoreError::NotFound(_))) => {
            return Err(ApiError::NotFound);
        }
        Err(e) => return Err(e.into()),
    };
    let login_of = |url: &str| Endpoint::of_recorded(url).map(|e| e.login);
    let owner = match &view.spec {
        // A file import: the destination login (of its IMAP URL, else of its DAV account).
        MigrationSpec::Import(i) => i
            .import
            .imap
            .as_deref()
            .and_then(login_of)
            .or_else(|| i.import.dav_user.clone()),
        MigrationSpec::Accounts(_) => login_of(&view.row.source),
    }
    .unwrap_or_default();
    if account.is_empty() || !owner.eq_ignore_ascii_case(account) {
        return Err(ApiError::NotFound);
    }
    Ok((id, view))
}

pub(crate) fn account_header(headers: &HeaderMap) -> &str {
    headers
        .get("x-passeur-account")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

/// The pass job that decides the status: the one waiting or running, else the latest.
fn current_pass_job(jobs: &[Job]) -> Option<&Job> {
    let passes = || jobs.iter().filter(|j| j.kind == PASS);
    passes()
        .rfind(|j| !j.state.is_final())
        .or_else(|| passes().next_back())
}

fn progress_of(v: &MigrationView, job: Option<&Job>) -> Vec<ProgressOut> {
    let p: PassProgress = job
        .and_then(|j| j.progress.as_deref())
        .and_then(|s| serde_json::from_str(s).ok())
        .unwrap_or_default();
    let last = v.passes.last();
    v.spec
        .content()
        .into_iter()
        .map(|kind| {
            if kind == ContentKind::Mail {
                let secs = p.elapsed_ms as f64 / 1000.0;
                let rate = if secs > 0.0 {
                    p.copied as f64 / secs
                } else {
                    0.0
                };
                let done = p.known + p.copied;
                let total = (p.total > 0).then_some(p.total);
                let percent = total.map(|t| (done as f64 * 100.0 / t as f64).min(100.0));
                let eta_seconds = total.and_then(|t| {
                    let left = t.saturating_sub(done + p.failed);
                    (rate > 0.0).then(|| (left as f64 / rate).ceil() as u64)
                });
                ProgressOut {
                    kind: kind.as_str().into(),
                    total,
                    done,
                    copied: p.copied,
                    failed: p.failed,
                    bytes: p.bytes,
                    percent,
                    rate: (rate * 10.0).round() / 10.0,
                    eta_seconds,
                }
            } else {
                let (copied, failed) = last
                    .map(|p| (p.counters.copied, p.counters.failed))
                    .unwrap_or((0, 0));
                ProgressOut {
                    kind: kind.as_str().into(),
                    total: None,
                    done: copied,
                    copied,
                    failed,
                    bytes: 0,
                    percent: None,
                    rate: 0.0,
                    eta_seconds: None,
                }
            }
        })
        .collect()
}

pub(crate) async fn migration_out(
    svc: &Service,
    id: MigrationId,
    v: &MigrationView,
) -> Result<MigrationOut, ApiError> {
    let jobs = svc.viewer().await.store().jobs_of(id).await?;
    let job = current_pass_job(&jobs);
    let mut status = v.row.status.as_str().to_string();
    let mut scheduled_at = None;
    let mut sign_in = Vec::new();
    if let Some(j) = job.filter(|j| !j.state.is_final()) {
        status = match j.state {
            JobState::Running => "running".into(),
            JobState::Scheduled => "scheduled".into(),
            JobState::Paused => "paused".into(),
            _ => "queued".into(),
        };
        if j.state == JobState::Scheduled {
            scheduled_at = Some(j.run_at_ms / 1000);
        }
    } else if v.row.status == Status::Running {
        // No live job runs it: a CLI run, or a worker that died and whose job will resume.
        status = "running".into();
    } else {
        let meta = svc.store().service_meta(id).await?;
        if meta.awaits_sign_in() {
            status = "sign_in".into();
            for (waits, side, url) in [
                (meta.source_sign_in, "source", &v.row.source),
                (meta.destination_sign_in, "destination", &v.row.destination),
            ] {
                if waits {
                    let provider = Endpoint::of_recorded(url)
                        .and_then(|e| crate::oauth_pages::provider_for_host(svc, &e.host))
                        .map(|p| p.name.clone());
                    sign_in.push(crate::api::SignInOut {
                        side: side.into(),
                        provider,
                    });
                }
            }
        }
    }
    // A file import's items name the file as it lies on the server (an upload's ID): show
    // the name it was uploaded with.
    let file_name = match &v.spec {
        MigrationSpec::Import(i) if !(v.notes.is_empty() && v.failures.is_empty()) => {
            let on_disk = std::path::Path::new(&i.import.file)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned());
            let sent = svc
                .store()
                .uploads_of(id)
                .await?
                .into_iter()
                .find_map(|u| crate::uploads::metadata_value(&u.metadata, "filename"));
            on_disk.zip(sent)
        }
        _ => None,
    };
    // Nor does an error say where the file lies on the server.
    let names = match &v.spec {
        MigrationSpec::Import(_) => crate::uploads::UploadNames::of(svc, id).await,
        _ => crate::uploads::UploadNames::default(),
    };
    let hide = |t: &Option<String>| t.as_deref().map(|t| names.hide(t));
    let folder = |f: &str| match &file_name {
        Some((on_disk, sent)) if f == on_disk => sent.clone(),
        _ => f.to_string(),
    };
    Ok(MigrationOut {
        id: id.to_string(),
        status,
        error: hide(&v.row.error),
        error_code: v.row.error_code.clone(),
        source: match &v.spec {
            MigrationSpec::Import(_) => format!("file:{}", names.sent_name()),
            _ => v.row.source.clone(),
        },
        destination: v.row.destination.clone(),
        content: v
            .spec
            .content()
            .iter()
            .map(|k| k.as_str().to_string())
            .collect(),
        items: v.items,
        bytes: v.bytes,
        scheduled_at,
        purge: purge_state(&jobs),
        source_provider: None,
        destination_provider: None,
        sign_in,
        connections: connections_out(&svc.settings.presets, &v.row, &v.spec),
        progress: progress_of(v, job),
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
                error: hide(&p.error),
            })
            .collect(),
        failures: v
            .failures
            .iter()
            .map(|f| FailureOut {
                pass: f.pass,
                kind: f.kind.as_str().to_string(),
                folder: folder(&f.folder),
                item: f.src_key.clone(),
                reason: names.hide(&f.reason),
            })
            .collect(),
        notes: v
            .notes
            .iter()
            .map(|n| {
                let (code, params) = crate::notes::classify(&n.note);
                NoteOut {
                    pass: n.pass,
                    kind: n.kind.as_str().to_string(),
                    folder: folder(&n.folder),
                    item: n.src_key.clone(),
                    repaired: n.repaired,
                    note: n.note.clone(),
                    code,
                    params,
                }
            })
            .collect(),
    })
}

/// A migration's status, sync points, progress and failures.
#[utoipa::path(get, path = "/api/v1/migrations/{id}",
    params(("id" = String, Path), ("X-Passeur-Account" = String, Header, description = "the source login (a file import: the destination login)")),
    responses((status = 200, body = MigrationOut), (status = 404, body = ErrorOut), (status = 429, body = ErrorOut)))]
pub(crate) async fn get_migration(
    State(svc): State<Arc<Service>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    addr: ClientAddr,
) -> Result<Json<MigrationOut>, ApiError> {
    rate_limit(&svc, &addr).await?;
    let (id, v) = owned(&svc, &id, account_header(&headers)).await?;
    let mut out = migration_out(&svc, id, &v).await?;
    (out.source_provider, out.destination_provider) = svc.providers(id).await;
    Ok(Json(out))
}

#[derive(serde::Deserialize)]
pub(crate) struct EventsQuery {
    #[serde(default)]
    account: Option<String>,
}

/// Live progress as Server-Sent Events: a `migration` event with the same JSON as `GET
/// /api/v1/migrations/{id}` whenever it changes (checked every second). Browsers' EventSource
/// cannot send headers: the account may be given as `?account=` instead.
#[utoipa::path(get, path = "/api/v1/migrations/{id}/events",
    params(("id" = String, Path), ("account" = Option<String>, Query), ("X-Passeur-Account" = Option<String>, Header)),
    responses((status = 200, content_type = "text/event-stream", description = "`migration` events"), (status = 404, body = ErrorOut)))]
pub(crate) async fn migration_events(
    State(svc): State<Arc<Service>>,
    Path(id): Path<String>,
    Query(q): Query<EventsQuery>,
    headers: HeaderMap,
    addr: ClientAddr,
) -> Result<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>, ApiError> {
    rate_limit(&svc, &addr).await?;
    let account = q
        .account
        .clone()
        .unwrap_or_else(|| account_header(&headers).to_string());
    let (id, _) = owned(&svc, &id, &account).await?;
    let state = (svc, id, String::new(), true);
    let stream = futures::stream::unfold(state, |(svc, id, last, first)| async move {
        loop {
            if !first {
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            let out = match svc.viewer().await.view(id).await {
                Ok(v) => match migration_out(&svc, id, &v).await {
                    Ok(mut out) => {
                        (out.source_provider, out.destination_provider) = svc.providers(id).await;
                        Some(out)
                    }
                    Err(_) => None,
                },
                // Deleted meanwhile: end the stream.
                Err(EngineError::Store(passeur_store::StoreError::NotFound(_))) => return None,
                Err(_) => None,
            };
            let Some(out) = out else {
                if first {
                    return None;
                }
                continue;
            };
            let json = serde_json::to_string(&out).unwrap_or_default();
            if json != last {
                let ev = SseEvent::default().event("migration").data(json.clone());
                return Some((Ok(ev), (svc, id, json, false)));
            }
            if first {
                return Some((Ok(SseEvent::default().comment("")), (svc, id, json, false)));
            }
        }
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

/// Stop the running pass at its next safe point (or the waiting one); what is copied stays.
#[utoipa::path(post, path = "/api/v1/migrations/{id}/stop",
    params(("id" = String, Path), ("X-Passeur-Account" = String, Header)),
    responses((status = 202), (status = 404, body = ErrorOut)))]
pub(crate) async fn stop_migration(
    State(svc): State<Arc<Service>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    let (id, _) = owned(&svc, &id, account_header(&headers)).await?;
    svc.stop_migration(id).await?;
    Ok(StatusCode::ACCEPTED)
}

/// Start a new pass: copy only what is new since the last one.
#[utoipa::path(post, path = "/api/v1/migrations/{id}/sync",
    params(("id" = String, Path), ("X-Passeur-Account" = String, Header)),
    responses((status = 202), (status = 404, body = ErrorOut), (status = 409, body = ErrorOut)))]
pub(crate) async fn sync_migration(
    State(svc): State<Arc<Service>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    let (id, v) = owned(&svc, &id, account_header(&headers)).await?;
    if v.spec.is_import() {
        return Err(ApiError::Conflict(
            "a file migration cannot be synchronised: upload the new file and import it".into(),
        ));
    }
    svc.start_sync(id).await?;
    Ok(StatusCode::ACCEPTED)
}

/// Give a side its OAuth 2.0 token: a side that waits for its owner's sign-in (status
/// `sign_in`), or one that logs in with OAuth 2.0 and needs a new token (a revoked grant). Each
/// side's token is handed in, or taken from this browser's "Sign in with …" on the tracking
/// page. Once no side waits any longer, a pass is queued (`202`).
#[utoipa::path(post, path = "/api/v1/migrations/{id}/sign-in", request_body = api::SignInRequest,
    params(("id" = String, Path), ("X-Passeur-Account" = String, Header)),
    responses((status = 202), (status = 404, body = ErrorOut), (status = 409, body = ErrorOut),
        (status = 422, body = ErrorOut)))]
pub(crate) async fn sign_in_migration(
    State(svc): State<Arc<Service>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    ApiJson(mut req): ApiJson<api::SignInRequest>,
) -> Result<StatusCode, ApiError> {
    let raw_id = id;
    let (id, _) = owned(&svc, &raw_id, account_header(&headers)).await?;
    if svc.store().has_active_job(id, &[PASS, PURGE]).await? {
        return Err(ApiError::Conflict(
            "a pass or a deletion of this migration is waiting or running: stop it first".into(),
        ));
    }
    let page = format!("track/{}", crate::oauth_pages::page_id(&raw_id));
    let mut meta = svc.store().service_meta(id).await?;
    let awaited = meta.awaits_sign_in();
    let with_oauth = svc.logs_in_with_oauth(id).await;
    let mut tokens: [Option<passeur_oauth::TokenFile>; 2] = [None, None];
    let mut signed = Vec::new();
    let sides = [
        (
            req.source_oauth.take(),
            req.source_signed_in,
            "source",
            "src",
            meta.source_sign_in || with_oauth.0,
        ),
        (
            req.destination_oauth.take(),
            req.destination_signed_in,
            "destination",
            "dst",
            meta.destination_sign_in || with_oauth.1,
        ),
    ];
    for (i, (given, signed_in, field, key, may)) in sides.into_iter().enumerate() {
        if given.is_none() && !signed_in {
            continue;
        }
        if !may {
            return Err(ApiError::Conflict(format!(
                "the {field} logs in with a password, not with a sign-in"
            )));
        }
        let mut e = EndpointIn {
            url: String::new(),
            password: String::new(),
            oauth: given,
            signed_in,
            sign_in_later: false,
            admin: None,
            dav: None,
        };
        crate::oauth_pages::use_signed_in(&svc, &headers, &page, key, field, &mut e).await?;
        let Some(o) = &e.oauth else { continue };
        api::check_token(&format!("{field}_oauth.access_token"), o)?;
        let t = o.token_file();
        check_provider(&svc, &format!("{field}_oauth.provider"), Some(&t))?;
        tokens[i] = Some(t);
        if signed_in {
            signed.push(key);
        }
    }
    if tokens.iter().all(Option::is_none) {
        return Err(ApiError::Field {
            field: "source_oauth".into(),
            message: "give a token (or sign in) for at least one side".into(),
        });
    }
    svc.keep_oauth(id, tokens[0].as_ref(), tokens[1].as_ref())
        .await?;
    meta.source_sign_in &= tokens[0].is_none();
    meta.destination_sign_in &= tokens[1].is_none();
    svc.store().put_service_meta(id, &meta).await?;
    crate::oauth_pages::forget(&svc, &headers, &page, &signed).await;
    // The first pass, once every side that waited has its token; a new token of a migration
    // that ran serves its next pass.
    if awaited && !meta.awaits_sign_in() {
        svc.start_sync(id).await?;
    }
    Ok(StatusCode::ACCEPTED)
}

/// Delete from the destination what this migration copied from pass `from_pass` on. The
/// destination password is checked first (a login, nothing changed); the deletion then runs as
/// a job (`202`) whose state and result `GET /api/v1/migrations/{id}` shows under `purge`. With
/// `dry_run`, only count what would be deleted (`200`, the password checked all the same).
#[utoipa::path(post, path = "/api/v1/migrations/{id}/purge", request_body = PurgeRequest,
    params(("id" = String, Path), ("X-Passeur-Account" = String, Header)),
    responses((status = 200, body = PurgeOut, description = "dry run: what would be deleted"),
        (status = 202, body = PurgeStateOut, description = "the deletion is queued"),
        (status = 404, body = ErrorOut), (status = 409, body = ErrorOut)))]
pub(crate) async fn purge_migration(
    State(svc): State<Arc<Service>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    ApiJson(mut req): ApiJson<PurgeRequest>,
) -> Result<Response, ApiError> {
    let raw_id = id;
    let (id, _) = owned(&svc, &raw_id, account_header(&headers)).await?;
    // A fresh token, for a destination that logs in with OAuth 2.0: handed in, or from this
    // browser's "Sign in with …" on the tracking page.
    if req.destination_signed_in {
        let mut side = EndpointIn {
            url: String::new(),
            password: String::new(),
            oauth: None,
            signed_in: true,
            sign_in_later: false,
            admin: None,
            dav: None,
        };
        let page = format!("track/{}", crate::oauth_pages::page_id(&raw_id));
        crate::oauth_pages::use_signed_in(&svc, &headers, &page, "purge", "destination", &mut side)
            .await
            .map_err(|_| ApiError::Field {
                field: "destination_signed_in".into(),
                message: "this browser has not signed in to confirm, or the sign-in expired: sign in again".into(),
            })?;
        req.destination_oauth = side.oauth.take();
    }
    let token = match &req.destination_oauth {
        Some(o) => {
            api::check_token("destination_oauth.access_token", o)?;
            Some(o.token_file())
        }
        None => None,
    };
    if token.is_none() && req.destination_password.is_empty() {
        return Err(ApiError::Field {
            field: "destination_password".into(),
            message: "is required".into(),
        });
    }
    if svc.store().has_active_job(id, &[PASS]).await? {
        return Err(ApiError::Conflict(
            "a pass of this migration is waiting or running: stop it first".into(),
        ));
    }
    if svc.store().has_active_job(id, &[PURGE]).await? {
        return Err(ApiError::Conflict(
            "a deletion of this migration's items is waiting or running".into(),
        ));
    }
    let pw = Secret::new(req.destination_password.clone());
    let mut opts = svc.run_options();
    // The fresh token logs in as the migration's destination login: a token of another
    // account is refused by the server.
    opts.destination_oauth = token.as_ref().map(|t| svc.token_source(t.clone()));
    if !req.dry_run {
        svc.runner.check_destination(id, pw, &opts).await?;
        svc.queue_purge(
            id,
            req.from_pass.max(1),
            &req.destination_password,
            token.as_ref(),
        )
        .await?;
        if req.destination_signed_in {
            let page = format!("track/{}", crate::oauth_pages::page_id(&raw_id));
            crate::oauth_pages::forget(&svc, &headers, &page, &["purge"]).await;
        }
        let queued = PurgeStateOut {
            state: "queued".into(),
            from_pass: req.from_pass.max(1),
            deleted: 0,
            skipped: 0,
            notes: Vec::new(),
            error: None,
        };
        return Ok((StatusCode::ACCEPTED, Json(queued)).into_response());
    }
    let r = svc
        .runner
        .purge(
            id,
            req.from_pass,
            true,
            pw,
            &opts,
            passeur_engine::Control::default(),
        )
        .await?;
    Ok(Json(PurgeOut {
        deleted: r.deleted(),
        skipped: r.skipped(),
        notes: r.notes(),
    })
    .into_response())
}

/// The latest purge job of a migration, as its owner sees it.
fn purge_state(jobs: &[Job]) -> Option<PurgeStateOut> {
    let j = jobs.iter().rfind(|j| j.kind == PURGE)?;
    let from_pass = serde_json::from_str::<crate::service::PurgePayload>(&j.payload)
        .map(|p| p.from_pass)
        .unwrap_or(1);
    let result: PurgeResult = j
        .progress
        .as_deref()
        .and_then(|s| serde_json::from_str(s).ok())
        .unwrap_or_default();
    let state = match j.state {
        JobState::Completed => "done",
        JobState::Failed | JobState::Stopped => "failed",
        JobState::Running => "running",
        _ => "queued",
    };
    Some(PurgeStateOut {
        state: state.into(),
        from_pass,
        deleted: result.deleted,
        skipped: result.skipped,
        notes: result.notes,
        error: matches!(j.state, JobState::Failed | JobState::Stopped)
            .then(|| j.last_error.clone())
            .flatten(),
    })
}

/// One CSV field, quoted when it needs to be; a leading `=`, `+`, `-` or `@` is prefixed with
/// `'` so that a spreadsheet does not run it as a formula.
fn csv_field(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@']) {
        format!("'{s}")
    } else {
        s.to_string()
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

/// Every item not migrated, with its reason, as CSV.
#[utoipa::path(get, path = "/api/v1/migrations/{id}/report.csv",
    params(("id" = String, Path), ("X-Passeur-Account" = String, Header)),
    responses((status = 200, content_type = "text/csv"), (status = 404, body = ErrorOut)))]
pub(crate) async fn report_csv(
    State(svc): State<Arc<Service>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    addr: ClientAddr,
) -> Result<Response, ApiError> {
    rate_limit(&svc, &addr).await?;
    let (id, _) = owned(&svc, &id, account_header(&headers)).await?;
    let failures = svc.store().failures(id, None).await?;
    let mut out = String::from("pass,kind,folder,item,size,reason\r\n");
    for f in &failures {
        let row = [
            f.pass.to_string(),
            f.kind.as_str().to_string(),
            f.folder.clone(),
            f.src_key.clone(),
            f.size.map(|s| s.to_string()).unwrap_or_default(),
            f.reason.clone(),
        ];
        let line: Vec<String> = row.iter().map(|c| csv_field(c)).collect();
        out.push_str(&line.join(","));
        out.push_str("\r\n");
    }
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"passeur-{id}-report.csv\""),
            ),
        ],
        out,
    )
        .into_response())
}

/// Forget the migration: stop it, then delete its credentials, item map, passes, failures,
/// jobs and, for a file migration, the uploaded file. What it copied stays on the destination.
#[utoipa::path(delete, path = "/api/v1/migrations/{id}",
    params(("id" = String, Path), ("X-Passeur-Account" = String, Header)),
    responses((status = 204), (status = 404, body = ErrorOut)))]
pub(crate) async fn delete_migration(
    State(svc): State<Arc<Service>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    let (id, _) = owned(&svc, &id, account_header(&headers)).await?;
    svc.stop(id).await?;
    svc.forget_migration(id).await?;
    tracing::info!(migration = %id, "migration deleted on request");
    Ok(StatusCode::NO_CONTENT)
}

/// Prometheus metrics: jobs by state, and what the passes copied.
pub(crate) async fn metrics(State(svc): State<Arc<Service>>) -> Result<Response, ApiError> {
    let mut out = String::new();
    out.push_str("# HELP passeur_jobs Jobs in the queue, by state.\n# TYPE passeur_jobs gauge\n");
    for (state, n) in svc.store().job_counts().await? {
        out.push_str(&format!("passeur_jobs{{state=\"{state}\"}} {n}\n"));
    }
    let t = svc.store().pass_totals().await?;
    for (name, help, v) in [
        (
            "passeur_items_copied_total",
            "Items copied by every pass.",
            t.copied,
        ),
        (
            "passeur_bytes_copied_total",
            "Bytes copied by every pass.",
            t.bytes,
        ),
        (
            "passeur_items_failed_total",
            "Items that could not be copied.",
            t.failed,
        ),
    ] {
        out.push_str(&format!(
            "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}\n"
        ));
    }
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_and_defused() {
        assert_eq!(csv_field("INBOX"), "INBOX");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("=HYPERLINK(1)"), "'=HYPERLINK(1)");
    }
}
