//! Writing one resource: the body the destination should get, a new resource at its
//! UID-derived href (`If-None-Match: *`), an update of one copied before (`If-Match`), and the
//! one retry of a refused object in its repaired form.

use std::collections::{HashMap, HashSet};

use passeur_dav::{
    Collection, DavClient, DavError, ItemRef, MULTIGET_BATCH, PutCondition, PutOutcome, Result,
    normalize_href,
};
use passeur_formats::fingerprint::resource_name;
use passeur_formats::{FormatError, VcfObject, VcfVersion, ics, vcf};

use super::{CopyOptions, ItemEvent, KnownItem, OnConflict};

/// A resource ready to PUT.
pub(super) struct Prepared {
    pub(super) uid: String,
    pub(super) text: String,
    pub(super) content_type: &'static str,
    pub(super) ext: &'static str,
}

pub(super) const ICS_TYPE: &str = "text/calendar; charset=utf-8";
pub(super) const VCF_TYPE: &str = "text/vcard; charset=utf-8";

/// The vCard version to convert to for `dst`: the option, else 3.0 when the
/// address book says it stores 3.0 but not 4.0.
pub(super) fn vcard_target(opts: &CopyOptions, dst: &Collection) -> CopyOptions {
    let mut o = opts.clone();
    if o.convert_vcard_to.is_none()
        && !dst.vcard_versions.is_empty()
        && !dst.vcard_versions.contains(&VcfVersion::V40)
    {
        o.convert_vcard_to = Some(VcfVersion::V30);
    }
    o
}

pub(super) fn vcard_text(
    o: &VcfObject,
    original: Option<&str>,
    opts: &CopyOptions,
) -> std::result::Result<String, FormatError> {
    // vCard 3.0 requires FN and N, 4.0 requires FN (servers refuse cards without):
    // the converter derives them.
    let has_n = o
        .text
        .split("\r\n")
        .any(|l| l.starts_with("N:") || l.starts_with("N;"));
    let convert = o.version == VcfVersion::V21
        || o.fn_.is_none()
        || (o.version == VcfVersion::V30 && !has_n)
        || opts
            .convert_vcard_to
            .is_some_and(|v| v == VcfVersion::V30 && o.version != VcfVersion::V30);
    if convert {
        return vcf::to_v3(o);
    }
    Ok(match original {
        Some(b) if o.warnings.is_empty() => b.to_string(),
        _ => o.text.clone(),
    })
}

/// A source resource's body as the destination should get it: the same bytes
/// unless a fix is needed (missing VTIMEZONE, Windows zone, vCard version, UID).
pub(super) fn prepare_body(
    calendar: bool,
    body: &str,
    opts: &CopyOptions,
) -> std::result::Result<Prepared, String> {
    if calendar {
        let mut objs = ics::split(body.as_bytes());
        let first = objs
            .next()
            .ok_or_else(|| "empty calendar resource".to_string())?;
        let o = first.map_err(|e| e.to_string())?;
        if objs.next().is_some() {
            return Err("the resource holds more than one UID".into());
        }
        let text = if o.warnings.is_empty() {
            body.to_string()
        } else {
            o.text
        };
        Ok(Prepared {
            uid: o.uid,
            text,
            content_type: ICS_TYPE,
            ext: "ics",
        })
    } else {
        let mut objs = vcf::split(body.as_bytes());
        let first = objs
            .next()
            .ok_or_else(|| "empty vCard resource".to_string())?;
        let o = first.map_err(|e| e.to_string())?;
        let text = vcard_text(&o, Some(body), opts).map_err(|e| e.to_string())?;
        Ok(Prepared {
            uid: o.uid,
            text,
            content_type: VCF_TYPE,
            ext: "vcf",
        })
    }
}

pub(super) fn uid_of(calendar: bool, body: &str) -> Option<String> {
    if calendar {
        ics::inspect(body).uid
    } else {
        vcf::inspect(body).uid
    }
}

/// The destination collection's resources by UID.
pub(super) struct DstIndex {
    pub(super) by_uid: HashMap<String, (String, String)>,
}

impl DstIndex {
    /// Lists `coll` and reads the UIDs of the resources not in `ours` (hrefs the
    /// item map already accounts for).
    pub(super) async fn build(
        dst: &DavClient,
        coll: &Collection,
        ours: &HashSet<String>,
    ) -> Result<Self> {
        let calendar = coll.kind.is_calendar();
        let items = dst.list_items(coll).await?;
        let unknown: Vec<String> = items
            .iter()
            .filter(|i| !ours.contains(&normalize_href(&i.href)))
            .map(|i| i.href.clone())
            .collect();
        let mut by_uid = HashMap::new();
        for chunk in unknown.chunks(MULTIGET_BATCH) {
            for (r, body) in dst.multiget(coll, chunk).await? {
                if let Some(u) = uid_of(calendar, &body) {
                    by_uid.insert(u, (r.href, r.etag));
                }
            }
        }
        Ok(DstIndex { by_uid })
    }
}

fn etag_opt(e: &str) -> Option<String> {
    (!e.is_empty()).then(|| e.to_string())
}

/// Writes a new resource at its UID-derived href (see the module docs).
pub(super) async fn place_new(
    dst: &DavClient,
    coll: &Collection,
    index: &DstIndex,
    p: &Prepared,
    src_href: &str,
    src_etag: &str,
    opts: &CopyOptions,
) -> Result<ItemEvent> {
    let dst_href = format!("{}{}", coll.href, resource_name(&p.uid, p.ext));
    let bytes = p.text.len();
    let failed = |error: String| ItemEvent::Failed {
        src_href: src_href.to_string(),
        uid: Some(p.uid.clone()),
        error,
    };
    let overwrite = |href: String, etag: Option<String>| async move {
        let cond = etag
            .map(PutCondition::IfMatch)
            .unwrap_or(PutCondition::None);
        Ok::<_, DavError>(match dst.put(&href, &p.text, p.content_type, cond).await? {
            PutOutcome::Created { etag } | PutOutcome::Updated { etag } => ItemEvent::Overwritten {
                src_href: src_href.to_string(),
                src_etag: src_etag.to_string(),
                uid: p.uid.clone(),
                dst_href: href,
                dst_etag: etag,
                bytes,
            },
            other => failed(format!("cannot overwrite {href}: {other:?}")),
        })
    };
    if let Some((h, e)) = index.by_uid.get(&p.uid) {
        if normalize_href(h) == normalize_href(&dst_href) {
            return Ok(ItemEvent::AlreadyThere {
                src_href: src_href.to_string(),
                src_etag: src_etag.to_string(),
                uid: p.uid.clone(),
                dst_href: h.clone(),
                dst_etag: etag_opt(e),
            });
        }
        return match opts.on_conflict {
            OnConflict::Skip => Ok(ItemEvent::Conflict {
                uid: p.uid.clone(),
                src_href: src_href.to_string(),
                dst_href: h.clone(),
            }),
            OnConflict::Overwrite => overwrite(h.clone(), etag_opt(e)).await,
        };
    }
    let first = dst
        .put(
            &dst_href,
            &p.text,
            p.content_type,
            PutCondition::IfNoneMatch,
        )
        .await;
    // A server that fails on one item (Xandikos answers 500 to objects its parser chokes on)
    // is asked once more, with the repaired form where there is one; the item is then listed
    // as not migrated instead of stopping the whole collection. A server that is down fails the
    // next request too and stops the pass as before.
    let first = match first {
        Err(DavError::Http {
            op: "PUT",
            status: 500,
            body,
            ..
        }) => PutOutcome::Rejected {
            status: 500,
            reason: body,
        },
        other => other?,
    };
    Ok(match first {
        PutOutcome::Created { etag } | PutOutcome::Updated { etag } => ItemEvent::Copied {
            src_href: src_href.to_string(),
            src_etag: src_etag.to_string(),
            uid: p.uid.clone(),
            dst_href,
            dst_etag: etag,
            bytes,
            repaired: Vec::new(),
        },
        PutOutcome::AlreadyExists => {
            let there = dst.get(&dst_href).await?;
            let same = there
                .as_ref()
                .and_then(|(b, _)| uid_of(coll.kind.is_calendar(), b))
                .is_some_and(|u| u == p.uid);
            if same {
                ItemEvent::AlreadyThere {
                    src_href: src_href.to_string(),
                    src_etag: src_etag.to_string(),
                    uid: p.uid.clone(),
                    dst_etag: there.and_then(|(_, e)| e),
                    dst_href,
                }
            } else {
                match opts.on_conflict {
                    OnConflict::Skip => ItemEvent::Conflict {
                        uid: p.uid.clone(),
                        src_href: src_href.to_string(),
                        dst_href,
                    },
                    OnConflict::Overwrite => {
                        overwrite(dst_href, there.and_then(|(_, e)| e)).await?
                    }
                }
            }
        }
        PutOutcome::UidConflict { existing } => {
            let href = existing.unwrap_or(dst_href);
            match opts.on_conflict {
                OnConflict::Skip => ItemEvent::Conflict {
                    uid: p.uid.clone(),
                    src_href: src_href.to_string(),
                    dst_href: href,
                },
                OnConflict::Overwrite => overwrite(href, None).await?,
            }
        }
        PutOutcome::Rejected { status, reason } => {
            let refusal = format!("the destination refused it: HTTP {status} {reason}");
            match p.ext {
                "ics" | "vcf" => {
                    retry_repaired(dst, &dst_href, p, src_href, src_etag, refusal).await?
                }
                _ => failed(refusal),
            }
        }
        other => failed(format!("unexpected answer to PUT: {other:?}")),
    })
}

/// The one retry after a refusal: the object in its repaired form, when there is one. A
/// repaired item is recorded once, with what changed; a second refusal names both.
async fn retry_repaired(
    dst: &DavClient,
    dst_href: &str,
    p: &Prepared,
    src_href: &str,
    src_etag: &str,
    refusal: String,
) -> Result<ItemEvent> {
    let failed = |error: String| ItemEvent::Failed {
        src_href: src_href.to_string(),
        uid: Some(p.uid.clone()),
        error,
    };
    let repaired = match p.ext {
        "vcf" => passeur_formats::repair::repair_vcf(&p.text),
        _ => passeur_formats::repair::repair_ics(&p.text),
    };
    let Some(r) = repaired else {
        return Ok(failed(refusal));
    };
    let again = match dst
        .put(dst_href, &r.text, p.content_type, PutCondition::IfNoneMatch)
        .await
    {
        Err(DavError::Http {
            op: "PUT",
            status: 500,
            body,
            ..
        }) => PutOutcome::Rejected {
            status: 500,
            reason: body,
        },
        other => other?,
    };
    Ok(match again {
        PutOutcome::Created { etag } | PutOutcome::Updated { etag } => {
            let mut repaired = Vec::with_capacity(r.changes.len() + 1);
            repaired.push(format!("{refusal}; it took it repaired"));
            repaired.extend(r.changes);
            ItemEvent::Copied {
                src_href: src_href.to_string(),
                src_etag: src_etag.to_string(),
                uid: p.uid.clone(),
                dst_href: dst_href.to_string(),
                dst_etag: etag,
                bytes: r.text.len(),
                repaired,
            }
        }
        PutOutcome::Rejected { status, reason } => failed(format!(
            "{refusal}; it refused the repaired form too (HTTP {status} {reason}; tried: {})",
            r.changes.join("; ")
        )),
        other => failed(format!(
            "{refusal}; unexpected answer to the repaired form: {other:?}"
        )),
    })
}

pub(super) async fn update(
    dst: &DavClient,
    k: &KnownItem,
    p: &Prepared,
    r: &ItemRef,
    opts: &CopyOptions,
) -> Result<ItemEvent> {
    let cond = k
        .dst_etag
        .clone()
        .map(PutCondition::IfMatch)
        .unwrap_or(PutCondition::None);
    let mut outcome = dst.put(&k.dst_href, &p.text, p.content_type, cond).await?;
    if outcome == PutOutcome::EtagMismatch && opts.on_conflict == OnConflict::Overwrite {
        outcome = dst
            .put(&k.dst_href, &p.text, p.content_type, PutCondition::None)
            .await?;
    }
    Ok(match outcome {
        PutOutcome::Created { etag } | PutOutcome::Updated { etag } => ItemEvent::Updated {
            src_href: r.href.clone(),
            src_etag: r.etag.clone(),
            uid: p.uid.clone(),
            dst_href: k.dst_href.clone(),
            dst_etag: etag,
            bytes: p.text.len(),
        },
        PutOutcome::EtagMismatch => ItemEvent::Conflict {
            uid: p.uid.clone(),
            src_href: r.href.clone(),
            dst_href: k.dst_href.clone(),
        },
        PutOutcome::Rejected { status, reason } => ItemEvent::Failed {
            src_href: r.href.clone(),
            uid: Some(p.uid.clone()),
            error: format!("the destination refused the update: HTTP {status} {reason}"),
        },
        other => ItemEvent::Failed {
            src_href: r.href.clone(),
            uid: Some(p.uid.clone()),
            error: format!("unexpected answer to PUT: {other:?}"),
        },
    })
}
