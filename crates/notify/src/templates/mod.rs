//! The texts of every notification, one module per language: [`en`] and [`fr`].
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
    pub subject: String,
    pub body: String,
}

/// Writes `n` in `lang`.
pub fn render(lang: Lang, n: &Notification) -> Rendered {
    match lang {
        Lang::Fr => fr::render(n),
        Lang::En => en::render(n),
    }
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
