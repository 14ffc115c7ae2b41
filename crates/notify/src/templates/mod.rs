//! The texts of every notification, one module per language: `en.rs` and `fr.rs`.
//! Translators: each module is the whole of one language, with nothing else in it.
//!
//! [`render`] picks the module; the helpers here clean what callers pass in (one line,
//! no control characters, no password in a URL) and bound the list of failures.

use crate::notification::{Lang, MAX_FAILURE_LINE_CHARS, MAX_FAILURE_LINES, Notification};

mod en;
mod fr;

/// A notification's subject and plain-text body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// The `Subject:` line.
    pub subject: String,
    /// The plain-text body, wrapped.
    pub body: String,
}

/// Writes `n` in `lang`. Paragraphs are wrapped at [`WRAP`] columns.
pub fn render(lang: Lang, n: &Notification) -> Rendered {
    let r = match lang {
        Lang::Fr => fr::render(n),
        Lang::En => en::render(n),
    };
    Rendered {
        subject: r.subject,
        body: wrap(&r.body),
    }
}

/// Plain-text lines are wrapped at this many characters (RFC 5322 recommends 78).
pub const WRAP: usize = 72;

/// Wraps each long line at spaces (never at a no-break space, never inside a word or a
/// link); indented lines (lists, counts) are left whole.
pub(crate) fn wrap(body: &str) -> String {
    let mut out = String::with_capacity(body.len() + body.len() / WRAP);
    for (i, l) in body.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
        }
        if l.chars().count() <= WRAP || l.starts_with(' ') {
            out.push_str(l);
            continue;
        }
        let mut width = 0;
        for (j, word) in l.split(' ').enumerate() {
            let w = word.chars().count();
            if j > 0 {
                if width + 1 + w > WRAP {
                    out.push('\n');
                    width = 0;
                } else {
                    out.push(' ');
                    width += 1;
                }
            }
            out.push_str(word);
            width += w;
        }
    }
    out
}

/// One line of caller text: control characters (line breaks included) become spaces,
/// runs of spaces one, and a URL loses its password.
pub(crate) fn line(s: &str) -> String {
    let s = strip_password(s.trim());
    let mut out = String::with_capacity(s.len());
    let mut space = false;
    for c in s.chars() {
        let c = if c.is_control() { ' ' } else { c };
        if c == ' ' {
            if !space && !out.is_empty() {
                out.push(' ');
            }
            space = true;
        } else {
            out.push(c);
            space = false;
        }
    }
    out.truncate(out.trim_end().len());
    out
}

fn strip_password(s: &str) -> String {
    match url::Url::parse(s) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(None);
            u.into()
        }
        _ => s.to_owned(),
    }
}

/// The failure lines to show, each cleaned and cut, and how many failed items are left
/// unnamed (`total_failed` minus those shown, or the lines dropped if more).
pub(crate) fn failures(lines: &[String], total_failed: u64) -> (Vec<String>, u64) {
    let shown: Vec<String> = lines
        .iter()
        .map(|l| line(l))
        .filter(|l| !l.is_empty())
        .take(MAX_FAILURE_LINES)
        .map(|l| cut(&l, MAX_FAILURE_LINE_CHARS))
        .collect();
    let listed = lines.len() as u64;
    let rest = total_failed.max(listed).saturating_sub(shown.len() as u64);
    (shown, rest)
}

fn cut(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max - 1).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests;
