//! The JSON shapes of `/api/v1` and their validation. A request is checked whole before anything
//! is stored; each error names the field it concerns.

use passeur_types::{ContentKind, Endpoint, Protocol};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use zeroize::Zeroizing;

/// One side of a migration, as a client sends it.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EndpointIn {
    /// `imap://LOGIN@HOST[:PORT]`, `imap+starttls://…` or `imaps://…` (a login with `@` is
    /// percent-encoded: `alice%40example.org@host`); for the source also `pop3://…`,
    /// `pop3+starttls://…` or `pop3s://…` (its mailbox goes to the destination's INBOX). No
    /// password in the URL.
    pub url: String,
    /// The account's password, or the admin's under delegation. Empty (or absent) with `oauth`.
    #[schema(format = Password)]
    #[serde(default)]
    pub password: String,
    /// Log in with an OAuth 2.0 token (SASL OAUTHBEARER/XOAUTH2, DAV Bearer) instead of a
    /// password. Sealed like passwords; renewed during the migration when it names a provider.
    #[serde(default)]
    pub oauth: Option<OAuthIn>,
    /// Log in with the token this browser got through the pages' "Sign in with …" for this
    /// side (found by the service's sign-in cookie, taken once the migration is created).
    #[serde(default)]
    pub signed_in: bool,
    /// Create the migration now, and sign this side in later: no password or token is given,
    /// and the migration waits (status `sign_in`) until `POST /api/v1/migrations/{id}/sign-in`
    /// gives the side a token, from its tracking page's "Sign in with …" or from the caller.
    /// Only for a server of a provider the service signs in with (its preset's host).
    #[serde(default)]
    pub sign_in_later: bool,
    /// Log in as this admin on behalf of the URL's login (IMAP master user / SASL authzid).
    #[serde(default)]
    pub admin: Option<String>,
    /// The CalDAV/CardDAV server (`https://…`), for contacts, calendars and tasks.
    #[serde(default)]
    pub dav: Option<String>,
}

/// An OAuth 2.0 token given for one side.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OAuthIn {
    /// The access token for the mail (and DAV) server.
    #[schema(format = Password)]
    pub access_token: String,
    /// The refresh token, when the provider gave one: it lets the service renew the access token.
    #[schema(format = Password)]
    #[serde(default)]
    pub refresh_token: Option<String>,
    /// Unix seconds.
    #[serde(default)]
    pub expires_at: Option<u64>,
    /// The provider that issued it, among those the operator configured (`gmail`,
    /// `microsoft`, ...): the service renews the token there. Without it the token is used as
    /// is until it expires.
    #[serde(default)]
    pub provider: Option<String>,
}

impl Drop for OAuthIn {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.access_token);
        if let Some(r) = &mut self.refresh_token {
            zeroize::Zeroize::zeroize(r);
        }
    }
}

impl OAuthIn {
    /// The token as the service seals it.
    pub fn token_file(&self) -> passeur_oauth::TokenFile {
        passeur_oauth::TokenFile {
            token: passeur_oauth::Token {
                access_token: passeur_types::Secret::new(self.access_token.as_str()),
                refresh_token: self
                    .refresh_token
                    .as_deref()
                    .map(passeur_types::Secret::new),
                expires_at: self.expires_at,
            },
            provider: self.provider.clone(),
            token_endpoint: None,
            client_id: None,
        }
    }
}

impl std::fmt::Debug for EndpointIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EndpointIn")
            .field("url", &self.url)
            .field("password", &"[redacted]")
            .field("oauth", &self.oauth.is_some())
            .field("signed_in", &self.signed_in)
            .field("sign_in_later", &self.sign_in_later)
            .field("admin", &self.admin)
            .field("dav", &self.dav)
            .finish()
    }
}

impl Drop for EndpointIn {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.password);
    }
}

/// `POST /api/v1/migrations`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateMigration {
    /// The account to copy from.
    pub source: EndpointIn,
    /// The account to copy to.
    pub destination: EndpointIn,
    /// What to move (default: mail).
    #[serde(default)]
    #[schema(value_type = Vec<String>, example = json!(["mail", "contacts"]))]
    pub content: Vec<String>,
    /// Where to send the notifications.
    #[serde(default)]
    pub notify: Option<String>,
    /// Start at this date and time (RFC 3339) instead of now.
    #[serde(default)]
    pub start_at: Option<String>,
    /// The language of the notifications: `fr` or `en` (default: from `Accept-Language`).
    #[serde(default)]
    pub lang: Option<String>,
    /// A Gmail source: the destination folder of messages that have no label (a path written
    /// with `/`; default: the destination's `\Archive` folder, else `Archive`).
    #[serde(default)]
    pub gmail_archive_folder: Option<String>,
}

/// `POST /api/v1/imports`: import a finished upload into an account.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateImport {
    /// The upload's ID, or its URL (`Location` of `POST /api/v1/uploads`).
    pub upload: String,
    /// The account the file goes into (its login tracks the migration). `dav` is needed for
    /// an .ics / .vcf file, and for the contacts, calendars and tasks of a PST.
    pub destination: EndpointIn,
    /// What to import from a PST (default: mail, plus contacts, calendars and tasks when
    /// `destination.dav` is given).
    #[serde(default)]
    #[schema(value_type = Vec<String>, example = json!(["mail"]))]
    pub content: Vec<String>,
    /// Where to send the notifications.
    #[serde(default)]
    pub notify: Option<String>,
    /// The language of the notifications: `fr` or `en` (default: from `Accept-Language`).
    #[serde(default)]
    pub lang: Option<String>,
}

/// What a valid import request asks for.
pub struct ValidImport {
    /// The account the file goes into.
    pub destination: Endpoint,
    /// Its password (empty with an OAuth token).
    pub password: Zeroizing<String>,
    /// The OAuth 2.0 token given instead of the password.
    pub oauth: Option<passeur_oauth::TokenFile>,
    /// Log in as this admin on behalf of the account's login.
    pub admin: Option<String>,
    /// The CalDAV/CardDAV server, when contacts, calendars or tasks are imported.
    pub dav: Option<String>,
    /// As asked (empty: the default).
    pub content: Vec<ContentKind>,
    /// Where to send the notifications.
    pub notify: Option<String>,
    /// The language of the notifications (`fr` or `en`).
    pub lang: Option<String>,
}

impl CreateImport {
    /// Checks every field but the upload; the first problem found is returned.
    pub fn validate(&self) -> Result<ValidImport, FieldError> {
        if self.upload.trim().is_empty() {
            return Err(bad("upload", "is required"));
        }
        let destination = endpoint("destination", &self.destination)?;
        if let Some(d) = &self.destination.dav {
            let authority = d
                .split_once("://")
                .map(|(_, r)| r.split(['/', '?', '#']).next().unwrap_or_default())
                .unwrap_or_default();
            if authority.contains('@') {
                return Err(bad(
                    "destination.dav",
                    "must not contain a login: the login is the one of destination.url",
                ));
            }
        }
        let content = content_kinds(&self.content)?;
        if let Some(n) = &self.notify
            && !plausible_address(n)
        {
            return Err(bad("notify", "is not an e-mail address"));
        }
        Ok(ValidImport {
            destination,
            password: Zeroizing::new(self.destination.password.clone()),
            oauth: self.destination.oauth.as_ref().map(OAuthIn::token_file),
            admin: self.destination.admin.clone(),
            dav: self.destination.dav.clone(),
            content,
            notify: self.notify.clone(),
            lang: check_lang(&self.lang)?,
        })
    }
}

fn content_kinds(content: &[String]) -> Result<Vec<ContentKind>, FieldError> {
    let mut out = Vec::new();
    for (i, c) in content.iter().enumerate() {
        let k: ContentKind = c.parse().map_err(|_| {
            bad(
                &format!("content[{i}]"),
                format!("unknown content kind {c:?}: expected mail, contacts, calendars or tasks"),
            )
        })?;
        if !out.contains(&k) {
            out.push(k);
        }
    }
    Ok(out)
}

fn check_lang(lang: &Option<String>) -> Result<Option<String>, FieldError> {
    match lang {
        Some(l) if matches!(l.as_str(), "fr" | "en") => Ok(Some(l.clone())),
        Some(_) => Err(bad("lang", "must be fr or en")),
        None => Ok(None),
    }
}

/// `POST /api/v1/connection-tests`: the two sides of a migration to try.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConnectionTest {
    /// The account to copy from.
    pub source: EndpointIn,
    /// The account to copy to.
    pub destination: EndpointIn,
}

/// What a connection test found on each side.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ConnectionTestOut {
    /// The source's result.
    pub source: SideTestOut,
    /// The destination's result.
    pub destination: SideTestOut,
}

/// One side's connection test.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SideTestOut {
    /// Logged in.
    pub ok: bool,
    /// `auth` (wrong login or password), `unreachable`, `tls`, `refused` (an address the
    /// service may not reach) or `other`; absent when `ok`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The server's or the network's words.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The CalDAV/CardDAV server's test, when the side names one (`dav`): the same fields.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(no_recursion)]
    pub dav: Option<Box<SideTestOut>>,
}

/// What a purge deleted.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PurgeOut {
    /// Items deleted from the destination.
    pub deleted: u64,
    /// Items left in place: changed on the destination since, or not found safely.
    pub skipped: u64,
    /// What the owner should know about the purge, one sentence each.
    pub notes: Vec<String>,
}

/// The latest deletion of migrated items (a purge) of a migration: it runs as a job.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct PurgeStateOut {
    /// queued, running, done, failed
    pub state: String,
    /// Deletes what this sync point and later ones copied.
    pub from_pass: u32,
    /// Items deleted (once done).
    pub deleted: u64,
    /// Items left in place: changed on the destination since, or not found safely.
    pub skipped: u64,
    /// What the owner should know about the purge, one sentence each.
    pub notes: Vec<String>,
    /// Why it failed.
    pub error: Option<String>,
}

/// Progress of one content kind in the current (or last) pass.
#[derive(Debug, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct ProgressOut {
    /// mail, contacts, calendars, tasks
    pub kind: String,
    /// Items to have on the destination at the end of the pass, when known.
    pub total: Option<u64>,
    /// Items on the destination so far (copied by earlier passes and this one).
    pub done: u64,
    /// Copied by this pass.
    pub copied: u64,
    /// Items of this kind that could not be copied in this pass.
    pub failed: u64,
    /// Bytes copied by this pass.
    pub bytes: u64,
    /// `done / total`, 0 to 100.
    pub percent: Option<f64>,
    /// Items per second over this pass.
    pub rate: f64,
    /// Seconds left at this rate.
    pub eta_seconds: Option<u64>,
}

/// `201 Created`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Created {
    /// The new migration's ID (also in the `Location` header).
    pub id: String,
}

/// New passwords for a migration's sides (`POST /api/v1/migrations/{id}/credentials`): give
/// one or both; each is checked by a login before it replaces the one kept.
#[derive(Deserialize, ToSchema)]
pub struct CredentialsRequest {
    /// The source account's new password.
    #[serde(default)]
    pub source_password: Option<String>,
    /// The destination account's new password.
    #[serde(default)]
    pub destination_password: Option<String>,
}

impl Drop for CredentialsRequest {
    fn drop(&mut self) {
        for p in [&mut self.source_password, &mut self.destination_password]
            .into_iter()
            .flatten()
        {
            zeroize::Zeroize::zeroize(p);
        }
    }
}

/// `POST /api/v1/migrations/{id}/purge`: the destination password is asked again before
/// anything is deleted.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PurgeRequest {
    /// Delete what this pass and later ones copied (default 1: everything).
    #[serde(default = "one")]
    pub from_pass: u32,
    /// The destination's password, typed again. For a destination that logs in with OAuth 2.0,
    /// give a fresh token instead (`destination_oauth`, or `destination_signed_in` after the
    /// pages' "Sign in with …"): the token kept for the migration's passes is never enough to
    /// delete, as it proves nothing about who asks now.
    #[schema(format = Password)]
    #[serde(default)]
    pub destination_password: String,
    /// A token just obtained for the destination account (it must log in as that account).
    #[serde(default)]
    pub destination_oauth: Option<OAuthIn>,
    /// Use the token this browser just got through "Sign in with …" on the tracking page.
    #[serde(default)]
    pub destination_signed_in: bool,
    /// Only count what would be deleted (`deleted` in the answer), deleting nothing: for a
    /// "this will delete N items" confirmation.
    #[serde(default)]
    pub dry_run: bool,
}

impl Drop for PurgeRequest {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.destination_password);
    }
}

fn one() -> u32 {
    1
}

/// The connections of a migration's passes.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ConnectionsOut {
    /// Connections a pass opens to each mail server.
    pub used: u64,
    /// The lowest documented limit per account of the providers of its two accounts (their
    /// presets), if any: passes stay within it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_limit: Option<u64>,
    /// The provider of that limit (`Gmail / Google Workspace`...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
}

/// A migration as its owner sees it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MigrationOut {
    /// The migration's ID.
    pub id: String,
    /// queued, scheduled, running, stopped, done, failed
    pub status: String,
    /// Why it failed, in a sentence.
    pub error: Option<String>,
    /// The kind of that error as a stable word (as in [`ErrorOut::code`]; `incomplete` when
    /// some items were not migrated).
    #[serde(default)]
    pub error_code: Option<String>,
    /// The source account, without its password (a file import: `file:` and the name the
    /// file was uploaded with).
    pub source: String,
    /// The destination account, without its password.
    pub destination: String,
    /// What it moves: mail, contacts, calendars, tasks.
    pub content: Vec<String>,
    /// Items in the item map (everything copied and not purged), and their bytes.
    pub items: u64,
    /// The bytes of those items.
    pub bytes: u64,
    /// When a scheduled start (or a retry) is due, Unix seconds.
    pub scheduled_at: Option<i64>,
    /// The latest deletion of migrated items, if any was asked for.
    #[serde(default)]
    pub purge: Option<PurgeStateOut>,
    /// The OAuth 2.0 provider the source logs in with, when it does and its credentials are
    /// still kept: it has no password to change. Given to the migration's owner only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_provider: Option<String>,
    /// The OAuth 2.0 provider the destination logs in with (`microsoft`...), when it does and
    /// its credentials are still kept: a purge is then confirmed by signing in there again.
    /// Given to the migration's owner (`GET` and its events), not in a project's list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination_provider: Option<String>,
    /// The sides that wait for their owner's sign-in before the first pass (status
    /// `sign_in`), each with the provider to sign in with.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sign_in: Vec<SignInOut>,
    /// Connections a pass opens to each mail server, and the provider's documented limit that
    /// caps them (mail only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connections: Option<ConnectionsOut>,
    /// Progress per content kind of the running (or last) pass.
    pub progress: Vec<ProgressOut>,
    /// The sync points.
    pub passes: Vec<PassOut>,
    /// Items of the last pass that could not be copied.
    pub failures: Vec<FailureOut>,
    /// Items that arrived changed, every pass: repaired after the destination refused them as
    /// they were, or read past a damaged line (calendars and contacts). Nothing of them was
    /// dropped: what was moved aside is kept in an `X-PASSEUR-…` property.
    #[serde(default)]
    pub notes: Vec<NoteOut>,
}

/// A side that waits for a sign-in.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SignInOut {
    /// `source` or `destination`.
    pub side: String,
    /// The provider to sign in with (`microsoft`...), among the service's.
    pub provider: Option<String>,
}

/// `POST /api/v1/migrations/{id}/sign-in`: tokens for the sides that wait for a sign-in (or
/// that log in with OAuth 2.0 and need a new token). Each side: a token handed in, or this
/// browser's "Sign in with …" on the tracking page.
#[derive(Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignInRequest {
    /// The source's new token.
    #[serde(default)]
    pub source_oauth: Option<OAuthIn>,
    /// The source signed in on the tracking page in this browser.
    #[serde(default)]
    pub source_signed_in: bool,
    /// The destination's new token.
    #[serde(default)]
    pub destination_oauth: Option<OAuthIn>,
    /// The destination signed in on the tracking page in this browser.
    #[serde(default)]
    pub destination_signed_in: bool,
}

/// An item that arrived changed, and why.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct NoteOut {
    /// The pass that recorded it.
    pub pass: u32,
    /// mail, contacts, calendars or tasks.
    pub kind: String,
    /// The collection or file it came from.
    pub folder: String,
    /// Its source key (UID, or `line:N` for a note about the file).
    pub item: String,
    /// True when the destination refused it and took it repaired; false for a warning.
    pub repaired: bool,
    /// What changed, or what was read past, in English.
    pub note: String,
    /// What happened as a stable kind (`input_ended`, `duplicate`, `refused_repaired`, ...;
    /// `other` for a note of no known kind), for a page to say it in its own language.
    pub code: String,
    /// The values the note names (`{"prop": "DTSTART", "comp": "VEVENT"}`), by the names
    /// the kind's message uses.
    pub params: std::collections::BTreeMap<String, String>,
}

/// One pass (sync point).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PassOut {
    /// The pass number (1 for the first).
    pub number: u32,
    /// running, done, stopped, incomplete or failed.
    pub status: String,
    /// Unix seconds.
    pub started_at: i64,
    /// Unix seconds, once finished.
    pub finished_at: Option<i64>,
    /// Items copied.
    pub copied: u64,
    /// Bytes copied.
    pub bytes: u64,
    /// Messages whose flags were brought over from the source.
    pub flags_updated: u64,
    /// Items that could not be copied.
    pub failed: u64,
    /// Why the pass failed or is incomplete.
    pub error: Option<String>,
}

/// An item not migrated.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct FailureOut {
    /// The pass that could not copy it.
    pub pass: u32,
    /// mail, contacts, calendars or tasks.
    pub kind: String,
    /// The source folder, collection or file.
    pub folder: String,
    /// The item in its source's terms (UID, href, node).
    pub item: String,
    /// Why, in a sentence.
    pub reason: String,
}

/// Every 4xx/5xx answer.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ErrorOut {
    /// A sentence for a person.
    pub error: String,
    /// The kind of error as a stable word, for a program or a page in another language:
    /// `field`, `bad_request`, `not_found`, `conflict`, `rate_limited`, `internal`, or for a
    /// mail or DAV server's answer `auth`, `tls`, `unreachable`, `refused`, `plaintext`,
    /// `quota`, `busy`, `file`, `other`.
    #[serde(default)]
    pub code: String,
    /// The request field concerned, as a JSON path (`source.url`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

/// A field that is not what it should be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// The field, as a JSON path (`source.url`).
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

fn bad(field: &str, message: impl Into<String>) -> FieldError {
    FieldError {
        field: field.into(),
        message: message.into(),
    }
}

/// What a valid creation request asks for.
pub struct ValidMigration {
    /// The source account.
    pub source: Endpoint,
    /// The destination account.
    pub destination: Endpoint,
    /// The source's password (empty with an OAuth token).
    pub source_password: Zeroizing<String>,
    /// The destination's password (empty with an OAuth token).
    pub destination_password: Zeroizing<String>,
    /// OAuth 2.0 tokens given instead of passwords.
    pub source_oauth: Option<passeur_oauth::TokenFile>,
    /// The destination's OAuth 2.0 token, if given instead of the password.
    pub destination_oauth: Option<passeur_oauth::TokenFile>,
    /// Log in to the source as this admin on behalf of its login.
    pub source_admin: Option<String>,
    /// Log in to the destination as this admin on behalf of its login.
    pub destination_admin: Option<String>,
    /// The source's CalDAV/CardDAV server, if any.
    pub source_dav: Option<String>,
    /// The destination's CalDAV/CardDAV server, if any.
    pub destination_dav: Option<String>,
    /// What to move (empty: mail).
    pub content: Vec<ContentKind>,
    /// Where to send the notifications.
    pub notify: Option<String>,
    /// Unix seconds.
    pub start_at: Option<i64>,
    /// The language of the notifications (`fr` or `en`).
    pub lang: Option<String>,
    /// A Gmail source: where messages without a label go.
    pub gmail_archive_folder: Option<String>,
    /// The source signs in later (no password or token yet).
    pub source_sign_in: bool,
    /// The destination signs in later (no password or token yet).
    pub destination_sign_in: bool,
}

/// Whether a token handed in (`field` names its access token) can be one.
pub(crate) fn check_token(field: &str, o: &OAuthIn) -> Result<(), FieldError> {
    if o.access_token.is_empty()
        || o.access_token.len() > 8192
        || o.access_token.chars().any(|c| c.is_control() || c == ' ')
    {
        return Err(bad(field, "is not a token"));
    }
    Ok(())
}

pub(crate) fn endpoint(side: &str, e: &EndpointIn) -> Result<Endpoint, FieldError> {
    let field = format!("{side}.url");
    if e.url.trim().is_empty() {
        return Err(bad(&field, "is required"));
    }
    let ep = Endpoint::parse(&e.url).map_err(|err| bad(&field, err.to_string()))?;
    if !plausible_host(&ep.host) {
        return Err(bad(
            &field,
            "the host is not a server name or an IP address",
        ));
    }
    if e.sign_in_later {
        if !e.password.is_empty() || e.oauth.is_some() || e.signed_in {
            return Err(bad(
                &format!("{side}.sign_in_later"),
                "cannot be combined with a password, a token or a sign-in",
            ));
        }
        if e.admin.is_some() {
            return Err(bad(
                &format!("{side}.admin"),
                "cannot be combined with a sign-in (OAuth 2.0)",
            ));
        }
    }
    match &e.oauth {
        None if e.sign_in_later => {}
        None if e.password.is_empty() => {
            return Err(bad(&format!("{side}.password"), "is required"));
        }
        None => {}
        Some(o) => {
            check_token(&format!("{side}.oauth.access_token"), o)?;
            if e.admin.is_some() {
                return Err(bad(
                    &format!("{side}.admin"),
                    "cannot be combined with an OAuth 2.0 token",
                ));
            }
        }
    }
    if e.password.len() > 4096 {
        return Err(bad(&format!("{side}.password"), "is too long"));
    }
    if let Some(a) = &e.admin
        && (a.is_empty() || a.len() > 320 || a.chars().any(char::is_control))
    {
        return Err(bad(&format!("{side}.admin"), "is not a login"));
    }
    if let Some(d) = &e.dav {
        let field = format!("{side}.dav");
        let u = url_parse(d).map_err(|m| bad(&field, m))?;
        if !matches!(u.0.as_str(), "http" | "https") {
            return Err(bad(&field, "must start with http:// or https://"));
        }
        if u.1 {
            return Err(bad(&field, "must not contain a password"));
        }
    }
    Ok(ep)
}

/// The scheme of a URL and whether it carries a password, without echoing it.
fn url_parse(s: &str) -> Result<(String, bool), String> {
    let (scheme, rest) = s
        .split_once("://")
        .ok_or_else(|| "is not a URL".to_string())?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let has_password = authority
        .rsplit_once('@')
        .is_some_and(|(userinfo, _)| userinfo.contains(':'));
    Ok((scheme.to_ascii_lowercase(), has_password))
}

/// A DNS name (letters, digits, `-`, `_`, dots between labels) or an IP address.
fn plausible_host(h: &str) -> bool {
    if h.parse::<std::net::IpAddr>().is_ok() {
        return true;
    }
    !h.is_empty()
        && h.len() <= 253
        && h.trim_end_matches('.').split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// A plausible e-mail address (the SMTP server has the last word).
pub fn plausible_address(s: &str) -> bool {
    let Some((local, domain)) = s.rsplit_once('@') else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && s.len() <= 254
        && !s
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == ',')
}

impl CreateMigration {
    /// Checks every field; the first problem found is returned.
    pub fn validate(&self) -> Result<ValidMigration, FieldError> {
        let source = endpoint("source", &self.source)?;
        let destination = endpoint("destination", &self.destination)?;
        if destination.protocol == Protocol::Pop3 {
            return Err(bad(
                "destination.url",
                "is a POP3 account: POP3 can only be a source (use imap://, imap+starttls:// or imaps://)",
            ));
        }
        let mut content = Vec::new();
        for (i, c) in self.content.iter().enumerate() {
            let k: ContentKind = c.parse().map_err(|_| {
                bad(
                    &format!("content[{i}]"),
                    format!(
                        "unknown content kind {c:?}: expected mail, contacts, calendars or tasks"
                    ),
                )
            })?;
            if !content.contains(&k) {
                content.push(k);
            }
        }
        if content.is_empty() {
            content.push(ContentKind::Mail);
        }
        let wants_dav = content.iter().any(|k| *k != ContentKind::Mail);
        if wants_dav {
            if self.source.dav.is_none() {
                return Err(bad(
                    "source.dav",
                    "is required for contacts, calendars and tasks",
                ));
            }
            if self.destination.dav.is_none() {
                return Err(bad(
                    "destination.dav",
                    "is required for contacts, calendars and tasks",
                ));
            }
        }
        if let Some(n) = &self.notify
            && !plausible_address(n)
        {
            return Err(bad("notify", "is not an e-mail address"));
        }
        let lang = match &self.lang {
            Some(l) if matches!(l.as_str(), "fr" | "en") => Some(l.clone()),
            Some(_) => return Err(bad("lang", "must be fr or en")),
            None => None,
        };
        let start_at = match &self.start_at {
            Some(s) => Some(parse_rfc3339(s).ok_or_else(|| {
                bad(
                    "start_at",
                    "is not an RFC 3339 date and time (2026-12-01T08:00:00Z)",
                )
            })?),
            None => None,
        };
        let gmail_archive_folder = match self.gmail_archive_folder.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(f) if f.len() > 255 || f.chars().any(char::is_control) => {
                return Err(bad(
                    "gmail_archive_folder",
                    "must be a folder path of at most 255 bytes, without control characters",
                ));
            }
            Some(f) if f.split('/').any(|p| p.trim().is_empty()) => {
                return Err(bad(
                    "gmail_archive_folder",
                    "has an empty folder name between its / separators",
                ));
            }
            Some(f) => Some(f.to_string()),
        };
        Ok(ValidMigration {
            source,
            destination,
            source_password: Zeroizing::new(self.source.password.clone()),
            destination_password: Zeroizing::new(self.destination.password.clone()),
            source_oauth: self.source.oauth.as_ref().map(OAuthIn::token_file),
            destination_oauth: self.destination.oauth.as_ref().map(OAuthIn::token_file),
            source_admin: self.source.admin.clone(),
            destination_admin: self.destination.admin.clone(),
            source_dav: self.source.dav.clone(),
            destination_dav: self.destination.dav.clone(),
            content,
            notify: self.notify.clone(),
            start_at,
            lang,
            gmail_archive_folder,
            source_sign_in: self.source.sign_in_later,
            destination_sign_in: self.destination.sign_in_later,
        })
    }
}

/// `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)` to Unix seconds.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20 || !s.is_ascii() {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> { s.get(r)?.parse().ok() };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, se) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') || b[13] != b':' {
        return None;
    }
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    let mut i = 19;
    if b.get(i) == Some(&b'.') {
        i += 1;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
    }
    let offset = match b.get(i)? {
        b'Z' | b'z' if i + 1 == b.len() => 0,
        sign @ (b'+' | b'-') if i + 6 == b.len() && b[i + 3] == b':' => {
            let oh = num(i + 1..i + 3)?;
            let om = num(i + 4..i + 6)?;
            let o = oh * 3600 + om * 60;
            if *sign == b'+' { o } else { -o }
        }
        _ => return None,
    };
    // Days from civil (proleptic Gregorian).
    let (yy, mm) = if mo <= 2 {
        (y - 1, mo + 9)
    } else {
        (y, mo - 3)
    };
    let era = yy.div_euclid(400);
    let yoe = yy - era * 400;
    let doy = (153 * mm + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + h * 3600 + mi * 60 + se - offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_dates() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_rfc3339("2026-12-01T08:00:00+01:00"),
            Some(1_796_108_400)
        );
        assert_eq!(
            parse_rfc3339("2026-12-01T07:00:00.250Z"),
            Some(1_796_108_400)
        );
        for bad in [
            "2026-13-01T00:00:00Z",
            "2026-12-01",
            "tomorrow",
            "2026-12-01T00:00:00é0",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }

    #[test]
    fn hosts() {
        for ok in [
            "imap.example.org",
            "localhost",
            "127.0.0.1",
            "::1",
            "mail-1.ex_ample.fr.",
        ] {
            assert!(plausible_host(ok), "{ok}");
        }
        for bad in ["bad host", "a..b", "-a.org", "ex!ample.org", "", "a/b"] {
            assert!(!plausible_host(bad), "{bad}");
        }
    }

    #[test]
    fn addresses() {
        assert!(plausible_address("alice@example.org"));
        for bad in ["alice", "a@b", "a b@c.org", "@c.org", "a@c.org,b@d.org"] {
            assert!(!plausible_address(bad), "{bad}");
        }
    }
}
