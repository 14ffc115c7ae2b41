//! Reading the bulk-creation files of project mode (CSV, or a spreadsheet: `.xlsx`, `.xls`,
//! `.ods`) into rows of the ten columns, and writing the templates.
//!
//! The columns, in this order (the original product's layout):
//! `Source Type (IMAP/Exchange/POP)`, `Source Server url`, `Source Login/Mail`,
//! `Source Password`, `Destination Type`, `Destination Url (can be left empty if detected)`,
//! `Destination Mail`, `Destination Password`, `Source admin mail (delegation)`,
//! `Destination Admin Mail (delegation)`.
//!
//! - CSV: `;`, `,` or tab as separator (the one the first line uses most), fields quoted or
//!   not, UTF-8 with or without BOM, else Windows-1252. Empty lines are skipped.
//! - Spreadsheets: the first sheet, read with calamine; a formula counts as its computed
//!   value, a number as written (`1234`, not `1234.0`).
//! - The first row is a header when at least four of its cells name a known column (the
//!   product's spellings, ours, and close ones: matching ignores case, spaces and
//!   punctuation). Columns are then matched by name, and those not found by position.
//!   Otherwise the first row is data and every column is taken by position.
//! - Row numbers are the file's own (line of a CSV record, row of the sheet), so that an
//!   error points to what the user sees in their editor.

use std::io::Cursor;

/// The columns, in the template's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Col {
    /// Source type: `imap`, `imaps`, `pop3s`, ... (empty: the project's).
    SourceType,
    /// Source server URL or host (empty: the project's).
    SourceUrl,
    /// Source login.
    SourceLogin,
    /// Source password.
    SourcePassword,
    /// Destination type (empty: the project's).
    DestinationType,
    /// Destination server URL or host (empty: the project's).
    DestinationUrl,
    /// Destination login.
    DestinationLogin,
    /// Destination password.
    DestinationPassword,
    /// Log in to the source as this admin (optional).
    SourceAdmin,
    /// Log in to the destination as this admin (optional).
    DestinationAdmin,
}

/// Every column, in the template's order.
pub const COLS: [Col; 10] = [
    Col::SourceType,
    Col::SourceUrl,
    Col::SourceLogin,
    Col::SourcePassword,
    Col::DestinationType,
    Col::DestinationUrl,
    Col::DestinationLogin,
    Col::DestinationPassword,
    Col::SourceAdmin,
    Col::DestinationAdmin,
];

impl Col {
    /// The template's header for this column.
    pub fn header(self) -> &'static str {
        match self {
            Col::SourceType => "Source Type (IMAP/Exchange/POP)",
            Col::SourceUrl => "Source Server url",
            Col::SourceLogin => "Source Login/Mail",
            Col::SourcePassword => "Source Password",
            Col::DestinationType => "Destination Type",
            Col::DestinationUrl => "Destination Url (can be left empty if detected)",
            Col::DestinationLogin => "Destination Mail",
            Col::DestinationPassword => "Destination Password",
            Col::SourceAdmin => "Source admin mail (delegation)",
            Col::DestinationAdmin => "Destination Admin Mail (delegation)",
        }
    }

    fn index(self) -> usize {
        COLS.iter().position(|c| *c == self).unwrap_or(0)
    }

    /// The column a header cell names, if it is recognisable.
    fn from_header(cell: &str) -> Option<Col> {
        let n: String = cell
            .chars()
            .filter(|c| c.is_alphanumeric())
            .flat_map(char::to_lowercase)
            .collect();
        let source = n.starts_with("source") || n.starts_with("src") || n.contains("source");
        let dest = n.starts_with("destination")
            || n.starts_with("dest")
            || n.starts_with("dst")
            || n.contains("destination");
        // "Source ... destination" would be odd: the side named first wins.
        let side_source = match (source, dest) {
            (true, true) => n.find("source") < n.find("dest"),
            (true, false) => true,
            (false, true) => false,
            (false, false) => return None,
        };
        let field = if n.contains("admin") || n.contains("delegation") {
            0
        } else if n.contains("password") || n.contains("motdepasse") || n.contains("passwd") {
            1
        } else if n.contains("type") {
            2
        } else if n.contains("url") || n.contains("server") || n.contains("serveur") {
            3
        } else if n.contains("login") || n.contains("mail") || n.contains("user") {
            4
        } else {
            return None;
        };
        Some(match (side_source, field) {
            (true, 0) => Col::SourceAdmin,
            (true, 1) => Col::SourcePassword,
            (true, 2) => Col::SourceType,
            (true, 3) => Col::SourceUrl,
            (true, _) => Col::SourceLogin,
            (false, 0) => Col::DestinationAdmin,
            (false, 1) => Col::DestinationPassword,
            (false, 2) => Col::DestinationType,
            (false, 3) => Col::DestinationUrl,
            (false, _) => Col::DestinationLogin,
        })
    }
}

/// One data row: its number in the file and its ten cells (trimmed; empty when absent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// The row's number in the file (the header is row 1).
    pub number: usize,
    /// The cells, in the order of [`COLS`].
    pub cells: [String; 10],
}

impl Row {
    /// The cell of column `c`.
    pub fn get(&self, c: Col) -> &str {
        &self.cells[c.index()]
    }
}

/// At most this many data rows in one file.
pub const MAX_ROWS: usize = 10_000;

/// The rows of a CSV or spreadsheet file. An error (a sentence) when the file cannot be read
/// at all.
pub fn parse(bytes: &[u8]) -> Result<Vec<Row>, String> {
    let raw = if is_spreadsheet(bytes) {
        read_spreadsheet(bytes)?
    } else if !is_text(bytes) {
        // Read as CSV, any binary file made rows of garbage, each refused cell by cell.
        return Err(
            "the file is neither a CSV text file nor a spreadsheet (xlsx, xls or ods)".into(),
        );
    } else {
        read_csv(bytes)?
    };
    let raw: Vec<(usize, Vec<String>)> = raw
        .into_iter()
        .map(|(n, cells)| (n, cells.into_iter().map(|c| c.trim().to_string()).collect()))
        .filter(|(_, cells): &(usize, Vec<String>)| cells.iter().any(|c| !c.is_empty()))
        .collect();
    let Some((_, first)) = raw.first() else {
        return Err("the file has no rows".into());
    };
    let by_name: Vec<Option<Col>> = first.iter().map(|c| Col::from_header(c)).collect();
    let recognised = {
        let mut seen: Vec<Col> = by_name.iter().flatten().copied().collect();
        seen.sort_by_key(|c| c.index());
        seen.dedup();
        seen.len()
    };
    let (map, data) = if recognised >= 4 {
        // Column i of the file holds map[i].
        let mut map: Vec<Option<Col>> = by_name.clone();
        for c in COLS {
            if !map.contains(&Some(c)) {
                let i = c.index();
                if i < map.len() && map[i].is_none() {
                    map[i] = Some(c);
                }
            }
        }
        (map, &raw[1..])
    } else {
        (COLS.iter().map(|c| Some(*c)).collect(), &raw[..])
    };
    if data.len() > MAX_ROWS {
        return Err(format!(
            "the file has {} rows: at most {MAX_ROWS} at once",
            data.len()
        ));
    }
    Ok(data
        .iter()
        .map(|(number, cells)| {
            let mut out: [String; 10] = Default::default();
            for (i, cell) in cells.iter().enumerate() {
                if let Some(Some(c)) = map.get(i) {
                    out[c.index()] = cell.clone();
                }
            }
            Row {
                number: *number,
                cells: out,
            }
        })
        .collect())
}

/// ZIP (xlsx, ods) or OLE2 (xls).
fn is_spreadsheet(b: &[u8]) -> bool {
    b.starts_with(b"PK\x03\x04") || b.starts_with(&[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1])
}

/// Whether `b` can be a text file: no NUL byte, and control characters other than tab and line
/// ends are rare (a binary file has one in about eight bytes; a text export, none).
fn is_text(b: &[u8]) -> bool {
    let control = b
        .iter()
        .filter(|&&c| (c < 0x20 && !matches!(c, b'\t' | b'\n' | b'\r')) || c == 0x7F)
        .count();
    !b.contains(&0) && control * 100 <= b.len()
}

/// The text of a CSV file: UTF-8 (a BOM dropped), else Windows-1252.
fn decode(bytes: &[u8]) -> String {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_string(),
        Err(_) => encoding_rs::WINDOWS_1252.decode(bytes).0.into_owned(),
    }
}

/// The separator the first non-empty line uses most: `;`, `,` or tab (`;` when none).
fn separator(text: &str) -> u8 {
    let line = text
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or_default();
    // Outside quotes only.
    let mut counts = [0usize; 3];
    let mut quoted = false;
    for ch in line.chars() {
        match ch {
            '"' => quoted = !quoted,
            ';' if !quoted => counts[0] += 1,
            ',' if !quoted => counts[1] += 1,
            '\t' if !quoted => counts[2] += 1,
            _ => {}
        }
    }
    let seps = [b';', b',', b'\t'];
    let best = (0..3).max_by_key(|i| (counts[*i], 3 - i)).unwrap_or(0);
    if counts[best] == 0 { b';' } else { seps[best] }
}

fn read_csv(bytes: &[u8]) -> Result<Vec<(usize, Vec<String>)>, String> {
    let text = decode(bytes);
    let mut r = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(separator(&text))
        .from_reader(text.as_bytes());
    let mut out = Vec::new();
    // The line a record starts on, from its byte offset (newlines counted as we go).
    let (mut seen, mut line) = (0usize, 1usize);
    for rec in r.records() {
        let rec = rec.map_err(|e| match e.position() {
            Some(p) => format!("the CSV file cannot be read at line {}: {e}", p.line()),
            None => format!("the CSV file cannot be read: {e}"),
        })?;
        let bytes = text.as_bytes();
        let mut at = rec
            .position()
            .map_or(seen, |p| p.byte() as usize)
            .min(bytes.len());
        // The reader may stop before the previous record's line end, and skips empty lines:
        // the record starts after them.
        while at < bytes.len() && matches!(bytes[at], b'\r' | b'\n') {
            at += 1;
        }
        if at > seen {
            line += bytes[seen..at].iter().filter(|b| **b == b'\n').count();
            seen = at;
        }
        out.push((line, rec.iter().map(str::to_string).collect()));
        if out.len() > MAX_ROWS + 1 {
            return Err(format!("the file has more than {MAX_ROWS} rows"));
        }
    }
    Ok(out)
}

fn read_spreadsheet(bytes: &[u8]) -> Result<Vec<(usize, Vec<String>)>, String> {
    use calamine::Reader;
    let mut wb = calamine::open_workbook_auto_from_rs(Cursor::new(bytes.to_vec()))
        .map_err(|e| format!("the spreadsheet cannot be read (xlsx, xls or ods): {e}"))?;
    let range = wb
        .worksheet_range_at(0)
        .ok_or("the spreadsheet has no sheet")?
        .map_err(|e| format!("the spreadsheet's first sheet cannot be read: {e}"))?;
    let (row0, col0) = range.start().unwrap_or((0, 0));
    let mut out = Vec::new();
    for (i, row) in range.rows().enumerate() {
        let mut cells: Vec<String> = vec![String::new(); col0 as usize];
        cells.extend(row.iter().map(cell_text));
        out.push((row0 as usize + i + 1, cells));
        if out.len() > MAX_ROWS + 1 {
            return Err(format!("the file has more than {MAX_ROWS} rows"));
        }
    }
    Ok(out)
}

/// A cell as text: numbers as written, dates as ISO 8601, errors as empty.
fn cell_text(d: &calamine::Data) -> String {
    use calamine::Data;
    match d {
        Data::Empty | Data::Error(_) => String::new(),
        Data::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", *f as i64),
        Data::DateTime(dt) => {
            // Days since 1899-12-30; a date in a login or password cell is shown as such.
            let days = dt.as_f64();
            let secs = ((days - 25_569.0) * 86_400.0).round() as i64;
            iso_date(secs)
        }
        other => other.to_string(),
    }
}

/// `YYYY-MM-DD` (and ` HH:MM:SS` when not midnight) of Unix seconds.
fn iso_date(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let tod = secs.rem_euclid(86_400);
    // Civil from days (proleptic Gregorian).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    if tod == 0 {
        format!("{y:04}-{m:02}-{d:02}")
    } else {
        format!(
            "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
            tod / 3600,
            tod / 60 % 60,
            tod % 60
        )
    }
}

/// The CSV template: the header and one example row, `;`-separated, UTF-8 with a BOM (so that
/// spreadsheet programs open it with the right encoding).
pub fn template_csv() -> String {
    let mut s = String::from("\u{FEFF}");
    let headers: Vec<&str> = COLS.iter().map(|c| c.header()).collect();
    s.push_str(&headers.join(";"));
    s.push_str("\r\n");
    s.push_str(&example_row().join(";"));
    s.push_str("\r\n");
    s
}

fn example_row() -> [&'static str; 10] {
    [
        "IMAP",
        "imap.old-provider.example",
        "alice@example.org",
        "old password",
        "IMAP",
        "",
        "alice@example.org",
        "new password",
        "",
        "",
    ]
}

/// The XLSX template: the same header (bold, frozen) and example row.
pub fn template_xlsx() -> Result<Vec<u8>, String> {
    use rust_xlsxwriter::{Format, Workbook};
    let mut wb = Workbook::new();
    let bold = Format::new().set_bold();
    let ws = wb.add_worksheet();
    let err = |e: rust_xlsxwriter::XlsxError| format!("cannot write the template: {e}");
    ws.set_name("Accounts").map_err(err)?;
    for (i, c) in COLS.iter().enumerate() {
        let col = i as u16;
        ws.write_string_with_format(0, col, c.header(), &bold)
            .map_err(err)?;
        ws.write_string(1, col, example_row()[i]).map_err(err)?;
        ws.set_column_width(col, 28).map_err(err)?;
    }
    ws.set_freeze_panes(1, 0).map_err(err)?;
    wb.save_to_buffer().map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cells(r: &Row) -> Vec<&str> {
        r.cells.iter().map(String::as_str).collect()
    }

    #[test]
    fn the_templates_read_back() {
        let rows = parse(template_csv().as_bytes()).unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].number, 2);
        assert_eq!(cells(&rows[0]), example_row().to_vec());
        let rows = parse(&template_xlsx().unwrap()).unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].number, 2);
        assert_eq!(cells(&rows[0]), example_row().to_vec());
    }

    #[test]
    fn the_original_products_headers_comma_and_quotes() {
        let csv = "\"Source Type(IMAP/Exchange/POP)\",\"Source Server url\",\"Source Login/Mail\",\"Source Password\",\"Destination Type\",\"Destination Url(can be leaved empty if hosted by OVH)\",\"Destination Mail\",\"Destination Password\",\"Source admin mail (delegation)\",\"Destination Admin Mail (delegation)\"\n\
                   IMAP,imap.a.example,a@a.example,\"p,w;\"\"x\",IMAP,,a@b.example,pw2,,\n\
                   \n\
                   IMAP,imap.a.example,b@a.example,pw3,IMAP,imap.b.example,b@b.example,pw4,admin@a.example,\n";
        let rows = parse(csv.as_bytes()).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].get(Col::SourcePassword), "p,w;\"x");
        assert_eq!(rows[0].get(Col::DestinationUrl), "");
        assert_eq!(rows[1].number, 4, "the empty line still counts");
        assert_eq!(rows[1].get(Col::SourceAdmin), "admin@a.example");
        assert_eq!(rows[1].get(Col::DestinationUrl), "imap.b.example");
    }

    #[test]
    fn columns_are_matched_by_name_in_any_order() {
        let csv = "Destination Password;Source Password;Source Login/Mail;Destination Mail;Source Server url\n\
                   d1;s1;a@x.example;b@y.example;imap.x.example\n";
        let rows = parse(csv.as_bytes()).unwrap();
        assert_eq!(rows[0].get(Col::DestinationPassword), "d1");
        assert_eq!(rows[0].get(Col::SourcePassword), "s1");
        assert_eq!(rows[0].get(Col::SourceLogin), "a@x.example");
        assert_eq!(rows[0].get(Col::DestinationLogin), "b@y.example");
        assert_eq!(rows[0].get(Col::SourceUrl), "imap.x.example");
    }

    #[test]
    fn without_a_header_columns_go_by_position() {
        let csv = "IMAP;h1;a@x.example;p1;IMAP;h2;b@y.example;p2\n";
        let rows = parse(csv.as_bytes()).unwrap();
        assert_eq!(rows[0].number, 1);
        assert_eq!(rows[0].get(Col::SourceUrl), "h1");
        assert_eq!(rows[0].get(Col::DestinationPassword), "p2");
        assert_eq!(rows[0].get(Col::SourceAdmin), "");
    }

    #[test]
    fn utf8_bom_and_windows_1252() {
        let mut cp1252 =
            b"Source Login/Mail;Source Password;Destination Mail;Destination Password\n".to_vec();
        cp1252.extend(b"z@x.example;caf\xe9;z@y.example;\x80uro\n");
        let rows = parse(&cp1252).unwrap();
        assert_eq!(rows[0].get(Col::SourcePassword), "café");
        assert_eq!(rows[0].get(Col::DestinationPassword), "€uro");
        let utf8 = "\u{FEFF}Source Login/Mail;Source Password;Destination Mail;Destination Password\nz@x.example;café;z@y.example;€uro\n";
        let rows = parse(utf8.as_bytes()).unwrap();
        assert_eq!(rows[0].get(Col::SourceLogin), "z@x.example");
        assert_eq!(rows[0].get(Col::DestinationPassword), "€uro");
    }

    #[test]
    fn ten_thousand_rows_and_no_more() {
        let mut s = template_csv();
        for i in 0..MAX_ROWS - 1 {
            s.push_str(&format!(
                "IMAP;h;u{i}@x.example;p;IMAP;;u{i}@y.example;q;;\r\n"
            ));
        }
        assert_eq!(parse(s.as_bytes()).unwrap().len(), MAX_ROWS);
        s.push_str("IMAP;h;over@x.example;p;IMAP;;over@y.example;q;;\r\n");
        let e = parse(s.as_bytes()).unwrap_err();
        assert!(e.contains("10000"), "{e}");
    }

    #[test]
    fn spreadsheet_numbers_formulas_and_dates() {
        use rust_xlsxwriter::{ExcelDateTime, Format, Formula, Workbook};
        let mut wb = Workbook::new();
        let ws = wb.add_worksheet();
        for (i, c) in COLS.iter().enumerate() {
            ws.write_string(0, i as u16, c.header()).unwrap();
        }
        ws.write_string(1, 2, "n@x.example").unwrap();
        ws.write_number(1, 3, 123456.0).unwrap();
        ws.write_string(1, 6, "n@y.example").unwrap();
        ws.write_formula(1, 7, Formula::new("=\"ab\"&\"cd\"").set_result("abcd"))
            .unwrap();
        let date = ExcelDateTime::parse_from_str("2024-03-05").unwrap();
        let fmt = Format::new().set_num_format("yyyy-mm-dd");
        ws.write_datetime_with_format(1, 1, &date, &fmt).unwrap();
        let rows = parse(&wb.save_to_buffer().unwrap()).unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].get(Col::SourcePassword), "123456");
        assert_eq!(rows[0].get(Col::DestinationPassword), "abcd");
        assert_eq!(rows[0].get(Col::SourceUrl), "2024-03-05");
    }

    #[test]
    fn not_a_spreadsheet_nor_rows() {
        assert!(
            parse(b"PK\x03\x04garbage")
                .unwrap_err()
                .contains("spreadsheet")
        );
        assert!(parse(b"\n\n;;;\n").unwrap_err().contains("no rows"));
        // Random bytes (a photo, an archive): one clear refusal, not rows of garbage.
        let mut x: u32 = 12345;
        let noise: Vec<u8> = (0..2000)
            .map(|_| {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                (x >> 16) as u8
            })
            .collect();
        assert!(
            parse(&noise)
                .unwrap_err()
                .contains("neither a CSV text file nor a spreadsheet")
        );
        assert!(parse(b"GIF89a\x01\x00\x01\x00\x80\x00\x00").is_err());
        // A Windows-1252 CSV with a form feed somewhere is still text.
        let csv = b"source_url;source_login;source_password;destination_url;destination_login;destination_password\r\nimap://old.example;caf\xe9@old.example;p\x0c;imap://new.example;caf\xe9@new.example;q\r\n";
        assert!(is_text(csv));
    }
}
