//! The web pages: server-rendered with askama, a little plain JavaScript, all embedded in the
//! binary (no build step, nothing fetched from elsewhere at run time).
//!
//! - `/` home, `/migrate` the one-account form, `/track` and `/track/{id}` tracking;
//! - `/static/app.css`, `/static/app.js`.
//!
//! The pages speak English and French ([`i18n`]): the language comes from `?lang=` (then kept
//! in a cookie), else the cookie, else `Accept-Language`, else English. The script talks to
//! the JSON API under `/api/v1`; the tracking account stays in the tab's `sessionStorage`,
//! never in a URL.

pub mod i18n;

use std::sync::Arc;

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use i18n::{Lang, Tr};

use crate::Service;

const VERSION: &str = env!("CARGO_PKG_VERSION");
const CSS: &str = include_str!("static/app.css");
const JS: &str = include_str!("static/app.js");

/// The pages' routes, merged into the service's router.
pub fn pages() -> Router<Arc<Service>> {
    Router::new()
        .route("/", get(home))
        .route("/migrate", get(migrate))
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
}

#[derive(serde::Deserialize, Default)]
struct PageQuery {
    lang: Option<String>,
    id: Option<String>,
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

async fn migrate(Query(q): Query<PageQuery>, headers: HeaderMap) -> Response {
    let (lang, set) = negotiate(&q, &headers);
    render(
        MigratePage {
            t: Tr(lang),
            page: "migrate",
            version: VERSION,
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
    Path(id): Path<String>,
    Query(q): Query<PageQuery>,
    headers: HeaderMap,
) -> Response {
    let (lang, set) = negotiate(&q, &headers);
    render(
        TrackingPage {
            t: Tr(lang),
            page: "tracking",
            version: VERSION,
            id: clean_id(&id),
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
            page: "migrate",
            version: VERSION,
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
            id,
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
    fn ids_are_cleaned() {
        assert_eq!(clean_id(" ab<script>12 "), "abscript12");
    }
}
