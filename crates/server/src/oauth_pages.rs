//! "Sign in with …" in the pages: the OAuth 2.0 authorization code grant with PKCE (RFC 6749
//! section 4.1, RFC 7636), for the providers the operator registered.
//!
//! 1. `POST /oauth/start?page=…` (a button of the form, whose other fields come along):
//!    a random `state` and PKCE verifier are kept server-side (sealed, in the store, for
//!    [`STATE_TTL`]), bound to this browser by an `HttpOnly; SameSite=Lax` cookie; the form's
//!    values (never its passwords) are kept with them. The answer sends the browser on to the
//!    provider's authorization endpoint with `redirect_uri = PUBLIC_URL/oauth/callback`.
//! 2. `GET /oauth/callback?code=…&state=…`: the state is taken (once: a replayed state finds
//!    nothing), checked against this browser's cookie and its age, and the code exchanged with
//!    the verifier. The token is sealed and kept for this browser and side ([`SIGNIN_TTL`]);
//!    the browser goes back to its page, with no code, state or token in the URL. Errors go
//!    back as a code (`?oauth_error=denied`) that the page says in its language.
//! 3. The page shows the side as signed in (never the token), and the migration created from
//!    it (`"signed_in": true` on that side) takes the sealed token.
//!
//! The cookie is `SameSite=Lax` so that it comes back with the provider's redirect (a
//! top-level `GET`); a cross-site `POST` (another site's form) does not carry it, and the JSON
//! API needs `Content-Type: application/json`, which another site's form cannot send.

use passeur_net::discover::Presets;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use askama::Template;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use passeur_oauth::{Pkce, Provider, TokenFile};
use passeur_types::Secret;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::api::{EndpointIn, OAuthIn};
use crate::routes::ClientAddr;
use crate::web::i18n::{Lang, Tr};
use crate::{ApiError, Service};

/// The browser's sign-in cookie.
pub(crate) const COOKIE: &str = "passeur_signin";
/// How long an authorization request may take, from the button to the callback.
pub const STATE_TTL: Duration = Duration::from_secs(600);
/// How long a signed-in side waits for its migration.
pub const SIGNIN_TTL: Duration = Duration::from_secs(3600);
/// Sign-ins one client address may start in [`START_WINDOW`]: each keeps a row in the store
/// and sends the browser to the provider, so a script must not loop on it.
pub const STARTS_PER_WINDOW: u32 = 20;
/// The window [`STARTS_PER_WINDOW`] counts in.
pub const START_WINDOW: Duration = Duration::from_secs(600);
/// Form values kept across the trip to the provider: at most this many, this long each.
const MAX_KEPT: usize = 64;
const MAX_VALUE: usize = 2048;

/// The routes.
pub(crate) fn routes() -> Router<Arc<Service>> {
    Router::new()
        .route("/oauth/start", post(start))
        .route("/oauth/callback", get(callback))
        .route("/oauth/signout", post(signout))
}

/// A page that offers "Sign in with …", and the sides it signs in.
fn page_ok(page: &str) -> bool {
    let id_ok = |id: &str| {
        !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric())
    };
    matches!(page, "migrate" | "file")
        || page.strip_prefix("track/").is_some_and(id_ok)
        || page.strip_prefix("project/").is_some_and(id_ok)
}

fn side_ok(page: &str, side: &str) -> bool {
    match page {
        "migrate" => matches!(side, "src" | "dst"),
        "file" => side == "dst",
        p if p.starts_with("project/") => matches!(side, "src" | "dst"),
        // A tracking page: confirming a purge, or the sign-in a migration waits for.
        _ => matches!(side, "purge" | "src" | "dst"),
    }
}

/// The key of a page's signed-in side.
fn signin_key(cookie: &str, page: &str, side: &str) -> String {
    format!("signin:{cookie}:{page}:{side}")
}

/// The page named by `?page=`, its migration ID (a tracking page's) as [`page_id`] keeps it.
fn page_param(q: Option<String>) -> String {
    let page = q.unwrap_or_else(|| "migrate".into());
    if let Some(id) = page.strip_prefix("track/") {
        return format!("track/{}", page_id(id));
    }
    match page.strip_prefix("project/") {
        Some(id) => format!("project/{}", page_id(id).to_ascii_lowercase()),
        None => page,
    }
}

fn form_key(cookie: &str, page: &str) -> String {
    format!("form:{cookie}:{page}")
}

fn state_key(state: &str) -> String {
    format!("state:{state}")
}

/// The sign-in cookie of a request.
pub(crate) fn cookie_of(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|c| {
            c.trim()
                .strip_prefix(&format!("{COOKIE}="))
                .map(str::to_owned)
        })
        .filter(|c| {
            c.len() >= 32
                && c.len() <= 64
                && c.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

fn set_cookie(svc: &Service, value: &str) -> Option<HeaderValue> {
    let secure = if svc.settings.public_url.starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    HeaderValue::from_str(&format!(
        "{COOKIE}={value}; Path=/; Max-Age={}; HttpOnly; SameSite=Lax{secure}",
        SIGNIN_TTL.as_secs()
    ))
    .ok()
}

fn now_ms() -> i64 {
    (passeur_oauth::now() as i64).saturating_mul(1000)
}

/// The redirect URI registered at the providers.
pub fn redirect_uri(svc: &Service) -> String {
    format!(
        "{}/oauth/callback",
        svc.settings.public_url.trim_end_matches('/')
    )
}

/// A provider the pages may offer: registered, with an authorization endpoint.
fn provider<'a>(svc: &'a Service, name: &str) -> Option<&'a Provider> {
    svc.settings
        .oauth_providers
        .iter()
        .find(|p| p.name == name && p.authorization_endpoint.is_some())
}

/// The provider whose preset serves `host` (an account URL's IMAP or POP3 host), when the
/// service signs in with it: the one a migration that waits for a sign-in offers.
pub(crate) fn provider_for_host<'a>(svc: &'a Service, host: &str) -> Option<&'a Provider> {
    let preset = svc.settings.presets.for_host(host)?;
    provider(svc, &preset.id)
}

/// What users see a provider as: its preset's name, else its own.
pub(crate) fn label(presets: &Presets, p: &Provider) -> String {
    presets
        .by_id(&p.name)
        .map(|x| x.name.clone())
        .unwrap_or_else(|| p.name.clone())
}

/// The IMAP host of the preset `name`, or empty.
fn preset_host(presets: &Presets, name: &str) -> String {
    presets
        .by_id(name)
        .and_then(|x| x.imap.as_ref())
        .map(|s| s.host.clone())
        .unwrap_or_default()
}

fn is_preset(presets: &Presets, name: &str) -> bool {
    presets.by_id(name).is_some()
}

/// Whether a form POST comes from this service's own pages, so that another site's form
/// cannot start a sign-in in the user's browser with values of its choosing: its
/// `Sec-Fetch-Site` is not `cross-site`; without it, its `Origin` is the public URL's or the
/// request's own host (`null`, which the pages' `no-referrer` policy makes browsers send, and
/// no `Origin` at all, as from a script, pass).
fn same_origin(svc: &Service, headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site") {
        return site.as_bytes() != b"cross-site";
    }
    let Some(origin) = headers
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .filter(|o| *o != "null")
    else {
        return true;
    };
    // scheme://host[:port] of the public URL.
    let p = svc.settings.public_url.trim();
    let public = p.find("://").map(|i| {
        let rest = &p[i + 3..];
        &p[..i + 3 + rest.find('/').unwrap_or(rest.len())]
    });
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(|h| (format!("http://{h}"), format!("https://{h}")));
    public == Some(origin) || host.is_some_and(|(a, b)| origin == a || origin == b)
}

/// A request under way, sealed into the store until its callback.
#[derive(Serialize, Deserialize)]
struct Pending {
    page: String,
    side: String,
    provider: String,
    verifier: String,
    lang: String,
    form: Vec<(String, String)>,
}

impl Drop for Pending {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.verifier);
    }
}

/// A signed-in side, sealed into the store until a migration takes it.
#[derive(Serialize, Deserialize)]
struct SignedIn {
    provider: String,
    /// The token file's JSON.
    token: String,
}

impl Drop for SignedIn {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.token);
    }
}

const STATE_CTX: &str = "oauth-state";
const SIGNIN_CTX: &str = "oauth-signin";
const FORM_CTX: &str = "oauth-form";

#[derive(Deserialize)]
struct PageParam {
    page: Option<String>,
    lang: Option<String>,
}

fn back_to(page: &str, lang: &str, error: Option<&str>) -> Response {
    let mut to = format!("/{page}?lang={lang}");
    if let Some(e) = error {
        to.push_str("&oauth_error=");
        to.push_str(e);
    }
    // A project's dashboard needs its session cookie, which is `SameSite=Strict`: a redirect
    // that ends a trip from the provider's site would go without it (and land on the login
    // page). A page of this site that moves on by itself starts a same-site navigation.
    if page.starts_with("project/") {
        to.push_str("#tab-add");
        let t = Tr(Lang::from_code(lang).unwrap_or(Lang::En));
        let mut r = crate::web::render_page(
            RedirectPage {
                t,
                page: "oauth",
                version: crate::web::VERSION,
                heading: t.t("oauth.back.title"),
                continue_text: t.t("oauth.back").to_owned(),
                url: to,
            },
            None,
        );
        r.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        return r;
    }
    (
        StatusCode::SEE_OTHER,
        [
            (header::LOCATION, to),
            (header::CACHE_CONTROL, "no-store".to_string()),
            (header::REFERRER_POLICY, "no-referrer".to_string()),
        ],
    )
        .into_response()
}

fn lang_of(q: Option<&str>, headers: &HeaderMap) -> Lang {
    q.and_then(Lang::from_code)
        .unwrap_or_else(|| crate::web::negotiate_lang(headers))
}

#[derive(Template)]
#[template(path = "oauth_limited.html")]
struct LimitedPage {
    t: Tr,
    page: &'static str,
    version: &'static str,
    back: String,
}

/// Counts a sign-in start of `addr` in the store's `throttle` table (shared by every process
/// of the service); `false` when it is one too many. A store that does not answer lets it
/// through: the start then fails on its own write.
async fn start_allowed(svc: &Service, addr: &ClientAddr) -> bool {
    let Some(ip) = addr.0 else { return true };
    let key = format!("oauth-start:{ip}");
    match svc
        .store()
        .throttle_add(&key, START_WINDOW.as_millis() as i64, 1)
        .await
    {
        Ok(n) => n <= STARTS_PER_WINDOW,
        Err(e) => {
            tracing::warn!(error = %e, "cannot count a sign-in start");
            true
        }
    }
}

/// The 429 page of a client that started too many sign-ins: said in its language, with the
/// way back to its form.
fn limited(page: &str, lang: Lang) -> Response {
    let mut r = crate::web::render_page(
        LimitedPage {
            t: Tr(lang),
            page: "oauth",
            version: crate::web::VERSION,
            back: format!("/{page}?lang={}", lang.code()),
        },
        None,
    );
    *r.status_mut() = StatusCode::TOO_MANY_REQUESTS;
    r.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("600"));
    r
}

#[derive(Template)]
#[template(path = "oauth_redirect.html")]
struct RedirectPage {
    t: Tr,
    page: &'static str,
    version: &'static str,
    heading: &'static str,
    url: String,
    continue_text: String,
}

/// `POST /oauth/start?page=…`: the form, with `oauth=SIDE:PROVIDER` (the button pressed).
async fn start(
    State(svc): State<Arc<Service>>,
    Query(q): Query<PageParam>,
    addr: ClientAddr,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let page = page_param(q.page);
    let lang = lang_of(q.lang.as_deref(), &headers);
    if !page_ok(&page) {
        return (StatusCode::BAD_REQUEST, "unknown page").into_response();
    }
    if !same_origin(&svc, &headers) {
        return (
            StatusCode::FORBIDDEN,
            "a sign-in starts from this service's pages",
        )
            .into_response();
    }
    if !start_allowed(&svc, &addr).await {
        return limited(&page, lang);
    }
    let mut form = Vec::new();
    let mut wanted = None;
    for (k, v) in form_urlencoded::parse(&body) {
        if k == "oauth" {
            wanted = v.split_once(':').map(|(s, p)| (s.to_owned(), p.to_owned()));
        } else if !k.contains("password") && !k.starts_with("oauth") && form.len() < MAX_KEPT {
            let v: String = v.chars().take(MAX_VALUE).collect();
            form.push((k.replace('_', "-"), v));
        } else if k.contains("password") {
            // Never kept: wiped as soon as it is read.
            drop(Zeroizing::new(v.into_owned()));
        }
    }
    let Some((side, name)) = wanted.filter(|(s, _)| side_ok(&page, s)) else {
        return back_to(&page, lang.code(), Some("state"));
    };
    let Some(p) = provider(&svc, &name) else {
        return back_to(&page, lang.code(), Some("provider"));
    };
    let cookie = cookie_of(&headers).unwrap_or_else(passeur_oauth::new_state);
    let state = passeur_oauth::new_state();
    let pkce = Pkce::new();
    let url = match p.authorization_url(&redirect_uri(&svc), &state, &pkce) {
        Ok(u) => u.to_string(),
        Err(_) => return back_to(&page, lang.code(), Some("provider")),
    };
    let pending = Pending {
        page: page.clone(),
        side,
        provider: name,
        verifier: pkce.verifier.expose().to_owned(),
        lang: lang.code().into(),
        form,
    };
    let json = Zeroizing::new(serde_json::to_string(&pending).unwrap_or_default());
    let sealed = svc.vault.seal(STATE_CTX, &json);
    let expires = now_ms() + STATE_TTL.as_millis() as i64;
    if let Err(e) = svc
        .store()
        .put_oauth_signin(&state_key(&state), &cookie, &sealed, expires)
        .await
    {
        tracing::error!(error = %e, "cannot keep a sign-in request");
        return (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response();
    }
    let t = Tr(lang);
    // A page that moves on by itself (a 303 after a form POST would meet the pages'
    // `form-action 'self'`), with a link for browsers that do not.
    let mut r = crate::web::render_page(
        RedirectPage {
            t,
            page: "oauth",
            version: crate::web::VERSION,
            heading: t.t("oauth.title"),
            continue_text: t
                .t("oauth.continue")
                .replace("{provider}", &label(&svc.settings.presets, p)),
            url,
        },
        None,
    );
    if let Some(c) = set_cookie(&svc, &cookie) {
        r.headers_mut().append(header::SET_COOKIE, c);
    }
    r
}

#[derive(Deserialize)]
struct CallbackQuery {
    state: Option<String>,
    code: Option<String>,
    error: Option<String>,
}

/// `GET /oauth/callback`: the provider sends the browser back here.
async fn callback(
    State(svc): State<Arc<Service>>,
    Query(q): Query<CallbackQuery>,
    headers: HeaderMap,
) -> Response {
    let lang = lang_of(None, &headers);
    let fail = |code: &str| back_to("migrate", lang.code(), Some(code));
    let (Some(state), Some(cookie)) = (q.state.as_deref(), cookie_of(&headers)) else {
        return fail("state");
    };
    let row = match svc
        .store()
        .take_oauth_signin(&state_key(state), &cookie)
        .await
    {
        Ok(Some(r)) => r,
        Ok(None) => return fail("state"),
        Err(e) => {
            tracing::error!(error = %e, "cannot read a sign-in request");
            return fail("token");
        }
    };
    // Another browser's request: not ours to finish (login CSRF).
    if !row.owner_matches {
        return fail("state");
    }
    let pending: Pending = match svc
        .vault
        .open(STATE_CTX, &row.data)
        .ok()
        .and_then(|j| serde_json::from_str(&j).ok())
    {
        Some(p) => p,
        None => return fail("state"),
    };
    let back = |code: Option<&str>| back_to(&pending.page, &pending.lang, code);
    // The form comes back as it was, whatever the outcome.
    let form = Zeroizing::new(serde_json::to_string(&pending.form).unwrap_or_default());
    let _ = svc
        .store()
        .put_oauth_signin(
            &form_key(&cookie, &pending.page),
            &cookie,
            &svc.vault.seal(FORM_CTX, &form),
            now_ms() + SIGNIN_TTL.as_millis() as i64,
        )
        .await;
    if row.expired() {
        return back(Some("expired"));
    }
    match q.error.as_deref() {
        Some("access_denied") => return back(Some("denied")),
        Some(_) => return back(Some("refused")),
        None => {}
    }
    let Some(code) = q.code.as_deref().filter(|c| !c.is_empty()) else {
        return back(Some("refused"));
    };
    let Some(p) = provider(&svc, &pending.provider) else {
        return back(Some("provider"));
    };
    let pkce = Pkce::from_verifier(Secret::new(pending.verifier.as_str()));
    let token = match p.exchange_code(code, &redirect_uri(&svc), &pkce).await {
        Ok(t) => t,
        Err(e) => {
            tracing::warn!(provider = %p.name, error = %e, "a sign-in's code exchange failed");
            return back(Some("token"));
        }
    };
    let file = TokenFile {
        token,
        provider: Some(p.name.clone()),
        token_endpoint: None,
        client_id: None,
    };
    let signed = SignedIn {
        provider: p.name.clone(),
        token: file.to_json().expose().to_owned(),
    };
    let json = Zeroizing::new(serde_json::to_string(&signed).unwrap_or_default());
    if let Err(e) = svc
        .store()
        .put_oauth_signin(
            &signin_key(&cookie, &pending.page, &pending.side),
            &cookie,
            &svc.vault.seal(SIGNIN_CTX, &json),
            now_ms() + SIGNIN_TTL.as_millis() as i64,
        )
        .await
    {
        tracing::error!(error = %e, "cannot keep a signed-in token");
        return back(Some("token"));
    }
    back(None)
}

/// `POST /oauth/signout?page=…` with `oauth_signout=SIDE`: forgets that side's token (and
/// keeps the rest of the form).
async fn signout(
    State(svc): State<Arc<Service>>,
    Query(q): Query<PageParam>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let page = page_param(q.page);
    let lang = lang_of(q.lang.as_deref(), &headers);
    if !page_ok(&page) {
        return (StatusCode::BAD_REQUEST, "unknown page").into_response();
    }
    let mut form: Vec<(String, String)> = Vec::new();
    let mut side = None;
    for (k, v) in form_urlencoded::parse(&body) {
        if k == "oauth_signout" {
            side = Some(v.into_owned());
        } else if !k.contains("password") && !k.starts_with("oauth") && form.len() < MAX_KEPT {
            form.push((k.replace('_', "-"), v.chars().take(MAX_VALUE).collect()));
        }
    }
    if let (Some(cookie), Some(side)) = (cookie_of(&headers), side.filter(|s| side_ok(&page, s))) {
        let _ = svc
            .store()
            .delete_oauth_signin(&signin_key(&cookie, &page, &side), &cookie)
            .await;
        let form = Zeroizing::new(serde_json::to_string(&form).unwrap_or_default());
        let _ = svc
            .store()
            .put_oauth_signin(
                &form_key(&cookie, &page),
                &cookie,
                &svc.vault.seal(FORM_CTX, &form),
                now_ms() + SIGNIN_TTL.as_millis() as i64,
            )
            .await;
    }
    back_to(&page, lang.code(), None)
}

/// A "Sign in with …" button of a page.
#[derive(Debug, Clone)]
pub struct OAuthButton {
    /// The provider's name (`gmail`, or the operator's own).
    pub provider: String,
    /// Whether it is a provider preset (offered when that preset is chosen) or the operator's
    /// own (offered for any server).
    pub preset: bool,
    /// "Sign in with Gmail", in the page's language.
    pub text: String,
    /// The preset's IMAP host (`imap.gmail.com`), or empty.
    pub host: String,
}

/// What a page shows of the sign-ins: the buttons, the signed-in sides (side to "Signed in
/// with …"), the form values kept across the trip, and the error the callback sent back.
#[derive(Debug, Default)]
pub struct PageSignins {
    /// One "Sign in with …" button per configured provider and side.
    pub buttons: Vec<OAuthButton>,
    /// The sides signed in, with what the page says of each ("Signed in with …").
    pub signed: HashMap<String, String>,
    /// The form values kept across the trip to the provider (name, value).
    pub kept: Vec<(String, String)>,
    /// The error the provider's callback sent back, if any.
    pub error: Option<String>,
}

/// What the callback's error `code` says, in `t`'s language.
fn error_text(t: Tr, code: &str) -> &'static str {
    t.t(match code {
        "denied" => "oauth.err.denied",
        "expired" => "oauth.err.expired",
        "token" => "oauth.err.token",
        "refused" => "oauth.err.refused",
        "provider" => "oauth.err.provider",
        _ => "oauth.err.state",
    })
}

/// A page's sign-ins as they look with one provider offered, the source signed in and an
/// error shown (for the tests that look for missing messages).
pub(crate) fn sample(t: Tr) -> PageSignins {
    PageSignins {
        buttons: vec![OAuthButton {
            provider: "gmail".into(),
            preset: true,
            text: t.t("oauth.signin").replace("{provider}", "Gmail"),
            host: preset_host(&Presets::built_in(), "gmail"),
        }],
        signed: HashMap::from([(
            "src".to_owned(),
            t.t("oauth.signed").replace("{provider}", "Gmail"),
        )]),
        kept: Vec::new(),
        error: Some(error_text(t, "denied").to_owned()),
    }
}

/// The page that sends the browser on to the provider, rendered (for the same tests).
pub(crate) fn sample_redirect(t: Tr) -> askama::Result<String> {
    RedirectPage {
        t,
        page: "oauth",
        version: crate::web::VERSION,
        heading: t.t("oauth.title"),
        url: "https://accounts.example/authorize?a=1&b=2".into(),
        continue_text: t.t("oauth.continue").replace("{provider}", "Gmail"),
    }
    .render()
}

/// The page of a client that started too many sign-ins, rendered (for the same tests).
pub(crate) fn sample_limited(t: Tr) -> askama::Result<String> {
    LimitedPage {
        t,
        page: "oauth",
        version: crate::web::VERSION,
        back: "/migrate?lang=en".into(),
    }
    .render()
}

/// The sign-in state of `page` for this browser, in `t`'s language.
pub(crate) async fn page_signins(
    svc: &Service,
    headers: &HeaderMap,
    t: Tr,
    page: &str,
    error: Option<&str>,
) -> PageSignins {
    let mut out = PageSignins {
        buttons: svc
            .settings
            .oauth_providers
            .iter()
            .filter(|p| p.authorization_endpoint.is_some())
            .map(|p| OAuthButton {
                provider: p.name.clone(),
                preset: is_preset(&svc.settings.presets, &p.name),
                text: t
                    .t("oauth.signin")
                    .replace("{provider}", &label(&svc.settings.presets, p)),
                host: preset_host(&svc.settings.presets, &p.name),
            })
            .collect(),
        error: error.map(|e| error_text(t, e).to_owned()),
        ..PageSignins::default()
    };
    let Some(cookie) = cookie_of(headers) else {
        return out;
    };
    for side in ["src", "dst", "purge"] {
        if !side_ok(page, side) {
            continue;
        }
        if let Some(s) = signed_in(svc, &cookie, page, side).await {
            let name = provider(svc, &s.provider)
                .map(|p| label(&svc.settings.presets, p))
                .unwrap_or_else(|| s.provider.clone());
            out.signed.insert(
                side.to_owned(),
                t.t("oauth.signed").replace("{provider}", &name),
            );
        }
    }
    if let Ok(Some(row)) = svc
        .store()
        .oauth_signin(&form_key(&cookie, page), &cookie)
        .await
        && row.owner_matches
        && !row.expired()
        && let Ok(j) = svc.vault.open(FORM_CTX, &row.data)
    {
        out.kept = serde_json::from_str(&j).unwrap_or_default();
    }
    out
}

async fn signed_in(svc: &Service, cookie: &str, page: &str, side: &str) -> Option<SignedIn> {
    let row = svc
        .store()
        .oauth_signin(&signin_key(cookie, page, side), cookie)
        .await
        .ok()
        .flatten()
        .filter(|r| r.owner_matches && !r.expired())?;
    let j = svc.vault.open(SIGNIN_CTX, &row.data).ok()?;
    serde_json::from_str(&j).ok()
}

/// The token of a signed-in side, as the API takes it (`signed_in: true` on `e`): fills in
/// `e.oauth`. `field` names the side in errors (`source`, `destination`).
pub(crate) async fn use_signed_in(
    svc: &Service,
    headers: &HeaderMap,
    page: &str,
    side: &str,
    field: &str,
    e: &mut EndpointIn,
) -> Result<(), ApiError> {
    if !e.signed_in {
        return Ok(());
    }
    let missing = || ApiError::Field {
        field: format!("{field}.signed_in"),
        message:
            "this browser has not signed in for this side, or the sign-in expired: sign in again"
                .into(),
    };
    let cookie = cookie_of(headers).ok_or_else(missing)?;
    let s = signed_in(svc, &cookie, page, side)
        .await
        .ok_or_else(missing)?;
    let f = TokenFile::parse(&s.token).map_err(|_| missing())?;
    e.password.clear();
    e.oauth = Some(OAuthIn {
        access_token: f.token.access_token.expose().to_owned(),
        refresh_token: f
            .token
            .refresh_token
            .as_ref()
            .map(|r| r.expose().to_owned()),
        expires_at: f.token.expires_at,
        provider: Some(s.provider.clone()),
    });
    Ok(())
}

/// Forgets the signed-in sides (and the kept form) of `page` once used.
pub(crate) async fn forget(svc: &Service, headers: &HeaderMap, page: &str, sides: &[&str]) {
    let Some(cookie) = cookie_of(headers) else {
        return;
    };
    for side in sides {
        let _ = svc
            .store()
            .delete_oauth_signin(&signin_key(&cookie, page, side), &cookie)
            .await;
    }
    let _ = svc
        .store()
        .delete_oauth_signin(&form_key(&cookie, page), &cookie)
        .await;
}

/// A migration ID as a page key: its letters and digits, at most 64.
pub(crate) fn page_id(raw: &str) -> String {
    raw.chars()
        .filter(char::is_ascii_alphanumeric)
        .take(64)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_is_said_in_both_languages() {
        for lang in Lang::ALL {
            let t = Tr(lang);
            let mut seen = std::collections::HashSet::new();
            for code in ["denied", "expired", "token", "refused", "provider", "state"] {
                let said = error_text(t, code);
                assert_ne!(said, crate::web::i18n::MISSING, "{code} in {lang:?}");
                assert!(seen.insert(said), "{code} says what another says");
            }
            let page = sample_redirect(t).unwrap();
            assert!(!page.contains(crate::web::i18n::MISSING));
            // The URL is escaped in the page, and moved to at once.
            assert!(
                page.contains("content=\"0;url=https://accounts.example/authorize?a=1&#38;b=2\""),
                "{page}"
            );
        }
    }

    #[test]
    fn cookies_and_pages_are_checked() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("lang=fr; passeur_signin=short"),
        );
        assert_eq!(cookie_of(&h), None);
        let good = "a".repeat(32);
        h.insert(
            header::COOKIE,
            HeaderValue::from_str(&format!("lang=fr; passeur_signin={good}")).unwrap(),
        );
        assert_eq!(cookie_of(&h), Some(good));
        assert!(page_ok("migrate") && page_ok("file") && page_ok("track/01ABC"));
        assert!(!page_ok("track/../admin") && !page_ok("https://evil.example") && !page_ok(""));
        assert!(
            side_ok("migrate", "src") && !side_ok("file", "src") && side_ok("track/x", "purge")
        );
        assert_eq!(page_param(Some("track/01ab<c>".into())), "track/01abc");
    }
}
