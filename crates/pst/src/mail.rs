//! Messages to RFC 5322 / MIME ([MS-OXCMAIL] in reverse).

use crate::error::Result;
use crate::message::{Ctx, Message, pick_email};
use crate::mime::{
    address, base64_lines, clean, crlf, encode_text, encode_word_phrase, filename_param, fold,
    guess_type, header_fields, name_param, quoted_printable, trim_nul,
};
use crate::props;
use crate::rtf::{self, Encapsulated};
use crate::time;

const MAX_DEPTH: u8 = 8;

/// The MIME bytes, the IMAP flags and the INTERNALDATE of a message.
pub(crate) fn build(
    ctx: &Ctx<'_>,
    msg: &Message<'_>,
) -> Result<(Vec<u8>, Vec<String>, Option<String>)> {
    let mut b = Builder {
        counter: 0,
        nid: msg.nid,
        // Hostile files can make embedded messages and attachments refer to the same
        // data over and over: the output of one item stays below twice the file size.
        budget: ctx.ndb.file_size.saturating_mul(2).max(1 << 20),
        embedded: 0,
    };
    let mime = b.message(ctx, msg, 0);
    let pc = &msg.pc;
    let mf = pc.int(props::MESSAGE_FLAGS).unwrap_or(0);
    let mut flags = Vec::new();
    if mf & 0x1 != 0 {
        flags.push("\\Seen".to_string());
    }
    if mf & 0x8 != 0 {
        flags.push("\\Draft".to_string());
    }
    if pc.int(props::FLAG_STATUS) == Some(2) {
        flags.push("\\Flagged".to_string());
    }
    let verb = pc.int(props::LAST_VERB).unwrap_or(0);
    let icon = pc.int(props::ICON_INDEX).unwrap_or(0);
    if matches!(verb, 102 | 103) || icon == 0x105 {
        flags.push("\\Answered".to_string());
    }
    if verb == 104 || icon == 0x106 {
        flags.push("$Forwarded".to_string());
    }
    let when = [
        props::DELIVERY_TIME,
        props::CLIENT_SUBMIT_TIME,
        props::CREATION_TIME,
    ]
    .iter()
    .find_map(|&p| pc.time(p).and_then(time::filetime_to_unix));
    Ok((mime, flags, when.map(time::imap_date)))
}

enum Part {
    Leaf {
        headers: Vec<String>,
        body: Vec<u8>,
    },
    Multi {
        subtype: &'static str,
        parts: Vec<Part>,
    },
}

struct Builder {
    counter: u32,
    nid: u32,
    budget: u64,
    embedded: u32,
}

const MAX_EMBEDDED: u32 = 1000;

struct Att {
    name: String,
    ctype: String,
    cid: Option<String>,
    data: AttData,
}

enum AttData {
    Bytes(Vec<u8>),
    Message(Vec<u8>),
}

impl Builder {
    fn boundary(&mut self, depth: u8) -> String {
        self.counter += 1;
        format!("=_passeur_{:x}_{depth}_{}", self.nid, self.counter)
    }

    fn message(&mut self, ctx: &Ctx<'_>, msg: &Message<'_>, depth: u8) -> Vec<u8> {
        let mut out = Vec::new();
        self.headers(msg, &mut out);
        out.extend_from_slice(b"MIME-Version: 1.0\r\n");
        if let Some(entity) = smime_entity(msg) {
            // The signed/encrypted MIME entity is kept byte for byte: rebuilding it
            // would break the signature.
            out.extend_from_slice(&entity);
            return out;
        }
        let body = self.body(ctx, msg, depth);
        self.write_part(&body, &mut out, depth);
        out
    }

    fn headers(&mut self, msg: &Message<'_>, out: &mut Vec<u8>) {
        let pc = &msg.pc;
        let mut have = std::collections::HashSet::new();
        if let Some(h) = pc.string(props::TRANSPORT_HEADERS) {
            for field in header_fields(&h) {
                let name = field
                    .split(':')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_ascii_lowercase();
                let empty = field
                    .split_once(':')
                    .is_none_or(|(_, v)| v.trim().is_empty());
                if name.starts_with("content-")
                    || name == "mime-version"
                    || name.is_empty()
                    || empty
                {
                    // Empty fields (an unsent message's "From: ") are filled from MAPI instead.
                    continue;
                }
                have.insert(name);
                out.extend_from_slice(field.as_bytes());
                out.extend_from_slice(b"\r\n");
            }
        }
        let add = |name: &str, value: String, out: &mut Vec<u8>| {
            if !have.contains(&name.to_ascii_lowercase()) && !value.is_empty() {
                out.extend_from_slice(fold(name, &value).as_bytes());
            }
        };
        let date = [
            props::CLIENT_SUBMIT_TIME,
            props::DELIVERY_TIME,
            props::CREATION_TIME,
        ]
        .iter()
        .find_map(|&p| pc.time(p).and_then(time::filetime_to_unix));
        if let Some(d) = date {
            add("Date", time::rfc5322(d), out);
        }
        let from_name = pc
            .string(props::SENT_REPRESENTING_NAME)
            .or_else(|| pc.string(props::SENDER_NAME))
            .unwrap_or_default();
        let from_email = {
            let e = pick_email(
                pc.string(props::SENT_REPRESENTING_SMTP),
                &pc.string(props::SENT_REPRESENTING_ADDRTYPE)
                    .unwrap_or_default(),
                pc.string(props::SENT_REPRESENTING_EMAIL)
                    .unwrap_or_default(),
            );
            if e.is_empty() {
                pick_email(
                    pc.string(props::SENDER_SMTP),
                    &pc.string(props::SENDER_ADDRTYPE).unwrap_or_default(),
                    pc.string(props::SENDER_EMAIL).unwrap_or_default(),
                )
            } else {
                e
            }
        };
        let from_email = if from_email.is_empty() && crate::message::looks_like_address(&from_name)
        {
            from_name.clone()
        } else {
            from_email
        };
        if !from_name.is_empty() || !from_email.is_empty() {
            add("From", address(&from_name, &from_email), out);
        }
        let recips = msg.recipients();
        for (kind, hname, display) in [
            (1, "To", props::DISPLAY_TO),
            (2, "Cc", props::DISPLAY_CC),
            (3, "Bcc", props::DISPLAY_BCC),
        ] {
            let list: Vec<String> = recips
                .iter()
                .filter(|r| r.kind & 0xf == kind)
                .map(|r| address(&r.name, &r.email))
                .collect();
            let value = if list.is_empty() {
                // No recipient table: the display string, as a group of names.
                pc.string(display)
                    .map(|d| format!("{}:;", encode_word_phrase(&d)))
                    .unwrap_or_default()
            } else {
                list.join(",\r\n ")
            };
            add(hname, value, out);
        }
        if let Some(s) = msg.subject() {
            add("Subject", encode_text(&s), out);
        }
        if let Some(id) = pc.string(props::INTERNET_MESSAGE_ID) {
            add("Message-ID", clean(&id), out);
        }
        if let Some(id) = pc.string(props::IN_REPLY_TO) {
            add("In-Reply-To", clean(&id), out);
        }
        if let Some(r) = pc.string(props::INTERNET_REFERENCES) {
            add("References", clean(&r), out);
        }
        match pc.int(props::IMPORTANCE) {
            Some(2) => add("Importance", "high".into(), out),
            Some(0) => add("Importance", "low".into(), out),
            _ => {}
        }
        if let Some(class) = pc.string(props::MESSAGE_CLASS)
            && !class.eq_ignore_ascii_case("IPM.Note")
        {
            add("X-MS-Message-Class", clean(&class), out);
        }
    }

    fn body(&mut self, ctx: &Ctx<'_>, msg: &Message<'_>, depth: u8) -> Part {
        let pc = &msg.pc;
        let mut text = pc.string(props::BODY);
        let cpid = pc.int(props::INTERNET_CPID).unwrap_or(0) as u32;
        let mut html: Option<(Vec<u8>, String)> =
            pc.bin(props::HTML).filter(|h| !h.is_empty()).map(|h| {
                if matches!(cpid, 1200 | 1201) {
                    // UTF-16 HTML is not something mail clients read: transcode.
                    let (text, _, _) = crate::ltp::encoding_for_cp(cpid).decode(&h);
                    return (
                        trim_nul(text.into_owned().into_bytes()),
                        "utf-8".to_string(),
                    );
                }
                let charset = if cpid != 0 {
                    crate::ltp::encoding_for_cp(cpid).name().to_string()
                } else if std::str::from_utf8(&h).is_ok() {
                    "utf-8".to_string()
                } else {
                    "windows-1252".to_string()
                };
                (trim_nul(h), charset)
            });
        let mut rtf_part = None;
        if let Some(c) = pc.bin(props::RTF_COMPRESSED)
            && let Some(raw) = rtf::decompress(&c, 64 << 20)
        {
            match rtf::de_encapsulate(&raw) {
                Encapsulated::Html(h) => {
                    if html.is_none() {
                        html = Some((h.into_bytes(), "utf-8".into()));
                    }
                }
                Encapsulated::Text(t) => {
                    if text.is_none() {
                        text = Some(t);
                    }
                }
                Encapsulated::None => {
                    if html.is_none() {
                        if text.is_none() {
                            text = Some(rtf::to_text(&raw));
                        }
                        rtf_part = Some(raw);
                    }
                }
            }
        }
        let mut alts = Vec::new();
        if text.is_some() || (html.is_none() && rtf_part.is_none()) {
            alts.push(text_part(
                "text/plain; charset=utf-8",
                text.unwrap_or_default().as_bytes(),
            ));
        }
        let html_str = html
            .as_ref()
            .map(|(h, _)| String::from_utf8_lossy(h).into_owned())
            .unwrap_or_default();
        if let Some((h, cs)) = &html {
            alts.push(text_part(&format!("text/html; charset={cs}"), h));
        }
        if let Some(r) = rtf_part {
            alts.push(text_part("text/rtf", &r));
        }
        let mut body = if alts.len() == 1 {
            alts.pop().unwrap_or(Part::Multi {
                subtype: "mixed",
                parts: Vec::new(),
            })
        } else {
            Part::Multi {
                subtype: "alternative",
                parts: alts,
            }
        };
        let mut inline = Vec::new();
        let mut attached = Vec::new();
        if let Some(att) = meeting_part(ctx, msg) {
            attached.push(att);
        }
        for (i, a) in msg.attachments().into_iter().enumerate() {
            let att = match a {
                Ok(a) => self.attachment(ctx, &a, i, depth),
                Err(e) => Some(Att {
                    name: format!("attachment-{}-damaged.txt", i + 1),
                    ctype: "text/plain; charset=utf-8".into(),
                    cid: None,
                    data: AttData::Bytes(
                        format!("passeur could not read this attachment from the PST: {e}")
                            .into_bytes(),
                    ),
                }),
            };
            let Some(att) = att else { continue };
            let is_inline = att
                .cid
                .as_ref()
                .is_some_and(|c| html_str.contains(&format!("cid:{c}")));
            if is_inline {
                inline.push(att);
            } else {
                attached.push(att);
            }
        }
        if !inline.is_empty() {
            let mut parts = vec![body];
            parts.extend(inline.into_iter().map(|a| att_part(a, true)));
            body = Part::Multi {
                subtype: "related",
                parts,
            };
        }
        if !attached.is_empty() {
            let mut parts = vec![body];
            parts.extend(attached.into_iter().map(|a| att_part(a, false)));
            body = Part::Multi {
                subtype: "mixed",
                parts,
            };
        }
        body
    }

    fn attachment(
        &mut self,
        ctx: &Ctx<'_>,
        a: &crate::message::Attachment<'_>,
        i: usize,
        depth: u8,
    ) -> Option<Att> {
        let method = a.method();
        let name = a
            .filename()
            .map(|n| n.replace(['\r', '\n', '\0'], " ").trim().to_string())
            .filter(|n| !n.is_empty());
        let cid =
            a.pc.string(props::ATTACH_CONTENT_ID)
                .map(|c| {
                    c.trim()
                        .trim_start_matches('<')
                        .trim_end_matches('>')
                        .to_string()
                })
                .filter(|c| !c.is_empty());
        if method == 5 {
            self.embedded += 1;
            let sub = match a.embedded(ctx)? {
                _ if self.embedded > MAX_EMBEDDED || self.budget == 0 => {
                    b"Subject: (embedded message left out: too many or too large)\r\n\r\n".to_vec()
                }
                Ok(m) if depth < MAX_DEPTH => {
                    let m = self.message(ctx, &m, depth + 1);
                    self.budget = self.budget.saturating_sub(m.len() as u64);
                    m
                }
                Ok(_) => b"Subject: (embedded message nested too deeply)\r\n\r\n".to_vec(),
                Err(e) => {
                    format!("Subject: (damaged embedded message)\r\n\r\n{e}\r\n").into_bytes()
                }
            };
            return Some(Att {
                name: name.unwrap_or_else(|| format!("message-{}.eml", i + 1)),
                ctype: "message/rfc822".into(),
                cid,
                data: AttData::Message(sub),
            });
        }
        let data = match a.data() {
            Some(d) => d,
            None if matches!(method, 2..=4) => {
                let path =
                    a.pc.string(0x3708)
                        .or_else(|| a.pc.string(0x370D))
                        .unwrap_or_default();
                format!("Attachment by reference: {path}\r\n").into_bytes()
            }
            None => return None,
        };
        let data = if data.len() as u64 > self.budget {
            b"passeur left this attachment out: the item exceeds its size budget".to_vec()
        } else {
            self.budget -= data.len() as u64;
            data
        };
        let name = name.unwrap_or_else(|| format!("attachment-{}", i + 1));
        let ctype =
            a.pc.string(props::ATTACH_MIME_TAG)
                .filter(|t| t.contains('/') && t.is_ascii() && !t.contains(['\r', '\n', ';']))
                .unwrap_or_else(|| guess_type(&name).to_string());
        Some(Att {
            name,
            ctype,
            cid,
            data: AttData::Bytes(data),
        })
    }

    fn write_part(&mut self, part: &Part, out: &mut Vec<u8>, depth: u8) {
        match part {
            Part::Leaf { headers, body } => {
                for h in headers {
                    out.extend_from_slice(h.as_bytes());
                }
                out.extend_from_slice(b"\r\n");
                out.extend_from_slice(body);
            }
            Part::Multi { subtype, parts } => {
                let b = self.boundary(depth);
                out.extend_from_slice(
                    format!("Content-Type: multipart/{subtype};\r\n boundary=\"{b}\"\r\n\r\n")
                        .as_bytes(),
                );
                for p in parts {
                    out.extend_from_slice(format!("--{b}\r\n").as_bytes());
                    self.write_part(p, out, depth);
                    if !out.ends_with(b"\r\n") {
                        out.extend_from_slice(b"\r\n");
                    }
                }
                out.extend_from_slice(format!("--{b}--\r\n").as_bytes());
            }
        }
    }
}

/// S/MIME messages (IPM.Note.SMIME*) keep the original MIME entity in their single
/// attachment: a multipart/signed entity with its headers, or an opaque PKCS#7 blob.
fn smime_entity(msg: &Message<'_>) -> Option<Vec<u8>> {
    let class = msg.class().to_ascii_lowercase();
    if !class.starts_with("ipm.note.smime") {
        return None;
    }
    let atts = msg.attachments();
    let [Ok(a)] = atts.as_slice() else {
        return None;
    };
    let data = a.data()?;
    let head = String::from_utf8_lossy(&data[..data.len().min(2048)]).to_ascii_lowercase();
    if class.contains("multipartsigned") || head.trim_start().starts_with("content-type:") {
        if head.trim_start().starts_with("content-type:") && head.contains("multipart/signed") {
            // Signatures cover the canonical CRLF form: restore it if the copy lost it.
            return Some(crlf(data));
        }
        return None;
    }
    // Opaque: enveloped or signed-data PKCS#7.
    let mut out = Vec::new();
    out.extend_from_slice(b"Content-Type: application/pkcs7-mime; name=\"smime.p7m\"\r\n");
    out.extend_from_slice(b"Content-Transfer-Encoding: base64\r\n");
    out.extend_from_slice(b"Content-Disposition: attachment; filename=\"smime.p7m\"\r\n\r\n");
    out.extend_from_slice(&base64_lines(&data));
    Some(out)
}

/// Meeting requests, replies and cancellations carry their event as text/calendar,
/// as Exchange presents them over IMAP.
fn meeting_part(ctx: &Ctx<'_>, msg: &Message<'_>) -> Option<Att> {
    let class = msg.class().to_ascii_lowercase();
    let method = if class.starts_with("ipm.schedule.meeting.request") {
        "REQUEST"
    } else if class.starts_with("ipm.schedule.meeting.canceled") {
        "CANCEL"
    } else if class.starts_with("ipm.schedule.meeting.resp") {
        "REPLY"
    } else {
        return None;
    };
    let (ics, _) = crate::ical::event(ctx, msg);
    let ics = ics.replacen(
        "PRODID:-//passeur//PST import//EN\r\n",
        &format!("PRODID:-//passeur//PST import//EN\r\nMETHOD:{method}\r\n"),
        1,
    );
    Some(Att {
        name: "invite.ics".into(),
        ctype: format!("text/calendar; charset=utf-8; method={method}"),
        cid: None,
        data: AttData::Bytes(ics.into_bytes()),
    })
}

fn text_part(ctype: &str, body: &[u8]) -> Part {
    Part::Leaf {
        headers: vec![
            format!("Content-Type: {ctype}\r\n"),
            "Content-Transfer-Encoding: quoted-printable\r\n".into(),
        ],
        body: quoted_printable(body),
    }
}

fn att_part(a: Att, inline: bool) -> Part {
    let mut headers = Vec::new();
    let disp = if inline { "inline" } else { "attachment" };
    match a.data {
        AttData::Message(m) => {
            headers.push("Content-Type: message/rfc822\r\n".to_string());
            headers.push(format!(
                "Content-Disposition: {disp}{}\r\n",
                filename_param(&a.name)
            ));
            Part::Leaf { headers, body: m }
        }
        AttData::Bytes(d) => {
            headers.push(format!(
                "Content-Type: {};{}\r\n",
                a.ctype,
                name_param(&a.name)
            ));
            headers.push("Content-Transfer-Encoding: base64\r\n".into());
            headers.push(format!(
                "Content-Disposition: {disp}{}\r\n",
                filename_param(&a.name)
            ));
            if let Some(c) = &a.cid
                && c.is_ascii()
                && !c.contains(['\r', '\n', '<', '>'])
            {
                headers.push(format!("Content-ID: <{c}>\r\n"));
            }
            Part::Leaf {
                headers,
                body: base64_lines(&d),
            }
        }
    }
}
