//! Comparing what a copy or an import left on the destination with its source, by UID and
//! key properties.

use std::collections::{HashMap, HashSet};

use passeur_dav::{Collection, DavClient, ItemRef, Result, normalize_href};
use passeur_formats::{ComponentKind, FormatError, ics, tz, vcf};

use super::write::{vcard_target, vcard_text};
use super::{CopyOptions, ImportTargets, SourceObject};

/// A key property that differs between source and destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    /// The UID of the object.
    pub uid: String,
    /// The property (`SUMMARY`, `DTSTART`, `FN`, ...).
    pub field: &'static str,
    /// Its value on the source.
    pub src: String,
    /// Its value on the destination.
    pub dst: String,
}

/// The outcome of [`verify_collection`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VerifyReport {
    /// Objects on the source (those expected on the destination).
    pub src_count: usize,
    /// Resources on the destination.
    pub dst_count: usize,
    /// UIDs of the source missing on the destination.
    pub missing: Vec<String>,
    /// UIDs on the destination the source does not have.
    pub extra: Vec<String>,
    /// Key properties that differ between the two sides.
    pub differing: Vec<Difference>,
}

impl VerifyReport {
    /// True when every source UID is on the destination with the same key properties.
    pub fn is_complete(&self) -> bool {
        self.missing.is_empty() && self.differing.is_empty()
    }
}

/// Named key properties of one resource, in a fixed order.
type KeyProps = Vec<(&'static str, String)>;

fn key_props(calendar: bool, body: &str) -> (Option<String>, Vec<(&'static str, String)>) {
    if calendar {
        let i = ics::inspect(body);
        // A zone means nothing on an all-day DATE (servers drop it); Windows zone
        // names were mapped on the way.
        let dtstart =
            i.dtstart.map(
                |d| match d.strip_prefix("TZID=").and_then(|r| r.split_once(':')) {
                    Some((_, v)) if v.len() == 8 => v.to_string(),
                    Some((z, v)) => format!("TZID={}:{v}", tz::windows_to_iana(z).unwrap_or(z)),
                    None => d,
                },
            );
        (
            i.uid,
            vec![
                ("SUMMARY", i.summary.unwrap_or_default()),
                ("DTSTART", dtstart.unwrap_or_default()),
                // Servers reorder RRULE parts (Xandikos): compare them as a set.
                ("RRULE", {
                    let mut parts: Vec<String> = i
                        .rrule
                        .unwrap_or_default()
                        .split(';')
                        .map(|p| p.trim().to_ascii_uppercase())
                        .filter(|p| !p.is_empty())
                        .collect();
                    parts.sort();
                    parts.join(";")
                }),
                ("components", i.components.to_string()),
            ],
        )
    } else {
        let i = vcf::inspect(body);
        (
            i.uid,
            vec![
                ("FN", i.fn_.unwrap_or_default()),
                ("EMAIL", i.emails.join(",")),
                ("TEL", i.tels.join(",")),
                ("PHOTO", i.has_photo.to_string()),
            ],
        )
    }
}

/// Compares two collections by UID: counts, missing and extra UIDs, and key
/// properties (calendars: SUMMARY, DTSTART with its zone, RRULE, number of
/// components; contacts: FN, e-mails, phone numbers, whether a photo is there).
pub async fn verify_collection(
    src: &DavClient,
    src_coll: &Collection,
    dst: &DavClient,
    dst_coll: &Collection,
    components: &[ComponentKind],
    left_out: &HashSet<String>,
) -> Result<VerifyReport> {
    let calendar = src_coll.kind.is_calendar();
    let mut s = src.fetch_all(src_coll).await?;
    // Source items not expected on the destination (a purge removed them).
    if !left_out.is_empty() {
        let left_out: HashSet<String> = left_out.iter().map(|h| normalize_href(h)).collect();
        s.retain(|(r, _)| !left_out.contains(&normalize_href(&r.href)));
    }
    // Objects a copy with the same filter leaves alone are not expected on the destination.
    if calendar && !components.is_empty() {
        s.retain(|(_, b)| ics::inspect(b).kind.is_none_or(|k| components.contains(&k)));
    }
    let d = dst.fetch_all(dst_coll).await?;
    let index = |v: &[(ItemRef, String)]| -> HashMap<String, Vec<(&'static str, String)>> {
        v.iter()
            .filter_map(|(_, b)| {
                let (u, p) = key_props(calendar, b);
                u.map(|u| (u, p))
            })
            .collect()
    };
    let si = index(&s);
    let di = index(&d);
    let mut r = VerifyReport {
        src_count: s.len(),
        dst_count: d.len(),
        ..VerifyReport::default()
    };
    for (uid, sp) in &si {
        match di.get(uid) {
            None => r.missing.push(uid.clone()),
            Some(dp) => {
                for ((field, a), (_, b)) in sp.iter().zip(dp.iter()) {
                    if a != b {
                        r.differing.push(Difference {
                            uid: uid.clone(),
                            field,
                            src: a.clone(),
                            dst: b.clone(),
                        });
                    }
                }
            }
        }
    }
    r.extra = di
        .keys()
        .filter(|u| !si.contains_key(*u))
        .cloned()
        .collect();
    r.missing.sort();
    r.extra.sort();
    Ok(r)
}

/// Compares parsed file objects with what the target collections hold, by UID,
/// with the same key properties as [`verify_collection`] (vCards are compared
/// decoded, so a 2.1 card matches its 3.0 copy). Objects that failed to parse are
/// not counted; for a repeated UID the first object counts.
pub async fn verify_objects<I, O>(
    dst: &DavClient,
    targets: &ImportTargets<'_>,
    objects: I,
) -> Result<VerifyReport>
where
    I: IntoIterator<Item = std::result::Result<O, FormatError>>,
    O: Into<SourceObject>,
{
    // uid -> (target href, key properties)
    let mut src: HashMap<String, (String, KeyProps)> = HashMap::new();
    let mut colls: HashMap<String, &Collection> = HashMap::new();
    for o in objects.into_iter().flatten() {
        let o: SourceObject = o.into();
        let Some(coll) = targets.for_object(&o) else {
            continue;
        };
        // Compare with what the import sends (missing FN/N derived, 2.1 converted).
        let (calendar, text) = match &o {
            SourceObject::Ics(i) => (true, i.text.clone()),
            SourceObject::Vcf(v) => (
                false,
                vcard_text(v, None, &vcard_target(&CopyOptions::default(), coll))
                    .unwrap_or_else(|_| v.text.clone()),
            ),
        };
        let (uid, props) = key_props(calendar, &text);
        if let Some(u) = uid {
            src.entry(u).or_insert((coll.href.clone(), props));
        }
        colls.insert(coll.href.clone(), coll);
    }
    let mut dst_props: HashMap<String, HashMap<String, KeyProps>> = HashMap::new();
    let mut r = VerifyReport {
        src_count: src.len(),
        ..VerifyReport::default()
    };
    for (href, coll) in &colls {
        let all = dst.fetch_all(coll).await?;
        r.dst_count += all.len();
        let m = all
            .iter()
            .filter_map(|(_, b)| {
                let (u, p) = key_props(coll.kind.is_calendar(), b);
                u.map(|u| (u, p))
            })
            .collect();
        dst_props.insert(href.clone(), m);
    }
    for (uid, (href, sp)) in &src {
        match dst_props.get(href).and_then(|m| m.get(uid)) {
            None => r.missing.push(uid.clone()),
            Some(dp) => {
                for ((field, a), (_, b)) in sp.iter().zip(dp.iter()) {
                    if a != b {
                        r.differing.push(Difference {
                            uid: uid.clone(),
                            field,
                            src: a.clone(),
                            dst: b.clone(),
                        });
                    }
                }
            }
        }
    }
    for m in dst_props.values() {
        r.extra
            .extend(m.keys().filter(|u| !src.contains_key(*u)).cloned());
    }
    r.missing.sort();
    r.extra.sort();
    Ok(r)
}
