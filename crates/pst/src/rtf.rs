//! Compressed RTF ([MS-OXRTFCP]) and the extraction of HTML or plain text
//! encapsulated in RTF ([MS-OXRTFEX]).

const PREFIX: &[u8] = b"{\\rtf1\\ansi\\mac\\deff0\\deftab720{\\fonttbl;}{\\f0\\fnil \\froman \\fswiss \\fmodern \\fscript \\fdecor MS Sans SerifSymbolArialTimes New RomanCourier{\\colortbl\\red0\\green0\\blue0\r\n\\par \\pard\\plain\\f0\\fs20\\b\\i\\u\\tab\\tx";

/// Decompresses PR_RTF_COMPRESSED; `max_out` caps the output (hostile RAWSIZE).
pub(crate) fn decompress(data: &[u8], max_out: usize) -> Option<Vec<u8>> {
    if data.len() < 16 {
        return None;
    }
    let u = |at: usize| u32::from_le_bytes([data[at], data[at + 1], data[at + 2], data[at + 3]]);
    let comp_size = u(0) as usize;
    let raw_size = (u(4) as usize).min(max_out);
    let magic = u(8);
    let body = data.get(16..(comp_size + 4).min(data.len()))?;
    match magic {
        0x414C_454D => return Some(body.iter().take(raw_size).copied().collect()),
        0x7546_5A4C => {}
        _ => return None,
    }
    let mut dict = [0u8; 4096];
    dict[..PREFIX.len()].copy_from_slice(PREFIX);
    let mut wpos = PREFIX.len();
    // Each control byte expands to at most 8 references of 17 bytes: cap the guess.
    let mut out = Vec::with_capacity(raw_size.min(body.len().saturating_mul(9)));
    let mut i = 0;
    'outer: while i < body.len() {
        let control = body[i];
        i += 1;
        for bit in 0..8 {
            if i >= body.len() || out.len() >= raw_size {
                break 'outer;
            }
            if control & (1 << bit) == 0 {
                let b = body[i];
                i += 1;
                out.push(b);
                dict[wpos] = b;
                wpos = (wpos + 1) % 4096;
            } else {
                if i + 1 >= body.len() {
                    break 'outer;
                }
                let r = u16::from_be_bytes([body[i], body[i + 1]]);
                i += 2;
                let offset = usize::from(r >> 4);
                let len = usize::from(r & 0xf) + 2;
                if offset == wpos {
                    break 'outer;
                }
                for k in 0..len {
                    let b = dict[(offset + k) % 4096];
                    out.push(b);
                    dict[wpos] = b;
                    wpos = (wpos + 1) % 4096;
                }
            }
        }
    }
    out.truncate(raw_size);
    Some(out)
}

/// What the RTF body really is.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Encapsulated {
    Html(String),
    Text(String),
    /// Genuine rich text.
    None,
}

/// Recovers HTML (`\fromhtml1`) or text (`\fromtext`) from encapsulating RTF.
pub(crate) fn de_encapsulate(rtf: &[u8]) -> Encapsulated {
    let head = &rtf[..rtf.len().min(1024)];
    let contains = |needle: &[u8]| head.windows(needle.len()).any(|w| w == needle);
    let html = contains(b"\\fromhtml");
    if !html && !contains(b"\\fromtext") {
        return Encapsulated::None;
    }
    let text = extract(rtf, html);
    if html {
        Encapsulated::Html(text)
    } else {
        Encapsulated::Text(text)
    }
}

/// The visible text of genuine rich text (a plain-text rendering).
pub(crate) fn to_text(rtf: &[u8]) -> String {
    extract(rtf, false)
}

#[derive(Clone, Copy)]
struct Group {
    skip: bool,
    htmlrtf: bool,
    htmltag: bool,
    uc: usize,
}

fn extract(rtf: &[u8], html: bool) -> String {
    let mut out = String::new();
    let mut pending: Vec<u8> = Vec::new();
    let mut cp = 1252u32;
    let mut stack: Vec<Group> = Vec::new();
    let mut g = Group {
        skip: false,
        htmlrtf: false,
        htmltag: false,
        uc: 1,
    };
    let mut skip_chars = 0usize;
    let mut i = 0;
    let n = rtf.len();
    let visible = |g: &Group| !g.skip && (g.htmltag || !g.htmlrtf || !html);
    let flush = |pending: &mut Vec<u8>, out: &mut String, cp: u32| {
        if !pending.is_empty() {
            out.push_str(&crate::ltp::decode_cp(pending, cp));
            pending.clear();
        }
    };
    let mut first_in_group = false;
    while i < n {
        let c = rtf[i];
        match c {
            b'{' => {
                if stack.len() > 256 {
                    break;
                }
                stack.push(g);
                first_in_group = true;
                i += 1;
                continue;
            }
            b'}' => {
                flush(&mut pending, &mut out, cp);
                match stack.pop() {
                    Some(prev) => g = prev,
                    None => break,
                }
                i += 1;
            }
            b'\\' => {
                i += 1;
                let Some(&nc) = rtf.get(i) else { break };
                if nc.is_ascii_alphabetic() {
                    let start = i;
                    while i < n && rtf[i].is_ascii_alphabetic() {
                        i += 1;
                    }
                    let word = &rtf[start..i];
                    let mut param: Option<i64> = None;
                    let neg = i < n && rtf[i] == b'-';
                    if neg {
                        i += 1;
                    }
                    let ds = i;
                    while i < n && rtf[i].is_ascii_digit() && i - ds < 10 {
                        i += 1;
                    }
                    if i > ds {
                        let v: i64 = std::str::from_utf8(&rtf[ds..i])
                            .ok()
                            .and_then(|s| s.parse().ok())
                            .unwrap_or(0);
                        param = Some(if neg { -v } else { v });
                    }
                    if i < n && rtf[i] == b' ' {
                        i += 1;
                    }
                    let was_first = first_in_group;
                    first_in_group = false;
                    if skip_chars > 0 && word != b"u" {
                        skip_chars -= 1;
                        continue;
                    }
                    match word {
                        b"htmltag" if html => {
                            flush(&mut pending, &mut out, cp);
                            g.htmltag = true;
                            g.skip = false;
                        }
                        b"htmlrtf" => {
                            flush(&mut pending, &mut out, cp);
                            g.htmlrtf = param != Some(0);
                        }
                        b"ansicpg" => cp = param.unwrap_or(1252).clamp(0, 65535) as u32,
                        b"uc" => g.uc = param.unwrap_or(1).clamp(0, 10) as usize,
                        b"u" => {
                            if visible(&g) {
                                flush(&mut pending, &mut out, cp);
                                let v = param.unwrap_or(0);
                                let v = if v < 0 { v + 65536 } else { v };
                                if let Some(ch) = char::from_u32(v as u32) {
                                    out.push(ch);
                                }
                            }
                            skip_chars = g.uc;
                        }
                        b"par" | b"line" if visible(&g) && !g.htmltag => {
                            flush(&mut pending, &mut out, cp);
                            out.push_str("\r\n");
                        }
                        b"tab" if visible(&g) => out.push('\t'),
                        b"fonttbl" | b"colortbl" | b"stylesheet" | b"info" | b"pict"
                        | b"object" | b"header" | b"footer" | b"generator" => g.skip = true,
                        b"mhtmltag" | b"objdata" | b"listtable" | b"listoverridetable"
                        | b"rsidtbl" | b"datastore" | b"themedata" | b"latentstyles" => {
                            g.skip = true
                        }
                        // \binN: N raw bytes follow, never text.
                        b"bin" => {
                            let skip = param.unwrap_or(0).clamp(0, n as i64) as usize;
                            i = i.saturating_add(skip).min(n);
                        }
                        // An ignorable destination we do not know.
                        _ if was_first
                            && stack_star(rtf, start)
                            && !g.htmltag
                            && word != b"htmltag" =>
                        {
                            g.skip = true;
                        }
                        _ => {}
                    }
                } else if nc == b'\'' {
                    let hex = rtf.get(i + 1..i + 3).and_then(|h| {
                        std::str::from_utf8(h)
                            .ok()
                            .and_then(|s| u8::from_str_radix(s, 16).ok())
                    });
                    i += 3;
                    if skip_chars > 0 {
                        skip_chars -= 1;
                        continue;
                    }
                    if let Some(b) = hex
                        && visible(&g)
                    {
                        pending.push(b);
                    }
                } else {
                    i += 1;
                    if nc == b'*' {
                        continue;
                    }
                    if skip_chars > 0 {
                        skip_chars -= 1;
                        continue;
                    }
                    if visible(&g) {
                        match nc {
                            b'\\' | b'{' | b'}' => {
                                flush(&mut pending, &mut out, cp);
                                out.push(char::from(nc));
                            }
                            b'~' => out.push('\u{a0}'),
                            b'\r' | b'\n' if !g.htmltag => {
                                flush(&mut pending, &mut out, cp);
                                out.push_str("\r\n");
                            }
                            _ => {}
                        }
                    }
                }
                continue;
            }
            b'\r' | b'\n' => i += 1,
            _ => {
                first_in_group = false;
                if skip_chars > 0 {
                    skip_chars -= 1;
                } else if visible(&g) {
                    pending.push(c);
                }
                i += 1;
            }
        }
    }
    flush(&mut pending, &mut out, cp);
    out
}

/// Whether the control word starting at `start` follows `\*` (an ignorable destination).
fn stack_star(rtf: &[u8], start: usize) -> bool {
    let before = &rtf[..start.saturating_sub(1)];
    let trimmed = before
        .iter()
        .rev()
        .position(|b| !b.is_ascii_whitespace())
        .map(|p| before.len() - p);
    matches!(trimmed, Some(end) if end >= 2 && &before[end - 2..end] == b"\\*")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_is_207_bytes() {
        assert_eq!(PREFIX.len(), 207);
    }

    #[test]
    fn decompresses_spec_example() {
        // [MS-OXRTFCP] 3.1.1.1.2 example: "{\rtf1\ansi\ansicpg1252\pard hello world}\r\n"
        let data: [u8; 0x2d + 4] = [
            0x2d, 0, 0, 0, 0x2b, 0, 0, 0, 0x4c, 0x5a, 0x46, 0x75, 0xf1, 0xc5, 0xc7, 0xa7, 0x03,
            0x00, 0x0a, 0x00, 0x72, 0x63, 0x70, 0x67, 0x31, 0x32, 0x35, 0x42, 0x32, 0x0a, 0xf3,
            0x20, 0x68, 0x65, 0x6c, 0x09, 0x00, 0x20, 0x62, 0x77, 0x05, 0xb0, 0x6c, 0x64, 0x7d,
            0x0a, 0x80, 0x0f, 0xa0,
        ];
        let out = decompress(&data, 1 << 20).unwrap();
        assert_eq!(out, b"{\\rtf1\\ansi\\ansicpg1252\\pard hello world}\r\n");
    }

    #[test]
    fn extracts_html() {
        let rtf = br"{\rtf1\ansi\ansicpg1252\fromhtml1 \deff0{\fonttbl{\f0\fswiss Arial;}}{\*\htmltag19 <html>}{\*\htmltag34 <body>}\htmlrtf {\htmlrtf0 Hello \'e9t\'e9{\*\htmltag84 <br>}\htmlrtf\par\htmlrtf0}{\*\htmltag35 </body>}}";
        match de_encapsulate(rtf) {
            Encapsulated::Html(h) => assert_eq!(h, "<html><body>Hello été<br></body>"),
            other => panic!("{other:?}"),
        }
    }
}
