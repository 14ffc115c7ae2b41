//! Contacts, calendars and tasks, account to account over CardDAV/CalDAV.
//!
//! [`run_dav_pass`] copies every wanted source collection into a destination collection of the
//! same name (created when missing) with [`dav_sink::copy_collection`], which does the
//! exactly-once work against the servers; this module feeds it what the item map knows and
//! records each outcome there:
//!
//! - item map key: (kind, source collection href, source resource href); fingerprint = source
//!   ETag, `dst_key` = destination href, `flags` = destination ETag, `pass` = the pass that first
//!   copied it (an update keeps it, so "purge from pass N" removes only what N created);
//! - per collection ([`passeur_store::DavCollectionState`]): the destination href and the
//!   source's sync token, so the next pass asks only for what changed.
//!
//! [`purge_dav`] deletes our destination resources (from a pass on); [`verify_dav`] compares each
//! collection pair by UID and key properties.

use std::collections::HashMap;

use passeur_dav::srv::{Service, discover_domain};
use passeur_dav::{Collection, CollectionKind, ComponentKind, DavClient, DavConfig, DavError};
use passeur_store::{DavCollectionState, Item, PassCounters, Store};
use passeur_types::{ContentKind, MigrationId};
use percent_encoding::utf8_percent_encode;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::dav_sink::ledger::{DavLedger, Fingerprint, Rows, copy_recorded};
use crate::dav_sink::{self, CopyOptions, ItemEvent, KnownItem, OnConflict};
use crate::{Control, EngineError, Event, RunContext, Side};

/// One side of a DAV migration.
#[derive(Clone)]
pub struct DavAccount {
    /// The server, principal or home URL (`https://dav.example/`).
    pub url: url::Url,
    /// The login name.
    pub username: String,
    /// The password (of the login, or of the admin acting for it); wiped on drop.
    pub password: Zeroizing<String>,
    /// Accept any TLS certificate (test servers only).
    pub insecure_tls: bool,
    /// Log in as this admin on behalf of `username` (the password is then the admin's); the
    /// URL must lead to the user's principal (a server root means `/USER/`).
    pub admin: Option<String>,
    /// The DNS server for RFC 6764 discovery of a bare domain (default: the system's).
    pub dns_server: Option<std::net::SocketAddr>,
    /// Allow Basic authentication over clear-text `http://` to a host other than loopback.
    pub allow_plaintext: bool,
    /// Which addresses the server may resolve to.
    pub address_policy: passeur_net::AddressPolicy,
    /// The password is an OAuth 2.0 access token (`Authorization: Bearer`).
    pub bearer: bool,
    /// The side's token, renewed during the DAV part of a pass as during the mail part (once
    /// per side: the source is shared).
    pub oauth: Option<std::sync::Arc<passeur_oauth::TokenSource>>,
}

impl std::fmt::Debug for DavAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DavAccount")
            .field("url", &self.url.as_str())
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

impl DavAccount {
    /// An account from a URL (`http(s)://[USER@]HOST[:PORT][/PATH]`); a user name in the URL
    /// wins over `username` and is removed from the URL.
    pub fn parse(
        url: &str,
        username: &str,
        password: Zeroizing<String>,
        insecure_tls: bool,
    ) -> Result<DavAccount, EngineError> {
        // A bare domain (`example.org`, `user@example.org`) is found through DNS (RFC 6764).
        let full = if url.contains("://") {
            url.to_owned()
        } else {
            format!("dns://{url}")
        };
        // The URL as it may be shown: without what follows a ':' in the user information.
        let safe = redact_userinfo(url);
        let mut u = url::Url::parse(&full)
            .map_err(|e| EngineError::Config(format!("cannot read the DAV URL {safe:?}: {e}")))?;
        if u.password().is_some() {
            return Err(EngineError::Config(format!(
                "cannot use the DAV URL {safe:?}: it carries a password; give the password separately, never in the URL"
            )));
        }
        if !matches!(u.scheme(), "http" | "https" | "dns") || u.host_str().is_none() {
            return Err(EngineError::Config(format!(
                "cannot use the DAV URL {safe:?}: expected http://, https:// or a domain name"
            )));
        }
        let mut user = username.to_string();
        if !u.username().is_empty() {
            user = percent_decode(u.username());
        }
        let _ = u.set_username("");
        let _ = u.set_password(None);
        if user.is_empty() {
            return Err(EngineError::Config(format!(
                "cannot log in to {safe}: no DAV user name"
            )));
        }
        Ok(DavAccount {
            url: u,
            username: user,
            password,
            insecure_tls,
            admin: None,
            dns_server: None,
            allow_plaintext: false,
            address_policy: passeur_net::AddressPolicy::permissive(),
            bearer: false,
            oauth: None,
        })
    }

    /// The same account logging in with the current access token of `oauth` (when given)
    /// instead of its password.
    pub async fn with_oauth(
        mut self,
        oauth: Option<&std::sync::Arc<passeur_oauth::TokenSource>>,
        side: Side,
    ) -> Result<DavAccount, EngineError> {
        if let Some(ts) = oauth {
            if self.admin.is_some() {
                return Err(EngineError::Config(format!(
                    "{side}: an OAuth 2.0 token logs in as its own user: it cannot be combined with an admin"
                )));
            }
            let token = ts
                .access_token()
                .await
                .map_err(|e| EngineError::oauth(side, e))?;
            self.password = Zeroizing::new(token.expose().to_owned());
            self.bearer = true;
            self.oauth = Some(ts.clone());
        }
        Ok(self)
    }

    /// The same account, discovered through the DNS server `server` (see [`crate::dns::Dns`]).
    pub fn with_dns(mut self, server: Option<std::net::SocketAddr>) -> DavAccount {
        self.dns_server = server;
        self
    }

    /// The same account, discovered through `server` (see [`DavAccount::with_dns`]), reaching
    /// only the addresses `opts` allows, with clear-text Basic auth off loopback only if `opts`
    /// allows it.
    pub fn with_net(
        self,
        server: Option<std::net::SocketAddr>,
        opts: &crate::RunOptions,
    ) -> DavAccount {
        let mut a = self.with_dns(server);
        a.address_policy = opts.address_policy;
        a.allow_plaintext = opts.allow_plaintext;
        a
    }

    /// The same account reached through `admin` (see [`DavAccount::admin`]).
    pub fn with_admin(mut self, admin: Option<String>) -> DavAccount {
        self.admin = admin.filter(|a| !a.is_empty());
        self
    }

    /// The URL without secrets, with the user name (`http://user@host:port/`), for display and
    /// for identifying a migration.
    pub fn display_url(&self) -> String {
        let mut u = self.url.clone();
        let _ = u.set_username(&self.username);
        u.to_string()
    }

    /// A client for this account. For a domain (`dns://`), the server is found with RFC 6764:
    /// the `_caldavs`/`_caldav` then `_carddavs`/`_carddav` SRV records (and TXT `path=`), then
    /// `https://DOMAIN/.well-known/...`; the first candidate whose discovery works is used.
    pub async fn connect(&self, side: Side) -> Result<DavClient, EngineError> {
        if self.url.scheme() != "dns" {
            return self.client(side);
        }
        let domain = self.url.host_str().unwrap_or_default().to_owned();
        let dns = crate::dns::Dns::new(self.dns_server)?;
        let mut cfg = DavConfig::new(
            self.url.clone(),
            self.username.clone(),
            self.password.as_str(),
        );
        cfg.insecure_tls = self.insecure_tls;
        cfg.allow_plaintext = self.allow_plaintext;
        cfg.address_policy = self.address_policy;
        cfg.bearer = self.bearer;
        cfg.oauth = self.oauth.clone();
        let mut last = None;
        for service in [Service::CalDav, Service::CardDav] {
            match discover_domain(&cfg, &domain, service, &dns).await {
                Ok((client, _)) => return Ok(client),
                Err(e @ DavError::Auth { .. }) => {
                    return Err(EngineError::dav(side, "log in to the DAV server", e));
                }
                Err(e) => last = Some(e),
            }
        }
        Err(match last {
            Some(e) => EngineError::dav(side, "find the DAV server of the domain", e),
            None => EngineError::Config(format!("cannot find a DAV server for {domain}")),
        })
    }

    fn client(&self, side: Side) -> Result<DavClient, EngineError> {
        let mut cfg = DavConfig::new(
            self.url.clone(),
            self.username.clone(),
            self.password.as_str(),
        );
        cfg.insecure_tls = self.insecure_tls;
        cfg.allow_plaintext = self.allow_plaintext;
        cfg.address_policy = self.address_policy;
        cfg.bearer = self.bearer;
        cfg.oauth = self.oauth.clone();
        if let Some(admin) = &self.admin {
            if self.url.path() == "/" {
                let principal = format!("/{}/", utf8_percent_encode(&self.username, PATH_SEGMENT));
                cfg.base_url = self.url.join(&principal).map_err(|e| {
                    EngineError::Config(format!(
                        "cannot address {}'s principal: {e}",
                        self.username
                    ))
                })?;
            }
            cfg.authzid_or_admin = Some(passeur_dav::AdminLogin {
                username: admin.clone(),
                password: self.password.as_str().into(),
            });
        }
        DavClient::new(cfg).map_err(|e| EngineError::dav(side, "set up the DAV client", e))
    }
}

/// `url` with the password of its user information (`user:PASSWORD@`) replaced, for messages.
fn redact_userinfo(url: &str) -> String {
    let start = url.find("://").map_or(0, |i| i + 3);
    let end = url[start..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |i| start + i);
    match url[start..end].rfind('@') {
        Some(at) => {
            let info = &url[start..start + at];
            match info.find(':') {
                Some(c) => format!(
                    "{}{}:[redacted]{}",
                    &url[..start],
                    &info[..c],
                    &url[start + at..]
                ),
                None => url.to_owned(),
            }
        }
        None => url.to_owned(),
    }
}

/// What a path segment must escape.
const PATH_SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
    .add(b' ')
    .add(b'/')
    .add(b'%')
    .add(b'?')
    .add(b'#');

fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

/// Options of a DAV pass.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct DavOptions {
    /// Replace destination resources with the same UID that this migration did not write
    /// (default: leave them and report a conflict).
    #[serde(default)]
    pub overwrite_conflicts: bool,
    /// List what would be copied, copy nothing.
    #[serde(default)]
    pub dry_run: bool,
    /// Ignore stored sync tokens and list every collection in full.
    #[serde(default)]
    pub full: bool,
    /// Writes in flight at once on the destination (0: the DAV client's default).
    #[serde(default)]
    pub parallel_writes: usize,
}

/// What one collection pass did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DavCollectionReport {
    /// What the collection is copied as (contacts, calendars or tasks).
    pub kind: Option<ContentKind>,
    /// The source collection's display name (else its href).
    pub name: String,
    /// The source collection.
    pub src_href: String,
    /// The destination collection.
    pub dst_href: String,
    /// The destination collection was created by this pass.
    pub created: bool,
    /// Items the source listed (only changes, when its sync token was used).
    pub listed: u64,
    /// New resources written (and resources found already there after a crash).
    pub copied: u64,
    /// Resources rewritten because they changed on the source.
    pub updated: u64,
    /// Resources copied earlier and unchanged since.
    pub unchanged: u64,
    /// Resources found already written at their href (a resumed run).
    pub already_there: u64,
    /// UIDs the destination holds from elsewhere, left alone.
    pub conflicts: u64,
    /// Items that could not be copied (listed in the failures).
    pub failed: u64,
    /// Items the destination refused as they were and took repaired (what changed is in the
    /// migration's notes).
    #[serde(default)]
    pub repaired: u64,
    /// Bytes written.
    pub bytes: u64,
    /// Items copied earlier that the source no longer has (left on the destination).
    pub deleted_on_source: u64,
    /// The collection could not be finished.
    pub error: Option<String>,
}

/// What a DAV pass did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DavPassReport {
    /// The pass number (0 for a dry run).
    pub pass: u32,
    /// True when nothing was written or recorded.
    pub dry_run: bool,
    /// One report per source collection, in the order they were copied.
    pub collections: Vec<DavCollectionReport>,
    /// copied = new resources (+ AlreadyThere), flags_updated = updated resources.
    #[serde(skip)]
    pub counters: PassCounters,
    /// Stopped before every collection was copied.
    pub cancelled: bool,
}

impl DavPassReport {
    /// Every collection finished and no item failed or conflicted.
    pub fn complete(&self) -> bool {
        !self.cancelled
            && self
                .collections
                .iter()
                .all(|c| c.error.is_none() && c.failed == 0 && c.conflicts == 0)
    }
}

/// The content kind a source collection is copied as, given the wanted kinds; `None` when it is
/// not wanted. A calendar holding both events and tasks counts as `Calendars` when calendars
/// are wanted; only the wanted components of it are copied (see `wanted_components`).
pub fn collection_kind(kind: &CollectionKind, wanted: &[ContentKind]) -> Option<ContentKind> {
    match kind {
        CollectionKind::AddressBook => wanted
            .contains(&ContentKind::Contacts)
            .then_some(ContentKind::Contacts),
        CollectionKind::Calendar { components } => {
            if components.contains(&ComponentKind::Event)
                && wanted.contains(&ContentKind::Calendars)
            {
                Some(ContentKind::Calendars)
            } else if components.contains(&ComponentKind::Todo)
                && wanted.contains(&ContentKind::Tasks)
            {
                Some(ContentKind::Tasks)
            } else {
                None
            }
        }
    }
}

/// The calendar components to copy from a collection of `kind` when `wanted` are the wanted
/// content kinds: empty (everything) unless the collection holds a kind that is not wanted, as
/// a calendar of events and tasks does when only tasks are wanted.
fn wanted_components(kind: &CollectionKind, wanted: &[ContentKind]) -> Vec<ComponentKind> {
    let CollectionKind::Calendar { components } = kind else {
        return Vec::new();
    };
    let mut out = Vec::new();
    if wanted.contains(&ContentKind::Calendars) {
        out.extend([ComponentKind::Event, ComponentKind::Journal]);
    }
    if wanted.contains(&ContentKind::Tasks) {
        out.push(ComponentKind::Todo);
    }
    if components.iter().all(|c| out.contains(c)) {
        Vec::new()
    } else {
        out
    }
}

/// The wanted collections of one account, address books first.
async fn source_collections(
    c: &DavClient,
    wanted: &[ContentKind],
) -> Result<(passeur_dav::Homes, Vec<(ContentKind, Collection)>), EngineError> {
    let homes = c
        .discover()
        .await
        .map_err(|e| EngineError::dav(Side::Source, "discover the DAV homes", e))?;
    let mut out = Vec::new();
    let mut homes_seen: Vec<&url::Url> = Vec::new();
    for home in [&homes.addressbook_home, &homes.calendar_home]
        .into_iter()
        .flatten()
    {
        if homes_seen.contains(&home) {
            continue;
        }
        homes_seen.push(home);
        let list = c
            .list_collections(home)
            .await
            .map_err(|e| EngineError::dav(Side::Source, "list collections", e))?;
        for coll in list {
            if let Some(k) = collection_kind(&coll.kind, wanted) {
                out.push((k, coll));
            }
        }
    }
    out.sort_by(|a, b| (a.0, &a.1.href).cmp(&(b.0, &b.1.href)));
    out.dedup_by(|a, b| a.1.href == b.1.href);
    Ok((homes, out))
}

fn known_of(items: &HashMap<String, Item>) -> HashMap<String, KnownItem> {
    items
        .values()
        .filter_map(|i| {
            Some((
                i.src_key.clone(),
                KnownItem {
                    src_etag: i.fingerprint.clone(),
                    dst_href: i.dst_key.clone()?,
                    dst_etag: i.etag.clone(),
                },
            ))
        })
        .collect()
}

/// Copies the wanted contacts, calendars and tasks of `src` to `dst` as pass `pass` of
/// migration `id` (see the module docs). Per-item problems are recorded as failures and the
/// pass goes on; a collection that cannot be finished (network, server error) is reported with
/// its error and the next one is tried.
pub async fn run_dav_pass(
    rc: &RunContext,
    src: &DavAccount,
    dst: &DavAccount,
    kinds: &[ContentKind],
    opts: &DavOptions,
) -> Result<DavPassReport, EngineError> {
    let (store, id, pass, events, cancel) =
        (&rc.store, rc.migration, rc.pass, &rc.events, &rc.cancel);
    let s = src.connect(Side::Source).await?;
    let d = dst.connect(Side::Destination).await?;
    let (_, colls) = source_collections(&s, kinds).await?;
    let dst_homes = d
        .discover()
        .await
        .map_err(|e| EngineError::dav(Side::Destination, "discover the DAV homes", e))?;
    let states: HashMap<String, DavCollectionState> = store
        .dav_collections(id)
        .await?
        .into_iter()
        .map(|c| (c.src_href.clone(), c))
        .collect();
    let mut report = DavPassReport {
        pass,
        dry_run: opts.dry_run,
        ..Default::default()
    };
    events.send(Event::Planned {
        folders: colls.len(),
        messages: 0,
        known: 0,
    });
    let pair = Pair {
        s: &s,
        d: &d,
        dst_homes: &dst_homes,
        wanted: kinds,
        opts,
    };
    for (kind, sc) in colls {
        if cancel.is_cancelled() {
            report.cancelled = true;
            break;
        }
        let name = sc.displayname.clone().unwrap_or_else(|| sc.href.clone());
        let mut cr = DavCollectionReport {
            kind: Some(kind),
            name: name.clone(),
            src_href: sc.href.clone(),
            ..Default::default()
        };
        let r = copy_one(rc, &pair, kind, &sc, states.get(&sc.href), &mut cr).await;
        if let Err(e) = r {
            tracing::warn!("{name}: {e}");
            cr.error = Some(e.to_string());
        }
        report.counters.copied += cr.copied + cr.already_there;
        report.counters.flags_updated += cr.updated;
        report.counters.bytes += cr.bytes;
        report.counters.failed += cr.failed + cr.conflicts;
        report.collections.push(cr);
    }
    Ok(report)
}

/// The two connected servers of a DAV pass and what the pass copies.
struct Pair<'a> {
    s: &'a DavClient,
    d: &'a DavClient,
    dst_homes: &'a passeur_dav::Homes,
    wanted: &'a [ContentKind],
    opts: &'a DavOptions,
}

async fn copy_one(
    rc: &RunContext,
    pair: &Pair<'_>,
    kind: ContentKind,
    sc: &Collection,
    state: Option<&DavCollectionState>,
    cr: &mut DavCollectionReport,
) -> Result<(), EngineError> {
    let (store, id, events) = (&rc.store, rc.migration, &rc.events);
    let Pair {
        s,
        d,
        dst_homes,
        wanted,
        opts,
    } = *pair;
    let ledger = DavLedger {
        store,
        id,
        pass: rc.pass,
        events,
    };
    let recorded = ledger.recorded(&[kind], &sc.href).await?;
    let known = known_of(&recorded);

    if opts.dry_run {
        let listed = s
            .list_items(sc)
            .await
            .map_err(|e| EngineError::dav(Side::Source, "list items", e))?;
        cr.listed = listed.len() as u64;
        for i in &listed {
            match known.get(&i.href) {
                Some(k) if k.src_etag == i.etag => cr.unchanged += 1,
                Some(_) => cr.updated += 1,
                None => cr.copied += 1,
            }
        }
        events.send(Event::FolderScanned {
            folder: cr.name.clone(),
            to_copy: cr.copied + cr.updated,
            bytes: 0,
        });
        return Ok(());
    }

    // The destination collection: the one used before, else one of the same name.
    let home = dst_homes.home_for(&sc.kind).ok_or_else(|| {
        EngineError::dav(
            Side::Destination,
            "find a home for this kind of collection",
            DavError::Discovery {
                url: d.base_url().to_string(),
                reason: format!(
                    "no {} home",
                    if sc.kind.is_calendar() {
                        "calendar"
                    } else {
                        "address book"
                    }
                ),
            },
        )
    })?;
    let previous = match state {
        Some(st) => d
            .get_collection(&st.dst_href)
            .await
            .map_err(|e| EngineError::dav(Side::Destination, "read a collection", e))?,
        None => None,
    };
    let dc = match previous {
        Some(c) => c,
        None => {
            // Nothing is created on the destination for a source collection that cannot be
            // read: an unreadable source would otherwise leave an empty collection behind.
            s.list_items(sc)
                .await
                .map_err(|e| EngineError::dav(Side::Source, "list items", e))?;
            let (c, created) = d
                .ensure_collection(home, sc)
                .await
                .map_err(|e| EngineError::dav(Side::Destination, "create a collection", e))?;
            cr.created = created;
            c
        }
    };
    cr.dst_href = dc.href.clone();
    // A token is only good if the item map still matches what it was taken against (a
    // previous destination collection, a full run).
    let token = state
        .filter(|st| !opts.full && st.dst_href == dc.href)
        .and_then(|st| st.sync_token.clone());
    let copy_opts = CopyOptions {
        on_conflict: if opts.overwrite_conflicts {
            OnConflict::Overwrite
        } else {
            OnConflict::Skip
        },
        convert_vcard_to: None,
        sync_token: token,
        concurrency: opts.parallel_writes,
        components: wanted_components(&sc.kind, wanted),
        // Items a purge removed stay removed.
        skip: store.purged_keys(id, kind, &sc.href).await?,
    };
    let key = |href: &str, _: Option<&str>| Some((kind, href.to_owned()));
    let failure = |e: &ItemEvent| failure_of(kind, e);
    let rows = Rows {
        folder: &sc.href,
        display: &cr.name,
        dst_folder: &dc.href,
        recorded: &recorded,
        fingerprint: Fingerprint::SourceEtag,
        key: &key,
        failure: &failure,
    };
    // What was done is recorded even when the copy stopped half-way.
    let (result, t) = copy_recorded(ledger, &rows, (s, sc), (d, &dc), &known, &copy_opts).await?;
    cr.copied += t.copied;
    cr.already_there += t.already_there;
    cr.updated += t.updated;
    cr.bytes += t.bytes;
    cr.repaired += t.repaired;
    cr.failed += t.failed;
    cr.conflicts += t.conflicts.len() as u64;
    let rep = result.map_err(|e| EngineError::dav(e.side, "copy a collection", e.source))?;
    cr.listed = rep.listed as u64;
    cr.unchanged = rep.unchanged as u64;
    cr.deleted_on_source = rep.deleted_on_source.len() as u64;
    // Keep the new token only when nothing failed: failed items must be listed again.
    let clean = cr.failed == 0 && cr.conflicts == 0;
    store
        .put_dav_collection(
            id,
            &DavCollectionState {
                src_href: sc.href.clone(),
                kind,
                dst_href: dc.href.clone(),
                sync_token: if clean {
                    rep.new_sync_token
                } else {
                    state.and_then(|s| s.sync_token.clone())
                },
            },
        )
        .await?;
    Ok(())
}

/// The failure recorded for an item of a collection that was not written: a conflict, or a
/// refusal (keyed by its source href).
fn failure_of(kind: ContentKind, e: &ItemEvent) -> Option<(ContentKind, String, String)> {
    match e {
        ItemEvent::Conflict {
            uid,
            src_href,
            dst_href,
        } => Some((
            kind,
            src_href.clone(),
            format!(
                "UID {uid} already exists on the destination at {dst_href} (not written by this migration); left alone"
            ),
        )),
        ItemEvent::Failed {
            src_href,
            uid,
            error,
        } => Some((
            kind,
            src_href.clone(),
            match uid {
                Some(u) => format!("UID {u}: {error}"),
                None => error.clone(),
            },
        )),
        _ => None,
    }
}

/// DAV items deleted between two writes of the item map during a purge.
const PURGE_RECORD_EVERY: usize = 100;

/// What [`purge_dav`] did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DavPurgeReport {
    /// Resources deleted from the destination (and from the item map).
    pub deleted: u64,
    /// Items left in place: changed on the destination since we wrote them (ETag differs), or
    /// refused by the server; they stay in the item map.
    pub skipped: u64,
    /// Items already gone from the destination (removed from the map).
    pub gone: u64,
    /// What the user should know about the purge, one sentence each.
    pub notes: Vec<String>,
    /// Stopped before the end: what is not deleted stays in the item map.
    pub cancelled: bool,
}

/// Deletes from the destination the contacts, events and tasks migration `id` wrote in pass
/// `from_pass` or later (any non-mail item of the map with a destination href), under
/// `If-Match` on the recorded ETag so that a resource changed since is left alone.
pub async fn purge_dav(
    store: &Store,
    id: MigrationId,
    dst: &DavAccount,
    from_pass: u32,
    dry_run: bool,
    control: &Control,
) -> Result<DavPurgeReport, EngineError> {
    let items = dav_items_from(store, id, from_pass).await?;
    if items.is_empty() {
        return Ok(DavPurgeReport::default());
    }
    let d = dst.connect(Side::Destination).await?;
    purge_dav_items(store, id, &d, items, dry_run, true, control).await
}

/// Deletes from `d` the contacts, events and tasks of migration `id` written in pass
/// `from_pass` or later, each with `If-Match` on the ETag it had when written: one changed on
/// the destination since is reported and left in place. With `remember` (a migration), later
/// passes leave the purged items alone; without (a file import), they are forgotten.
pub async fn purge_dav_with(
    store: &Store,
    id: MigrationId,
    d: &DavClient,
    from_pass: u32,
    dry_run: bool,
    remember: bool,
    control: &Control,
) -> Result<DavPurgeReport, EngineError> {
    let items = dav_items_from(store, id, from_pass).await?;
    purge_dav_items(store, id, d, items, dry_run, remember, control).await
}

/// The contacts, events and tasks of migration `id` written in pass `from_pass` or later.
async fn dav_items_from(
    store: &Store,
    id: MigrationId,
    from_pass: u32,
) -> Result<Vec<Item>, EngineError> {
    Ok(store
        .items_from_pass(id, from_pass)
        .await?
        .into_iter()
        .filter(|i| i.kind != ContentKind::Mail)
        .collect())
}

/// Deletes `items` one by one, stopping between two when `control` is cancelled. What is
/// deleted is recorded every [`PURGE_RECORD_EVERY`] items and at the end, so a purge stopped
/// half-way leaves the item map true (and one cut short finds the rest gone, not deletes it
/// twice).
async fn purge_dav_items(
    store: &Store,
    id: MigrationId,
    d: &DavClient,
    items: Vec<Item>,
    dry_run: bool,
    remember: bool,
    control: &Control,
) -> Result<DavPurgeReport, EngineError> {
    let mut report = DavPurgeReport::default();
    let mut removed: Vec<&Item> = Vec::new();
    let mut touched: Vec<&str> = Vec::new();
    if !items.is_empty() {
        control.events.send(Event::Purging {
            items: items.len() as u64,
        });
    }
    for i in &items {
        if control.cancel.is_cancelled() {
            report.cancelled = true;
            break;
        }
        if removed.len() >= PURGE_RECORD_EVERY {
            crate::purge::forget(store, id, &removed, remember).await?;
            removed.clear();
        }
        let Some(href) = i.dst_key.as_deref().filter(|_| !i.pending) else {
            report.skipped += 1;
            continue;
        };
        let purged = Event::Purged {
            folder: i.src_folder.clone(),
            items: 1,
        };
        if dry_run {
            report.deleted += 1;
            control.events.send(purged);
            continue;
        }
        let etag = i.etag.as_deref();
        match d.delete(href, etag).await {
            Ok(true) => {
                report.deleted += 1;
                removed.push(i);
                touched.push(&i.src_folder);
                control.events.send(purged);
            }
            Ok(false) => {
                report.gone += 1;
                removed.push(i);
                touched.push(&i.src_folder);
                control.events.send(purged);
            }
            Err(DavError::Http { status: 412, .. }) => {
                report.skipped += 1;
                report.notes.push(format!(
                    "{href}: changed on the destination since it was copied; left in place"
                ));
            }
            Err(e @ DavError::Http { .. }) if !e.is_retryable() => {
                report.skipped += 1;
                report.notes.push(format!("{href}: {e}"));
            }
            Err(e) => {
                // Record what is done so far before giving up.
                crate::purge::forget(store, id, &removed, remember).await?;
                return Err(EngineError::dav(Side::Destination, "delete an item", e));
            }
        }
    }
    if !dry_run {
        crate::purge::forget(store, id, &removed, remember).await?;
        // The next pass must list these collections in full (the deleted items are no longer
        // known, and an incremental sync would not list them again).
        touched.sort_unstable();
        touched.dedup();
        for st in store.dav_collections(id).await? {
            if touched.contains(&st.src_href.as_str()) && st.sync_token.is_some() {
                store
                    .put_dav_collection(
                        id,
                        &DavCollectionState {
                            sync_token: None,
                            ..st
                        },
                    )
                    .await?;
            }
        }
    }
    Ok(report)
}

/// The comparison of one collection pair.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DavCollectionCheck {
    /// What the collection is copied as.
    pub kind: Option<ContentKind>,
    /// The source collection's display name (else its href).
    pub name: String,
    /// The source collection.
    pub src_href: String,
    /// The destination collection.
    pub dst_href: String,
    /// Objects on the source that are expected on the destination.
    pub source_items: u64,
    /// Resources on the destination.
    pub destination_items: u64,
    /// Source UIDs missing on the destination.
    pub missing: Vec<String>,
    /// Destination UIDs the source does not have (there before, or deleted on the source).
    pub extra: u64,
    /// `UID field: source != destination`.
    pub differing: Vec<String>,
    /// The destination collection recorded for it no longer exists.
    pub destination_missing: bool,
    /// Why the pair could not be compared, if it could not.
    pub error: Option<String>,
}

impl DavCollectionCheck {
    /// True when every source object is on the destination with the same key properties.
    pub fn ok(&self) -> bool {
        self.missing.is_empty()
            && self.differing.is_empty()
            && !self.destination_missing
            && self.error.is_none()
    }
}

/// The comparison of every wanted collection.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DavVerifyReport {
    /// One comparison per collection pair.
    pub collections: Vec<DavCollectionCheck>,
    /// Stopped before every collection was compared.
    pub cancelled: bool,
}

impl DavVerifyReport {
    /// True when the comparison ran to the end and every collection pair is OK.
    pub fn ok(&self) -> bool {
        !self.cancelled && self.collections.iter().all(DavCollectionCheck::ok)
    }
}

/// Compares each wanted source collection with its destination (the one the migration used,
/// else the one a pass would pick), by UID and key properties. Read-only on both sides.
pub async fn verify_dav(
    store: &Store,
    id: MigrationId,
    src: &DavAccount,
    dst: &DavAccount,
    kinds: &[ContentKind],
    control: &Control,
) -> Result<DavVerifyReport, EngineError> {
    let s = src.connect(Side::Source).await?;
    let d = dst.connect(Side::Destination).await?;
    let (_, colls) = source_collections(&s, kinds).await?;
    let dst_homes = d
        .discover()
        .await
        .map_err(|e| EngineError::dav(Side::Destination, "discover the DAV homes", e))?;
    let states: HashMap<String, DavCollectionState> = store
        .dav_collections(id)
        .await?
        .into_iter()
        .map(|c| (c.src_href.clone(), c))
        .collect();
    let mut report = DavVerifyReport::default();
    control.events.send(Event::Verifying {
        folders: colls.len(),
    });
    for (kind, sc) in colls {
        if control.cancel.is_cancelled() {
            report.cancelled = true;
            break;
        }
        let mut check = DavCollectionCheck {
            kind: Some(kind),
            name: sc.displayname.clone().unwrap_or_else(|| sc.href.clone()),
            src_href: sc.href.clone(),
            ..Default::default()
        };
        let dc = match states.get(&sc.href) {
            Some(st) => d.get_collection(&st.dst_href).await,
            None => match dst_homes.home_for(&sc.kind) {
                Some(home) => d.list_collections(home).await.map(|l| {
                    l.into_iter().find(|c| {
                        c.kind.is_calendar() == sc.kind.is_calendar()
                            && (c.slug() == sc.slug()
                                || (c.displayname.is_some() && c.displayname == sc.displayname))
                    })
                }),
                None => Ok(None),
            },
        };
        match dc {
            Ok(Some(dc)) => {
                check.dst_href = dc.href.clone();
                let only = wanted_components(&sc.kind, kinds);
                let purged = store.purged_keys(id, kind, &sc.href).await?;
                match dav_sink::verify_collection(&s, &sc, &d, &dc, &only, &purged).await {
                    Ok(v) => {
                        check.source_items = v.src_count as u64;
                        check.destination_items = v.dst_count as u64;
                        check.missing = v.missing;
                        check.extra = v.extra.len() as u64;
                        check.differing = v
                            .differing
                            .into_iter()
                            .map(|x| format!("{} {}: {:?} != {:?}", x.uid, x.field, x.src, x.dst))
                            .collect();
                    }
                    Err(e) => check.error = Some(e.to_string()),
                }
            }
            Ok(None) => check.destination_missing = true,
            Err(e) => check.error = Some(e.to_string()),
        }
        control.events.send(Event::Verified {
            folder: check.name.clone(),
            ok: check.ok(),
        });
        report.collections.push(check);
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collections_are_picked_by_kind() {
        let cal = |c: Vec<ComponentKind>| CollectionKind::Calendar { components: c };
        let all = [
            ContentKind::Contacts,
            ContentKind::Calendars,
            ContentKind::Tasks,
        ];
        assert_eq!(
            collection_kind(&CollectionKind::AddressBook, &all),
            Some(ContentKind::Contacts)
        );
        assert_eq!(
            collection_kind(&CollectionKind::AddressBook, &[ContentKind::Tasks]),
            None
        );
        assert_eq!(
            collection_kind(&cal(vec![ComponentKind::Todo]), &all),
            Some(ContentKind::Tasks)
        );
        assert_eq!(
            collection_kind(
                &cal(vec![ComponentKind::Event, ComponentKind::Todo]),
                &[ContentKind::Tasks]
            ),
            Some(ContentKind::Tasks)
        );
        assert_eq!(
            collection_kind(&cal(vec![ComponentKind::Event]), &[ContentKind::Tasks]),
            None
        );
    }

    #[test]
    fn account_urls_lose_their_user_name() {
        let a = DavAccount::parse(
            "http://us%40er@127.0.0.1:5232/",
            "other",
            Zeroizing::new("pw".into()),
            false,
        )
        .unwrap();
        assert_eq!(a.username, "us@er");
        assert_eq!(a.url.as_str(), "http://127.0.0.1:5232/");
        assert!(DavAccount::parse("http://h/", "", Zeroizing::new(String::new()), false).is_err());
        assert!(DavAccount::parse("imap://h/", "u", Zeroizing::new(String::new()), false).is_err());
        // A password in the URL is refused, and not repeated in the message.
        let e = DavAccount::parse(
            "https://me:s3cr3t-pw@dav.example/",
            "",
            Zeroizing::new(String::new()),
            false,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("password") && !e.contains("s3cr3t-pw"), "{e}");
        let e = DavAccount::parse(
            "https://me:s3cr3t-pw@[bad/",
            "",
            Zeroizing::new(String::new()),
            false,
        )
        .unwrap_err()
        .to_string();
        assert!(!e.contains("s3cr3t-pw"), "{e}");
    }
}
