//! WebDAV XML: a small namespace-resolved element tree for multistatus answers,
//! and the request bodies we send.

use quick_xml::NsReader;
use quick_xml::events::Event;
use quick_xml::name::ResolveResult;

pub(crate) const DAV: &str = "DAV:";
pub(crate) const CALDAV: &str = "urn:ietf:params:xml:ns:caldav";
pub(crate) const CARDDAV: &str = "urn:ietf:params:xml:ns:carddav";
pub(crate) const APPLE: &str = "http://apple.com/ns/ical/";
pub(crate) const CS: &str = "http://calendarserver.org/ns/";

/// An XML element with its namespace resolved.
#[derive(Debug, Default, Clone)]
pub(crate) struct Node {
    pub ns: String,
    pub name: String,
    pub attrs: Vec<(String, String)>,
    pub children: Vec<Node>,
    pub text: String,
}

impl Node {
    pub fn is(&self, ns: &str, name: &str) -> bool {
        self.ns == ns && self.name == name
    }

    pub fn child(&self, ns: &str, name: &str) -> Option<&Node> {
        self.children.iter().find(|c| c.is(ns, name))
    }

    pub fn children_named<'a>(
        &'a self,
        ns: &'a str,
        name: &'a str,
    ) -> impl Iterator<Item = &'a Node> {
        self.children.iter().filter(move |c| c.is(ns, name))
    }

    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn trimmed(&self) -> &str {
        self.text.trim()
    }
}

/// The deepest element nesting accepted. DAV answers nest about ten levels; a deeper
/// document is refused, which also bounds the recursion of `Drop`, `Clone` and searches over
/// the tree.
pub(crate) const MAX_DEPTH: usize = 100;

/// Parses a whole document into its root element. Never panics; a document nesting deeper
/// than [`MAX_DEPTH`] is an error.
pub(crate) fn parse(xml: &str) -> Result<Node, String> {
    let mut r = NsReader::from_str(xml);
    let mut stack: Vec<Node> = Vec::new();
    let mut root: Option<Node> = None;
    loop {
        let (res, ev) = r.read_resolved_event().map_err(|e| e.to_string())?;
        let ns = match res {
            ResolveResult::Bound(n) => String::from_utf8_lossy(n.as_ref()).into_owned(),
            _ => String::new(),
        };
        match ev {
            Event::Start(e) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(format!("elements nested deeper than {MAX_DEPTH} levels"));
                }
                stack.push(element(&e, ns));
            }
            Event::Empty(e) => {
                stack.push(element(&e, ns));
                close(&mut stack, &mut root);
            }
            Event::End(_) => close(&mut stack, &mut root),
            Event::Text(t) => {
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&t.decode().map_err(|e| e.to_string())?);
                }
            }
            Event::CData(t) => {
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&t.decode().map_err(|e| e.to_string())?);
                }
            }
            Event::GeneralRef(g) => {
                if let Some(top) = stack.last_mut() {
                    if let Ok(Some(c)) = g.resolve_char_ref() {
                        top.text.push(c);
                    } else {
                        let name = g.decode().map_err(|e| e.to_string())?;
                        match quick_xml::escape::resolve_predefined_entity(&name) {
                            Some(s) => top.text.push_str(s),
                            None => return Err(format!("unknown entity &{name};")),
                        }
                    }
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    root.ok_or_else(|| "no root element".to_string())
}

fn element(e: &quick_xml::events::BytesStart<'_>, ns: String) -> Node {
    let mut node = Node {
        ns,
        name: String::from_utf8_lossy(e.local_name().as_ref()).into_owned(),
        ..Node::default()
    };
    for a in e.attributes().flatten() {
        let key = String::from_utf8_lossy(a.key.local_name().as_ref()).into_owned();
        let v = a
            .unescape_value()
            .map(|v| v.into_owned())
            .unwrap_or_default();
        node.attrs.push((key, v));
    }
    node
}

fn close(stack: &mut Vec<Node>, root: &mut Option<Node>) {
    if let Some(n) = stack.pop() {
        match stack.last_mut() {
            Some(p) => p.children.push(n),
            None => *root = Some(n),
        }
    }
}

/// One `<D:response>` of a multistatus.
#[derive(Debug, Clone, Default)]
pub(crate) struct Response {
    pub href: String,
    /// The response-level status (as in sync-collection for removed members).
    pub status: Option<u16>,
    /// Properties found with a 2xx propstat.
    pub props: Vec<Node>,
}

impl Response {
    pub fn prop(&self, ns: &str, name: &str) -> Option<&Node> {
        self.props.iter().find(|p| p.is(ns, name))
    }
}

pub(crate) fn status_code(s: &str) -> Option<u16> {
    // "HTTP/1.1 200 OK"
    s.split_whitespace().nth(1)?.parse().ok()
}

/// A parsed multistatus: its responses and the top-level sync-token, if any.
pub(crate) struct Multistatus {
    pub responses: Vec<Response>,
    pub sync_token: Option<String>,
}

pub(crate) fn multistatus(xml: &str) -> Result<Multistatus, String> {
    let root = parse(xml)?;
    if !root.is(DAV, "multistatus") {
        return Err(format!("expected DAV:multistatus, got {}", root.name));
    }
    let mut responses = Vec::new();
    for r in root.children_named(DAV, "response") {
        let href = r
            .child(DAV, "href")
            .map(|h| h.trimmed().to_string())
            .unwrap_or_default();
        let status = r
            .child(DAV, "status")
            .and_then(|s| status_code(s.trimmed()));
        let mut props = Vec::new();
        for ps in r.children_named(DAV, "propstat") {
            let ok = ps
                .child(DAV, "status")
                .and_then(|s| status_code(s.trimmed()))
                .is_some_and(|c| (200..300).contains(&c));
            if !ok {
                continue;
            }
            if let Some(p) = ps.child(DAV, "prop") {
                props.extend(p.children.iter().cloned());
            }
        }
        responses.push(Response {
            href,
            status,
            props,
        });
    }
    let sync_token = root
        .child(DAV, "sync-token")
        .map(|t| t.trimmed().to_string());
    Ok(Multistatus {
        responses,
        sync_token,
    })
}

/// Entry points for fuzzing (`fuzz/fuzz_targets/dav_xml.rs`); not an API.
#[doc(hidden)]
pub mod fuzzing {
    /// Parses `data` as a multistatus answer, as the client does with a server's reply.
    /// Must never panic nor overflow the stack, whatever the input.
    pub fn multistatus(data: &[u8]) {
        if let Ok(s) = std::str::from_utf8(data) {
            let _ = super::multistatus(s);
            let _ = super::parse(s);
        }
    }
}

/// Escapes text for an XML element or attribute.
pub(crate) fn esc(s: &str) -> String {
    quick_xml::escape::escape(s).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_multistatus_with_entities_and_namespaces() {
        let x = r#"<?xml version="1.0"?>
<multistatus xmlns="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">
 <response><href>/u/c/a.ics</href>
  <propstat><prop><getetag>"e1"</getetag><C:calendar-data>BEGIN:VCALENDAR&#13;
X:a&amp;b&#13;
</C:calendar-data><C:supported-calendar-component-set><C:comp name="VTODO"/></C:supported-calendar-component-set></prop><status>HTTP/1.1 200 OK</status></propstat>
  <propstat><prop><displayname/></prop><status>HTTP/1.1 404 Not Found</status></propstat>
 </response>
 <response><href>/u/c/gone.ics</href><status>HTTP/1.1 404 Not Found</status></response>
 <sync-token>http://x/sync/3</sync-token>
</multistatus>"#;
        let m = multistatus(x).unwrap();
        assert_eq!(m.responses.len(), 2);
        let r = &m.responses[0];
        assert_eq!(r.href, "/u/c/a.ics");
        assert_eq!(r.prop(DAV, "getetag").unwrap().trimmed(), "\"e1\"");
        assert_eq!(
            r.prop(CALDAV, "calendar-data").unwrap().text,
            "BEGIN:VCALENDAR\r\nX:a&b\r\n"
        );
        assert!(r.prop(DAV, "displayname").is_none());
        let comps = r.prop(CALDAV, "supported-calendar-component-set").unwrap();
        assert_eq!(comps.children[0].attr("name"), Some("VTODO"));
        assert_eq!(m.responses[1].status, Some(404));
        assert_eq!(m.sync_token.as_deref(), Some("http://x/sync/3"));
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        // 150,000 levels, about 1 MB: refused at the depth limit.
        let n = 150_000;
        let mut x = String::from(r#"<D:multistatus xmlns:D="DAV:">"#);
        x.push_str(&"<D:a>".repeat(n));
        x.push_str(&"</D:a>".repeat(n));
        x.push_str("</D:multistatus>");
        assert!(x.len() > 1_000_000);
        let e = multistatus(&x).err().expect("refused");
        assert!(e.contains("deeper"), "{e}");
        // Unclosed, too.
        let e = parse(&"<a>".repeat(n)).expect_err("refused");
        assert!(e.contains("deeper"), "{e}");
        // At the limit it still parses.
        let ok = format!("{}{}", "<a>".repeat(MAX_DEPTH), "</a>".repeat(MAX_DEPTH));
        assert!(parse(&ok).is_ok());
    }
}
