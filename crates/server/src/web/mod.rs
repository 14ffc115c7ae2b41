//! The web pages: server-rendered with askama, a little plain JavaScript, all embedded in the
//! binary (no build step, nothing fetched from elsewhere at run time).
//!
//! - `/` home, `/migrate` the one-account form, `/file` a migration from a file (a resumable
//!   tus upload, then the destination), `/track` and `/track/{id}` tracking;
//! - `POST /migrate`: the same form without JavaScript (the script normally sends it to the
//!   JSON API itself); it goes through the API's own creation code.
//! - `/static/app.css`, `/static/app.js`.
//!
//! The pages speak English and French ([`i18n`]): the language comes from `?lang=` (then kept
//! in a cookie), else the cookie, else `Accept-Language`, else English. The script talks to
//! the JSON API under `/api/v1`; the tracking account stays in the tab's `sessionStorage`,
//! never in a URL.

pub mod i18n;

use std::collections::HashMap;
use std::sync::Arc;

use askama::Template;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use i18n::{Lang, Tr};

use crate::api::{CreateMigration, EndpointIn};
use crate::{ApiError, ApiJson, Service};

pub(crate) const VERSION: &str = env!("CARGO_PKG_VERSION");
const CSS: &str = include_str!("static/app.css");
const JS: &str = include_str!("static/app.js");
const PROJECT_JS: &str = include_str!("static/project.js");

/// The pages' routes, merged into the service's router.
pub fn pages() -> Router<Arc<Service>> {
    Router::new()
        .route("/", get(home))
        .route("/migrate", get(migrate).post(migrate_post))
        .route("/file", get(file_page))
        .route("/track", get(track))
        .route("/track/{id}", get(tracking))
        .route(
            "/static/app.css",
            get(|| asset(CSS, "text/css; charset=utf-8")),
        )
        .route(
            "/static/app.js",
            get(|| asset(JS, "text/javascript; charset=utf-8")),
        )
        .route(
            "/static/project.js",
            get(|| asset(PROJECT_JS, "text/javascript; charset=utf-8")),
        )
        .route("/project/new", get(project_new))
        .route("/project/login", get(project_login))
        .route("/project/{id}", get(project_dashboard))
}

#[derive(serde::Deserialize, Default)]
struct PageQuery {
    lang: Option<String>,
    id: Option<String>,
    /// What went wrong at a "Sign in with …" (see [`crate::oauth_pages`]).
    oauth_error: Option<String>,
}

/// The page's language from the cookie or `Accept-Language` (no `?lang=`).
pub(crate) fn negotiate_lang(headers: &HeaderMap) -> Lang {
    negotiate(&PageQuery::default(), headers).0
}

/// Renders a page with the pages' headers.
pub(crate) fn render_page(tpl: impl Template, set_lang: Option<Lang>) -> Response {
    render(tpl, set_lang)
}

/// The page's language, and the cookie to set when `?lang=` chose it.
fn negotiate(q: &PageQuery, headers: &HeaderMap) -> (Lang, Option<Lang>) {
    if let Some(l) = q.lang.as_deref().and_then(Lang::from_code) {
        return (l, Some(l));
    }
    let from_cookie = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|c| c.trim().strip_prefix("lang="))
        .and_then(Lang::from_code);
    if let Some(l) = from_cookie {
        return (l, None);
    }
    let accepted = headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .and_then(Lang::from_accept_language);
    (accepted.unwrap_or(Lang::En), None)
}

fn render(tpl: impl Template, set_lang: Option<Lang>) -> Response {
    let body = match tpl.render() {
        Ok(b) => b,
        Err(e) => {
            tracing::error!(error = %e, "a page failed to render");
            return (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response();
        }
    };
    let mut res = Html(body).into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        header::VARY,
        HeaderValue::from_static("Accept-Language, Cookie"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Some(l) = set_lang {
        let cookie = format!("lang={}; Path=/; Max-Age=31536000; SameSite=Lax", l.code());
        if let Ok(v) = HeaderValue::from_str(&cookie) {
            h.insert(header::SET_COOKIE, v);
        }
    }
    res
}

async fn asset(body: &'static str, content_type: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=3600"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        body,
    )
        .into_response()
}

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage {
    t: Tr,
    page: &'static str,
    version: &'static str,
    id: String,
}

#[derive(Template)]
#[template(path = "migrate.html")]
struct MigratePage {
    t: Tr,
    page: &'static str,
    version: &'static str,
    f: FormState,
    presets: Vec<PresetOption>,
}

/// A known provider offered as a server type: choosing it fills in the host and port.
struct PresetOption {
    id: String,
    name: String,
    /// The URL scheme: `imaps` or `imap+starttls`.
    scheme: &'static str,
    host: String,
    port: u16,
    /// The address domains it serves, space-separated (chosen when a login of one is typed).
    domains: String,
}

/// The providers of `presets` that have an IMAP server, by name.
fn preset_options(presets: &passeur_net::discover::Presets) -> Vec<PresetOption> {
    {
        let mut v: Vec<PresetOption> = presets
            .all()
            .iter()
            .filter_map(|p| {
                let imap = p.imap.as_ref()?;
                let scheme = match imap.security {
                    passeur_net::discover::Security::Tls => "imaps",
                    passeur_net::discover::Security::Starttls => "imap+starttls",
                    _ => return None,
                };
                Some(PresetOption {
                    id: p.id.clone(),
                    name: p.name.clone(),
                    scheme,
                    host: imap.host.clone(),
                    port: imap.port,
                    domains: p.domains.join(" "),
                })
            })
            .collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }
}

#[derive(Template)]
#[template(path = "created.html")]
struct CreatedPage {
    t: Tr,
    page: &'static str,
    version: &'static str,
    id: String,
    mailed: String,
}

/// The one-account form's values (never the passwords) and its errors, keyed by the input's
/// id (`src-host`, `notify`…), for the form sent without JavaScript.
#[derive(Debug, Default)]
pub struct FormState {
    values: HashMap<String, String>,
    multi: Vec<(String, String)>,
    errors: HashMap<String, String>,
    /// The sentence above the form that sums its errors up (empty when there are none).
    pub summary: String,
    /// "Sign in with …": the buttons, the signed-in sides.
    signins: crate::oauth_pages::PageSignins,
}

fn key(p: &str, name: &str) -> String {
    if p.is_empty() {
        name.to_string()
    } else {
        format!("{p}-{name}")
    }
}

impl FormState {
    fn blank() -> FormState {
        let mut f = FormState::default();
        for p in ["src", "dst"] {
            f.values.insert(key(p, "type"), "imaps".into());
            f.values.insert(key(p, "port"), "993".into());
        }
        f.multi.push(("content".into(), "mail".into()));
        f.multi.push(("when".into(), "now".into()));
        f
    }

    /// The value of field `name` of side `p` (`""`: not a side).
    pub fn v(&self, p: &str, name: &str) -> &str {
        self.values
            .get(&key(p, name))
            .map(String::as_str)
            .unwrap_or_default()
    }

    /// The error of field `name` of side `p`, or `""`.
    pub fn e(&self, p: &str, name: &str) -> &str {
        self.errors
            .get(&key(p, name))
            .map(String::as_str)
            .unwrap_or_default()
    }

    /// True when field `name` of side `p` has an error.
    pub fn has_err(&self, p: &str, name: &str) -> bool {
        self.errors.contains_key(&key(p, name))
    }

    /// True when the multi-valued field `name` (content kinds, start) holds `value`.
    pub fn checked(&self, name: &str, value: &str) -> bool {
        self.multi.iter().any(|(k, v)| k == name && v == value)
    }

    fn error(&mut self, field: String, message: String) {
        self.errors.entry(field).or_insert(message);
    }

    /// The "Sign in with …" buttons the operator's providers give.
    pub fn oauth_buttons(&self) -> &[crate::oauth_pages::OAuthButton] {
        &self.signins.buttons
    }

    /// "Signed in with …" for side `p`, or `""`.
    pub fn signed(&self, p: &str) -> &str {
        self.signins
            .signed
            .get(p)
            .map(String::as_str)
            .unwrap_or_default()
    }

    /// True when side `p` is signed in with an OAuth 2.0 provider.
    pub fn is_signed(&self, p: &str) -> bool {
        self.signins.signed.contains_key(p)
    }

    /// The form as it was before the trip to the provider, this browser's sign-ins, and what
    /// went wrong there.
    async fn with_signins(
        mut self,
        svc: &Service,
        headers: &HeaderMap,
        t: Tr,
        page: &str,
        error: Option<&str>,
    ) -> FormState {
        let s = crate::oauth_pages::page_signins(svc, headers, t, page, error).await;
        if !s.kept.is_empty() {
            self.multi.clear();
            for (k, v) in &s.kept {
                if k == "content" || k == "when" {
                    self.multi.push((k.clone(), v.clone()));
                } else {
                    self.values.insert(k.clone(), v.clone());
                }
            }
        }
        if let Some(e) = &s.error {
            self.summary = e.clone();
        }
        self.signins = s;
        self
    }
}

/// The form field an API error is about (as the script maps it).
fn form_field(api_field: &str, message: &str) -> Option<String> {
    if let Some((side, name)) = api_field.split_once('.') {
        let p = match side {
            "source" => "src",
            "destination" => "dst",
            _ => return None,
        };
        let name = match name {
            "url" if message.contains("login") => "login",
            "url" if message.contains("port") && !message.contains("host") => "port",
            "url" => "host",
            n @ ("password" | "admin" | "dav") => n,
            _ => return None,
        };
        return Some(key(p, name));
    }
    match api_field {
        "notify" => Some("notify".into()),
        "start_at" => Some("start-at".into()),
        f if f.starts_with("content") => Some("content".into()),
        _ => None,
    }
}

/// The API's (English) message, said in the page's language for that field.
fn field_message(t: Tr, field: &str, message: &str) -> String {
    if message.contains("required for contacts") {
        return t.t("js.err.dav_required").into();
    }
    if message.contains("is required") {
        return t.t("js.err.required").into();
    }
    let kind = field
        .strip_prefix("src-")
        .or_else(|| field.strip_prefix("dst-"))
        .unwrap_or(field);
    let k = match kind {
        "host" => "js.err.host",
        "port" => "js.err.port",
        "login" => "js.err.login",
        "admin" => "js.err.admin",
        "notify" => "js.err.email",
        "start-at" => "js.err.date",
        "dav" => "js.err.dav",
        "content" => "js.err.content",
        _ => return format!("{} {message}", t.t("js.err.generic")),
    };
    t.t(k).into()
}

/// `POST /migrate`: the one-account form sent without JavaScript. Checked like the script
/// does, then created by the API's own code; errors come back next to their fields.
async fn migrate_post(
    State(svc): State<Arc<Service>>,
    Query(q): Query<PageQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (lang, set) = negotiate(&q, &headers);
    let t = Tr(lang);
    let mut f = FormState::default()
        .with_signins(&svc, &headers, t, "migrate", None)
        .await;
    f.values.clear();
    f.multi.clear();
    let mut passwords: HashMap<&str, zeroize::Zeroizing<String>> = HashMap::new();
    for (k, v) in form_urlencoded::parse(&body) {
        let k = k.replace('_', "-");
        match k.as_str() {
            "src-password" | "dst-password" => {
                let side = if k.starts_with("src") { "src" } else { "dst" };
                passwords.insert(side, zeroize::Zeroizing::new(v.into_owned()));
            }
            "content" | "when" => f.multi.push((k, v.into_owned())),
            _ => {
                f.values.insert(k, v.trim().to_string());
            }
        }
    }
    let wants_dav = f.multi.iter().any(|(k, v)| k == "content" && v != "mail");
    let later = f.checked("when", "later");
    let required = |f: &mut FormState, k: String, msg: &str| {
        if f.values.get(&k).is_none_or(String::is_empty) {
            f.error(k, t.t(msg).into());
        }
    };
    let mut sides = Vec::new();
    for p in ["src", "dst"] {
        required(&mut f, key(p, "host"), "js.err.required");
        required(&mut f, key(p, "login"), "js.err.required");
        let port = f.v(p, "port").parse::<u16>().ok().filter(|p| *p > 0);
        if port.is_none() {
            f.error(key(p, "port"), t.t("js.err.port").into());
        }
        let password = passwords.remove(p).unwrap_or_default();
        let signed_in = password.is_empty() && f.is_signed(p);
        if password.is_empty() && !signed_in {
            f.error(key(p, "password"), t.t("js.err.required").into());
        }
        let deleg = f.v(p, "deleg") == "1";
        if deleg {
            required(&mut f, key(p, "admin"), "js.err.required");
        }
        if wants_dav {
            required(&mut f, key(p, "dav"), "js.err.dav_required");
        }
        let scheme = match f.v(p, "type") {
            s @ ("imap" | "imap+starttls" | "imaps") => s,
            // A POP3 mailbox can only be read from.
            s @ ("pop3" | "pop3+starttls" | "pop3s") if p == "src" => s,
            _ => "imaps",
        };
        let host = f.v(p, "host");
        let host = if host.contains(':') && !host.starts_with('[') {
            format!("[{host}]")
        } else {
            host.to_string()
        };
        let login: String = form_urlencoded::byte_serialize(f.v(p, "login").as_bytes()).collect();
        sides.push(EndpointIn {
            url: format!("{scheme}://{login}@{host}:{}", port.unwrap_or(0)),
            password: password.to_string(),
            oauth: None,
            signed_in,
            sign_in_later: false,
            admin: deleg.then(|| f.v(p, "admin").to_string()),
            dav: wants_dav.then(|| f.v(p, "dav").to_string()),
        });
    }
    let content: Vec<String> = f
        .multi
        .iter()
        .filter(|(k, _)| k == "content")
        .map(|(_, v)| v.clone())
        .collect();
    if content.is_empty() {
        f.error("content".into(), t.t("js.err.content").into());
    }
    // Without the script the browser's time zone is unknown: the time is taken as UTC.
    let start_at = later.then(|| format!("{}:00Z", f.v("", "start-at")));
    if later && f.v("", "start-at").is_empty() {
        f.error("start-at".into(), t.t("js.err.date").into());
    }
    let notify = Some(f.v("", "notify").to_string()).filter(|n| !n.is_empty());
    let presets = svc.settings.presets.clone();
    let page = |mut f: FormState, status: StatusCode| {
        if f.summary.is_empty() {
            f.summary = t.t("js.err.form").into();
        }
        let mut r = render(
            MigratePage {
                t,
                presets: preset_options(&presets),
                page: "migrate",
                version: VERSION,
                f,
            },
            set,
        );
        *r.status_mut() = status;
        r
    };
    if !f.errors.is_empty() {
        return page(f, StatusCode::UNPROCESSABLE_ENTITY);
    }
    let destination = sides.pop().expect("two sides");
    let source = sides.pop().expect("two sides");
    let req = CreateMigration {
        source,
        destination,
        content,
        notify: notify.clone(),
        start_at,
        lang: Some(lang.code().into()),
        gmail_archive_folder: None,
    };
    match crate::routes::create_migration(State(svc), headers.clone(), ApiJson(req)).await {
        Ok((_, axum::Json(created))) => render(
            CreatedPage {
                t,
                page: "migrate",
                version: VERSION,
                mailed: notify
                    .map(|n| t.t("js.mailed").replace("{addr}", &n))
                    .unwrap_or_default(),
                id: created.id,
            },
            set,
        ),
        Err(ApiError::Field { field, message }) => match form_field(&field, &message) {
            Some(ff) => {
                let m = field_message(t, &ff, &message);
                f.error(ff, m);
                page(f, StatusCode::UNPROCESSABLE_ENTITY)
            }
            None => {
                f.summary = format!("{} {message}", t.t("js.err.generic"));
                page(f, StatusCode::UNPROCESSABLE_ENTITY)
            }
        },
        Err(e) => {
            // What the JSON API would answer (its status and its public message).
            let r = e.into_response();
            let status = r.status();
            let said = axum::body::to_bytes(r.into_body(), 64 << 10)
                .await
                .ok()
                .and_then(|b| serde_json::from_slice::<crate::api::ErrorOut>(&b).ok())
                .map(|e| e.error)
                .unwrap_or_else(|| status.to_string());
            f.summary = format!("{} {said}", t.t("js.err.generic"));
            page(f, status)
        }
    }
}

#[derive(Template)]
#[template(path = "track.html")]
struct TrackPage {
    t: Tr,
    page: &'static str,
    version: &'static str,
    id: String,
}

#[derive(Template)]
#[template(path = "tracking.html")]
struct TrackingPage {
    t: Tr,
    page: &'static str,
    version: &'static str,
    id: String,
    /// "Sign in with …" to confirm a purge.
    f: FormState,
}

#[derive(Template)]
#[template(path = "file.html")]
struct FilePage {
    t: Tr,
    page: &'static str,
    version: &'static str,
    presets: Vec<PresetOption>,
    /// The destination as it was before a "Sign in with …", and the sign-in.
    f: FormState,
}

async fn file_page(
    State(svc): State<Arc<Service>>,
    Query(q): Query<PageQuery>,
    headers: HeaderMap,
) -> Response {
    let (lang, set) = negotiate(&q, &headers);
    let t = Tr(lang);
    let f = FormState::blank()
        .with_signins(&svc, &headers, t, "file", q.oauth_error.as_deref())
        .await;
    render(
        FilePage {
            t,
            page: "file",
            version: VERSION,
            presets: preset_options(&svc.settings.presets),
            f,
        },
        set,
    )
}

async fn home(Query(q): Query<PageQuery>, headers: HeaderMap) -> Response {
    let (lang, set) = negotiate(&q, &headers);
    render(
        HomePage {
            t: Tr(lang),
            page: "home",
            version: VERSION,
            id: String::new(),
        },
        set,
    )
}

async fn migrate(
    State(svc): State<Arc<Service>>,
    Query(q): Query<PageQuery>,
    headers: HeaderMap,
) -> Response {
    let (lang, set) = negotiate(&q, &headers);
    let t = Tr(lang);
    let f = FormState::blank()
        .with_signins(&svc, &headers, t, "migrate", q.oauth_error.as_deref())
        .await;
    render(
        MigratePage {
            t,
            presets: preset_options(&svc.settings.presets),
            page: "migrate",
            version: VERSION,
            f,
        },
        set,
    )
}

/// A migration ID as the pages show it: what it can be made of, at most 64 characters.
fn clean_id(s: &str) -> String {
    s.trim()
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(64)
        .collect()
}

async fn track(Query(q): Query<PageQuery>, headers: HeaderMap) -> Response {
    let (lang, set) = negotiate(&q, &headers);
    render(
        TrackPage {
            t: Tr(lang),
            page: "track",
            version: VERSION,
            id: q.id.as_deref().map(clean_id).unwrap_or_default(),
        },
        set,
    )
}

async fn tracking(
    State(svc): State<Arc<Service>>,
    Path(id): Path<String>,
    Query(q): Query<PageQuery>,
    headers: HeaderMap,
) -> Response {
    let (lang, set) = negotiate(&q, &headers);
    let t = Tr(lang);
    let id = clean_id(&id);
    let f = FormState::default()
        .with_signins(
            &svc,
            &headers,
            t,
            &format!("track/{id}"),
            q.oauth_error.as_deref(),
        )
        .await;
    render(
        TrackingPage {
            t,
            page: "tracking",
            version: VERSION,
            id,
            f,
        },
        set,
    )
}

#[derive(Template)]
#[template(path = "project_new.html")]
struct ProjectNewPage {
    t: Tr,
    page: &'static str,
    version: &'static str,
}

#[derive(Template)]
#[template(path = "project_login.html")]
struct ProjectLoginPage {
    t: Tr,
    page: &'static str,
    version: &'static str,
    id: String,
}

#[derive(Template)]
#[template(path = "project.html")]
struct ProjectPage {
    t: Tr,
    page: &'static str,
    version: &'static str,
    id: String,
    name: String,
    csrf: String,
    presets: Vec<PresetOption>,
    /// The "Add" form as it was before a "Sign in with …", and the sign-ins.
    f: FormState,
}

async fn project_new(Query(q): Query<PageQuery>, headers: HeaderMap) -> Response {
    let (lang, set) = negotiate(&q, &headers);
    render(
        ProjectNewPage {
            t: Tr(lang),
            page: "project_new",
            version: VERSION,
        },
        set,
    )
}

async fn project_login(Query(q): Query<PageQuery>, headers: HeaderMap) -> Response {
    let (lang, set) = negotiate(&q, &headers);
    render(
        ProjectLoginPage {
            t: Tr(lang),
            page: "project_login",
            version: VERSION,
            id: q.id.as_deref().map(clean_id).unwrap_or_default(),
        },
        set,
    )
}

/// The dashboard, for the project's session cookie only; else to the login page.
async fn project_dashboard(
    State(svc): State<Arc<Service>>,
    Path(id): Path<String>,
    Query(q): Query<PageQuery>,
    headers: HeaderMap,
) -> Response {
    let (lang, set) = negotiate(&q, &headers);
    let id = clean_id(&id).to_ascii_lowercase();
    let session = match crate::projects::token_of(&headers) {
        Some((token, true)) => svc.store().project_session(&token).await.ok().flatten(),
        _ => None,
    };
    let project = match session.filter(|s| s.project_id == id) {
        Some(s) => svc
            .store()
            .project(&id)
            .await
            .ok()
            .flatten()
            .map(|p| (p, s.csrf)),
        None => None,
    };
    let Some((p, csrf)) = project else {
        let to = format!("/project/login?id={id}");
        return (
            StatusCode::SEE_OTHER,
            [
                (header::LOCATION, to),
                (header::CACHE_CONTROL, "no-store".to_string()),
            ],
        )
            .into_response();
    };
    let t = Tr(lang);
    let mut f = FormState::default()
        .with_signins(
            &svc,
            &headers,
            t,
            &format!("project/{id}"),
            q.oauth_error.as_deref(),
        )
        .await;
    if f.values.is_empty() {
        for p in ["src", "dst"] {
            f.values.insert(key(p, "port"), "993".into());
        }
    }
    render(
        ProjectPage {
            t,
            page: "project",
            version: VERSION,
            id,
            name: p.name,
            csrf,
            presets: preset_options(&svc.settings.presets),
            f,
        },
        set,
    )
}

/// Every page in `lang`, rendered (for the tests that look for missing messages).
pub fn render_all(lang: Lang) -> Vec<(&'static str, String)> {
    let t = Tr(lang);
    let id = "abc".to_string();
    let mut out = Vec::new();
    let mut push = |name, r: askama::Result<String>| {
        out.push((name, r.unwrap_or_else(|e| format!("render error: {e}"))));
    };
    push(
        "home",
        HomePage {
            t,
            page: "home",
            version: VERSION,
            id: String::new(),
        }
        .render(),
    );
    push(
        "migrate",
        MigratePage {
            t,
            presets: preset_options(&passeur_net::discover::Presets::built_in()),
            page: "migrate",
            version: VERSION,
            f: FormState::blank(),
        }
        .render(),
    );
    let mut signed = FormState::blank();
    signed.signins = crate::oauth_pages::sample(t);
    push(
        "migrate (signed in)",
        MigratePage {
            t,
            presets: preset_options(&passeur_net::discover::Presets::built_in()),
            page: "migrate",
            version: VERSION,
            f: signed,
        }
        .render(),
    );
    push("oauth", crate::oauth_pages::sample_redirect(t));
    push("oauth (limited)", crate::oauth_pages::sample_limited(t));
    push(
        "file",
        FilePage {
            t,
            page: "file",
            version: VERSION,
            presets: preset_options(&passeur_net::discover::Presets::built_in()),
            f: FormState::blank(),
        }
        .render(),
    );
    push(
        "track",
        TrackPage {
            t,
            page: "track",
            version: VERSION,
            id: id.clone(),
        }
        .render(),
    );
    push(
        "tracking",
        TrackingPage {
            t,
            page: "tracking",
            version: VERSION,
            id: id.clone(),
            f: FormState::default(),
        }
        .render(),
    );
    push(
        "project_new",
        ProjectNewPage {
            t,
            page: "project_new",
            version: VERSION,
        }
        .render(),
    );
    push(
        "project_login",
        ProjectLoginPage {
            t,
            page: "project_login",
            version: VERSION,
            id: id.clone(),
        }
        .render(),
    );
    push(
        "project",
        ProjectPage {
            t,
            page: "project",
            version: VERSION,
            id: id.clone(),
            name: "Acme".into(),
            csrf: "c".into(),
            presets: preset_options(&passeur_net::discover::Presets::built_in()),
            f: FormState::blank(),
        }
        .render(),
    );
    let mut signed = FormState::blank();
    signed.signins = crate::oauth_pages::sample(t);
    push(
        "project (signed in)",
        ProjectPage {
            t,
            page: "project",
            version: VERSION,
            id,
            name: "Acme".into(),
            csrf: "c".into(),
            presets: preset_options(&passeur_net::discover::Presets::built_in()),
            f: signed,
        }
        .render(),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_page_renders_in_both_languages_with_no_missing_message() {
        for lang in Lang::ALL {
            for (name, html) in render_all(lang) {
                assert!(!html.contains("render error"), "{name}: {html}");
                assert!(
                    !html.contains(i18n::MISSING),
                    "{name} ({lang:?}) has a missing message"
                );
                assert!(
                    html.contains(&format!("<html lang=\"{}\">", lang.code())),
                    "{name}"
                );
            }
        }
    }

    #[test]
    fn every_message_the_script_uses_exists() {
        // msg('key') in app.js looks up "js.key".
        let mut rest = JS;
        let mut n = 0;
        while let Some(i) = rest.find("msg('") {
            rest = &rest[i + 5..];
            let end = rest.find('\'').unwrap();
            let key = &rest[..end];
            if matches!(rest.as_bytes().get(end + 1), Some(b')' | b',')) {
                assert!(
                    i18n::MESSAGES.iter().any(|m| m.0 == format!("js.{key}")),
                    "app.js uses js.{key}, which is not in the table"
                );
                n += 1;
            }
        }
        assert!(n > 10, "only {n} messages found in app.js");
    }

    #[test]
    fn every_message_the_project_script_uses_exists() {
        let mut rest = PROJECT_JS;
        let mut n = 0;
        while let Some(i) = rest.find("msg('") {
            rest = &rest[i + 5..];
            let end = rest.find('\'').unwrap();
            let key = &rest[..end];
            if matches!(rest.as_bytes().get(end + 1), Some(b')' | b',')) {
                assert!(
                    i18n::MESSAGES.iter().any(|m| m.0 == format!("js.{key}")),
                    "project.js uses js.{key}, which is not in the table"
                );
                n += 1;
            }
        }
        assert!(n > 10, "only {n} messages found in project.js");
    }

    #[test]
    fn ids_are_cleaned() {
        assert_eq!(clean_id(" ab<script>12 "), "abscript12");
    }
}
