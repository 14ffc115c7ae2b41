//! One synthetic but realistic RFC 5322 message, built to a target size.

use super::encode::{base64_lines, quoted_printable, rfc2047_b, rfc2047_q, rfc2231, rfc5322_date};
use super::rng::Rng;

/// What the plan decided for one message; the content follows from it.
pub(crate) struct Shape {
    pub seed: u64,
    pub n: u64,
    pub internal_date: i64,
    pub target_size: usize,
    pub sent: bool,
    pub message_id: Option<String>,
    pub in_reply_to: Option<String>,
    pub reply: bool,
    /// Exact size of one attachment (raw bytes), overriding the size-driven layout.
    pub attachment_bytes: Option<usize>,
}

const FIRST: &[&str] = &[
    "Alice",
    "Bob",
    "Claire",
    "David",
    "Emma",
    "Frank",
    "Grace",
    "Hugo",
    "Inès",
    "José",
    "Zoë",
    "Jürgen",
    "Søren",
    "Łukasz",
    "François",
    "Ana",
    "Kenji",
    "Mei",
    "Olga",
    "Pablo",
];
const LAST: &[&str] = &[
    "Martin",
    "Smith",
    "García",
    "Müller",
    "Dubois",
    "Rossi",
    "Nowak",
    "Hansen",
    "Ødegård",
    "Yamada",
    "Chen",
    "Ivanova",
    "Brontë",
    "O'Neil",
    "Lefèvre",
    "Schröder",
];
const CJK_NAMES: &[&str] = &["山田太郎", "李小龍", "佐藤花子", "김민준"];
const DOMAINS: &[&str] = &[
    "example.org",
    "example.net",
    "mail.example.com",
    "lists.example.org",
    "corp.example",
];
const WORDS: &[&str] = &[
    "the",
    "project",
    "meeting",
    "report",
    "budget",
    "schedule",
    "review",
    "please",
    "attached",
    "thanks",
    "regards",
    "update",
    "draft",
    "contract",
    "invoice",
    "release",
    "migration",
    "server",
    "mailbox",
    "folder",
    "deadline",
    "weekly",
    "notes",
    "agenda",
    "question",
    "answer",
    "proposal",
    "customer",
    "support",
    "ticket",
    "version",
    "build",
    "test",
    "and",
    "of",
    "to",
    "in",
    "for",
    "with",
    "on",
    "we",
    "you",
    "it",
    "is",
    "will",
    "be",
    "Grüße",
    "réunion",
    "à",
    "bientôt",
    "Straße",
    "naïve",
    "coöperation",
    "€",
    "façade",
    "déjà",
    "über",
    "København",
    "año",
    "请",
    "ありがとう",
    "🙂",
];
const SUBJECT_TOPICS: &[&str] = &[
    "Quarterly report",
    "Meeting notes",
    "Invoice",
    "Weekly update",
    "Release plan",
    "Re-scheduling our call",
    "Contract draft",
    "Holiday photos",
    "Server migration",
    "Budget 2024",
    "Réunion de lundi",
    "Grüße aus München",
    "Café à Paris",
    "請求書のご送付",
    "Été 2023 — reçus",
    "Łódź trip",
    "Newsletter",
    "[rust-users] Borrow checker question",
    "Your order has shipped",
    "Ticket #4711",
];
const ATTACH_NAMES: &[(&str, &str)] = &[
    ("report.pdf", "application/pdf"),
    ("photo.jpg", "image/jpeg"),
    (
        "data.xlsx",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ),
    ("archive.zip", "application/zip"),
    ("scan.png", "image/png"),
    ("Rechnung März.pdf", "application/pdf"),
    ("été 2023 reçu.pdf", "application/pdf"),
    ("請求書.pdf", "application/pdf"),
];

fn person(rng: &mut Rng) -> (String, String) {
    let name = if rng.chance(0.05) {
        rng.pick(CJK_NAMES).to_string()
    } else {
        format!("{} {}", rng.pick(FIRST), rng.pick(LAST))
    };
    let local: String = name
        .chars()
        .filter(char::is_ascii_alphabetic)
        .collect::<String>()
        .to_ascii_lowercase();
    let local = if local.is_empty() {
        format!("user{}", rng.range(1, 999))
    } else {
        local
    };
    (name, format!("{local}@{}", rng.pick(DOMAINS)))
}

/// Encodes a header text that may hold non-ASCII: RFC 2047 B or Q (UTF-8 or Latin-1),
/// or, rarely, raw 8-bit UTF-8 (non-compliant but common in the wild).
fn header_text(rng: &mut Rng, text: &str, eight_bit: bool) -> String {
    if text.is_ascii() {
        return text.to_string();
    }
    if eight_bit {
        return text.to_string();
    }
    let latin1 = text.chars().all(|c| u32::from(c) < 256);
    let r = rng.f64();
    if latin1 && r < 0.3 {
        rfc2047_q(text, "ISO-8859-1")
    } else if r < 0.6 {
        rfc2047_q(text, "UTF-8")
    } else {
        rfc2047_b(text)
    }
}

fn address(rng: &mut Rng, name: &str, addr: &str, eight_bit: bool) -> String {
    let shown = header_text(rng, name, eight_bit);
    if shown == name && name.is_ascii() && name.contains('\'') {
        format!("\"{name}\" <{addr}>")
    } else {
        format!("{shown} <{addr}>")
    }
}

fn words(rng: &mut Rng, target: usize, ascii_only: bool) -> String {
    let mut out = String::with_capacity(target + 80);
    let mut col = 0;
    while out.len() < target {
        let mut w = *rng.pick(WORDS);
        if ascii_only && !w.is_ascii() {
            w = "text";
        }
        if col + w.len() > 72 {
            out.push('\n');
            col = 0;
            if rng.chance(0.15) {
                out.push('\n');
            }
        } else if col > 0 {
            out.push(' ');
            col += 1;
        }
        out.push_str(w);
        col += w.len();
    }
    out.push('\n');
    out
}

/// Builds the message (LF line ends) and reports whether it must be stored with CRLF
/// (the "bare LF" specimens: CRLF file with a few LF-only lines).
pub(crate) fn build(shape: &Shape, user_addr: &str) -> (Vec<u8>, bool) {
    let mut rng = Rng::derive(shape.seed, 2, shape.n);
    let eight_bit_headers = rng.chance(0.02);
    let bare_lf = rng.chance(0.005);
    let long_line = rng.chance(0.01);

    let (pname, paddr) = person(&mut rng);
    let (from, to) = if shape.sent {
        (
            format!("Test User <{user_addr}>"),
            address(&mut rng, &pname, &paddr, eight_bit_headers),
        )
    } else {
        (
            address(&mut rng, &pname, &paddr, eight_bit_headers),
            format!("Test User <{user_addr}>"),
        )
    };
    let topic = *rng.pick(SUBJECT_TOPICS);
    let subject = if shape.reply {
        format!("Re: {topic}")
    } else if rng.chance(0.3) {
        format!("{topic} {}", rng.range(1, 10_000))
    } else {
        topic.to_string()
    };
    let offsets = [0, 60, 120, -300, -240, 330, 540, -480];
    let offset = *rng.pick(&offsets);
    let sent_at = shape.internal_date - rng.range(5, 3600) as i64;

    let mut h = String::new();
    if !shape.sent {
        h.push_str(&format!(
            "Return-Path: <{paddr}>\nReceived: from mx{}.example.net (mx.example.net [192.0.2.{}])\n\tby mail.example.com with ESMTPS id {:016x}\n\tfor <{user_addr}>; {}\n",
            rng.range(1, 9),
            rng.range(1, 254),
            rng.next_u64(),
            rfc5322_date(shape.internal_date, 0)
        ));
    }
    h.push_str(&format!("From: {from}\nTo: {to}\n"));
    if rng.chance(0.15) {
        let (cn, ca) = person(&mut rng);
        h.push_str(&format!(
            "Cc: {}\n",
            address(&mut rng, &cn, &ca, eight_bit_headers)
        ));
    }
    h.push_str(&format!(
        "Subject: {}\nDate: {}\n",
        header_text(&mut rng, &subject, eight_bit_headers),
        rfc5322_date(sent_at, offset)
    ));
    if let Some(id) = &shape.message_id {
        h.push_str(&format!("Message-ID: {id}\n"));
    }
    if let Some(parent) = &shape.in_reply_to {
        h.push_str(&format!("In-Reply-To: {parent}\nReferences: {parent}\n"));
    }
    h.push_str(&format!(
        "X-Corpus-Id: {}-{:06}\nMIME-Version: 1.0\n",
        shape.seed, shape.n
    ));
    if rng.chance(0.3) {
        h.push_str("X-Mailer: passeur-corpus/1.0\n");
    }

    let header_len = h.len() + 120;
    let body_target = shape.target_size.saturating_sub(header_len).max(200);
    let boundary = |rng: &mut Rng, tag: &str| format!("=_{tag}_{:016x}", rng.next_u64());

    let mut body: Vec<u8> = Vec::with_capacity(body_target + 1024);
    let with_attachment =
        shape.attachment_bytes.is_some() || body_target > 16_000 || rng.chance(0.12);
    let alternative = rng.chance(0.55);
    // The text budget: small for messages carried by an attachment.
    let text_target = if with_attachment {
        (body_target / 8).clamp(300, 6000)
    } else if alternative {
        body_target * 2 / 5
    } else {
        body_target
    };

    let text_part = |rng: &mut Rng, out: &mut Vec<u8>| {
        let text = words(rng, text_target, false);
        let r = rng.f64();
        if text.is_ascii() || r < 0.2 {
            let text = if text.is_ascii() {
                text
            } else {
                words(rng, text_target, true)
            };
            out.extend_from_slice(
                b"Content-Type: text/plain; charset=us-ascii\nContent-Transfer-Encoding: 7bit\n\n",
            );
            out.extend_from_slice(text.as_bytes());
        } else if r < 0.6 {
            out.extend_from_slice(b"Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n\n");
            quoted_printable(&text, out);
        } else {
            out.extend_from_slice(b"Content-Type: text/plain; charset=utf-8; format=flowed\nContent-Transfer-Encoding: 8bit\n\n");
            out.extend_from_slice(text.as_bytes());
        }
    };
    let html_part = |rng: &mut Rng, out: &mut Vec<u8>| {
        let text = words(rng, text_target, false);
        let mut html = String::from("<html><head><meta charset=\"utf-8\"></head><body>");
        for para in text.split("\n\n") {
            html.push_str("<p>");
            html.push_str(&para.replace('&', "&amp;").replace('<', "&lt;"));
            html.push_str("</p>");
            if !long_line {
                html.push('\n');
            }
        }
        html.push_str("</body></html>\n");
        if long_line {
            // One very long unfolded line (>998 octets), as some HTML mailers send.
            out.extend_from_slice(
                b"Content-Type: text/html; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n",
            );
            out.extend_from_slice(html.replace('\n', " ").as_bytes());
            out.push(b'\n');
        } else {
            out.extend_from_slice(b"Content-Type: text/html; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n\n");
            quoted_printable(&html, out);
        }
    };

    let ctype;
    if with_attachment {
        let outer = boundary(&mut rng, "mixed");
        ctype = format!("multipart/mixed;\n boundary=\"{outer}\"");
        body.extend_from_slice(b"This is a multi-part message in MIME format.\n\n");
        body.extend_from_slice(format!("--{outer}\n").as_bytes());
        if alternative {
            let inner = boundary(&mut rng, "alt");
            body.extend_from_slice(
                format!(
                    "Content-Type: multipart/alternative;\n boundary=\"{inner}\"\n\n--{inner}\n"
                )
                .as_bytes(),
            );
            text_part(&mut rng, &mut body);
            body.extend_from_slice(format!("\n--{inner}\n").as_bytes());
            html_part(&mut rng, &mut body);
            body.extend_from_slice(format!("\n--{inner}--\n").as_bytes());
        } else {
            text_part(&mut rng, &mut body);
        }
        let remaining = body_target.saturating_sub(body.len() + 400);
        let raw = shape
            .attachment_bytes
            .unwrap_or((remaining * 3 / 4).max(100));
        let (fname, mime) = *rng.pick(ATTACH_NAMES);
        let disposition = if fname.is_ascii() {
            format!("attachment; filename=\"{fname}\"")
        } else {
            format!("attachment;\n filename*={}", rfc2231(fname))
        };
        let name_param = if fname.is_ascii() {
            format!("name=\"{fname}\"")
        } else {
            format!("name=\"{}\"", rfc2047_b(fname))
        };
        body.extend_from_slice(
            format!(
                "\n--{outer}\nContent-Type: {mime};\n {name_param}\nContent-Disposition: {disposition}\nContent-Transfer-Encoding: base64\n\n"
            )
            .as_bytes(),
        );
        let mut data = vec![0u8; raw];
        rng.fill(&mut data);
        base64_lines(&data, &mut body);
        body.extend_from_slice(format!("\n--{outer}--\n").as_bytes());
    } else if alternative {
        let b = boundary(&mut rng, "alt");
        ctype = format!("multipart/alternative;\n boundary=\"{b}\"");
        body.extend_from_slice(format!("--{b}\n").as_bytes());
        text_part(&mut rng, &mut body);
        body.extend_from_slice(format!("\n--{b}\n").as_bytes());
        html_part(&mut rng, &mut body);
        body.extend_from_slice(format!("\n--{b}--\n").as_bytes());
    } else {
        let mut part = Vec::new();
        text_part(&mut rng, &mut part);
        // Lift the part's own headers into the message header.
        let split = part
            .windows(2)
            .position(|w| w == b"\n\n")
            .map_or(0, |p| p + 2);
        let part_headers = String::from_utf8_lossy(&part[..split])
            .trim_end()
            .to_string();
        ctype = part_headers
            .strip_prefix("Content-Type: ")
            .unwrap_or("text/plain")
            .to_string();
        body.extend_from_slice(&part[split..]);
    }

    let mut msg = h.into_bytes();
    // For a single part, `ctype` also carries the Content-Transfer-Encoding line.
    msg.extend_from_slice(format!("Content-Type: {ctype}\n\n").as_bytes());
    msg.extend_from_slice(&body);

    if bare_lf {
        // CRLF everywhere except a few lines in the body.
        let mut crlf = Vec::with_capacity(msg.len() + msg.len() / 40);
        let body_start = msg.windows(2).position(|w| w == b"\n\n").unwrap_or(0);
        let mut line_no = 0usize;
        for (i, &b) in msg.iter().enumerate() {
            if b == b'\n' {
                line_no += 1;
                let keep_bare = i > body_start + 2 && line_no % 7 == 3;
                if !keep_bare {
                    crlf.push(b'\r');
                }
            }
            crlf.push(b);
        }
        return (crlf, true);
    }
    (msg, false)
}
