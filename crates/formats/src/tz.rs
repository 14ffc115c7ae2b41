//! Time zones: Windows (Outlook / Exchange) zone names to IANA names, and built-in
//! VTIMEZONE definitions for common IANA zones.
//!
//! The table is compact on purpose: it holds each zone's *current* rule (offsets and
//! daylight-saving transitions as a yearly RRULE), which is what calendar servers
//! and clients need to place present and future events. Events far in the past in
//! zones whose rules changed (the US before 2007, for instance) are placed by the
//! current rule; where the source file carries its own VTIMEZONE, that one is kept.

/// Daylight-saving rule families (current rules).
#[derive(Clone, Copy)]
enum Dst {
    None,
    /// EU: last Sunday of March to last Sunday of October, at 01:00 UTC.
    Eu,
    /// US / Canada: second Sunday of March to first Sunday of November, 02:00 local.
    Us,
    /// South-eastern Australia: first Sunday of October to first Sunday of April.
    Au,
    /// New Zealand: last Sunday of September to first Sunday of April.
    Nz,
    /// Israel: the Friday before the last Sunday of March to the last Sunday of October.
    Il,
}

/// (IANA name, standard offset in minutes east of UTC, rule, standard abbreviation,
/// daylight abbreviation)
const ZONES: &[(&str, i32, Dst, &str, &str)] = &[
    ("UTC", 0, Dst::None, "UTC", ""),
    ("Etc/UTC", 0, Dst::None, "UTC", ""),
    ("GMT", 0, Dst::None, "GMT", ""),
    ("Atlantic/Reykjavik", 0, Dst::None, "GMT", ""),
    ("Atlantic/Azores", -60, Dst::Eu, "-01", "+00"),
    ("Atlantic/Cape_Verde", -60, Dst::None, "-01", ""),
    ("Europe/London", 0, Dst::Eu, "GMT", "BST"),
    ("Europe/Dublin", 0, Dst::Eu, "GMT", "IST"),
    ("Europe/Lisbon", 0, Dst::Eu, "WET", "WEST"),
    ("Europe/Paris", 60, Dst::Eu, "CET", "CEST"),
    ("Europe/Berlin", 60, Dst::Eu, "CET", "CEST"),
    ("Europe/Amsterdam", 60, Dst::Eu, "CET", "CEST"),
    ("Europe/Brussels", 60, Dst::Eu, "CET", "CEST"),
    ("Europe/Luxembourg", 60, Dst::Eu, "CET", "CEST"),
    ("Europe/Madrid", 60, Dst::Eu, "CET", "CEST"),
    ("Europe/Rome", 60, Dst::Eu, "CET", "CEST"),
    ("Europe/Vienna", 60, Dst::Eu, "CET", "CEST"),
    ("Europe/Zurich", 60, Dst::Eu, "CET", "CEST"),
    ("Europe/Stockholm", 60, Dst::Eu, "CET", "CEST"),
    ("Europe/Oslo", 60, Dst::Eu, "CET", "CEST"),
    ("Europe/Copenhagen", 60, Dst::Eu, "CET", "CEST"),
    ("Europe/Prague", 60, Dst::Eu, "CET", "CEST"),
    ("Europe/Warsaw", 60, Dst::Eu, "CET", "CEST"),
    ("Europe/Budapest", 60, Dst::Eu, "CET", "CEST"),
    ("Europe/Belgrade", 60, Dst::Eu, "CET", "CEST"),
    ("Europe/Zagreb", 60, Dst::Eu, "CET", "CEST"),
    ("Africa/Lagos", 60, Dst::None, "WAT", ""),
    ("Europe/Athens", 120, Dst::Eu, "EET", "EEST"),
    ("Europe/Helsinki", 120, Dst::Eu, "EET", "EEST"),
    ("Europe/Kiev", 120, Dst::Eu, "EET", "EEST"),
    ("Europe/Kyiv", 120, Dst::Eu, "EET", "EEST"),
    ("Europe/Bucharest", 120, Dst::Eu, "EET", "EEST"),
    ("Europe/Sofia", 120, Dst::Eu, "EET", "EEST"),
    ("Europe/Riga", 120, Dst::Eu, "EET", "EEST"),
    ("Europe/Tallinn", 120, Dst::Eu, "EET", "EEST"),
    ("Europe/Vilnius", 120, Dst::Eu, "EET", "EEST"),
    ("Africa/Johannesburg", 120, Dst::None, "SAST", ""),
    ("Asia/Jerusalem", 120, Dst::Il, "IST", "IDT"),
    ("Europe/Istanbul", 180, Dst::None, "+03", ""),
    ("Europe/Moscow", 180, Dst::None, "MSK", ""),
    ("Europe/Minsk", 180, Dst::None, "+03", ""),
    ("Asia/Riyadh", 180, Dst::None, "+03", ""),
    ("Asia/Baghdad", 180, Dst::None, "+03", ""),
    ("Africa/Nairobi", 180, Dst::None, "EAT", ""),
    ("Asia/Tehran", 210, Dst::None, "+0330", ""),
    ("Asia/Dubai", 240, Dst::None, "+04", ""),
    ("Asia/Baku", 240, Dst::None, "+04", ""),
    ("Asia/Tbilisi", 240, Dst::None, "+04", ""),
    ("Asia/Yerevan", 240, Dst::None, "+04", ""),
    ("Indian/Mauritius", 240, Dst::None, "+04", ""),
    ("Asia/Kabul", 270, Dst::None, "+0430", ""),
    ("Asia/Karachi", 300, Dst::None, "PKT", ""),
    ("Asia/Tashkent", 300, Dst::None, "+05", ""),
    ("Asia/Yekaterinburg", 300, Dst::None, "+05", ""),
    ("Asia/Almaty", 300, Dst::None, "+05", ""),
    ("Asia/Kolkata", 330, Dst::None, "IST", ""),
    ("Asia/Calcutta", 330, Dst::None, "IST", ""),
    ("Asia/Colombo", 330, Dst::None, "+0530", ""),
    ("Asia/Kathmandu", 345, Dst::None, "+0545", ""),
    ("Asia/Dhaka", 360, Dst::None, "+06", ""),
    ("Asia/Yangon", 390, Dst::None, "+0630", ""),
    ("Asia/Bangkok", 420, Dst::None, "+07", ""),
    ("Asia/Jakarta", 420, Dst::None, "WIB", ""),
    ("Asia/Novosibirsk", 420, Dst::None, "+07", ""),
    ("Asia/Krasnoyarsk", 420, Dst::None, "+07", ""),
    ("Asia/Shanghai", 480, Dst::None, "CST", ""),
    ("Asia/Hong_Kong", 480, Dst::None, "HKT", ""),
    ("Asia/Singapore", 480, Dst::None, "+08", ""),
    ("Asia/Taipei", 480, Dst::None, "CST", ""),
    ("Asia/Manila", 480, Dst::None, "PST", ""),
    ("Asia/Irkutsk", 480, Dst::None, "+08", ""),
    ("Asia/Ulaanbaatar", 480, Dst::None, "+08", ""),
    ("Australia/Perth", 480, Dst::None, "AWST", ""),
    ("Asia/Tokyo", 540, Dst::None, "JST", ""),
    ("Asia/Seoul", 540, Dst::None, "KST", ""),
    ("Asia/Yakutsk", 540, Dst::None, "+09", ""),
    ("Australia/Darwin", 570, Dst::None, "ACST", ""),
    ("Australia/Adelaide", 570, Dst::Au, "ACST", "ACDT"),
    ("Australia/Brisbane", 600, Dst::None, "AEST", ""),
    ("Australia/Sydney", 600, Dst::Au, "AEST", "AEDT"),
    ("Australia/Melbourne", 600, Dst::Au, "AEST", "AEDT"),
    ("Australia/Hobart", 600, Dst::Au, "AEST", "AEDT"),
    ("Asia/Vladivostok", 600, Dst::None, "+10", ""),
    ("Pacific/Port_Moresby", 600, Dst::None, "+10", ""),
    ("Pacific/Auckland", 720, Dst::Nz, "NZST", "NZDT"),
    ("Pacific/Fiji", 720, Dst::None, "+12", ""),
    ("Pacific/Tongatapu", 780, Dst::None, "+13", ""),
    ("America/St_Johns", -210, Dst::Us, "NST", "NDT"),
    ("America/Halifax", -240, Dst::Us, "AST", "ADT"),
    ("America/La_Paz", -240, Dst::None, "-04", ""),
    ("America/Caracas", -240, Dst::None, "-04", ""),
    ("America/Sao_Paulo", -180, Dst::None, "-03", ""),
    ("America/Argentina/Buenos_Aires", -180, Dst::None, "-03", ""),
    ("America/Buenos_Aires", -180, Dst::None, "-03", ""),
    ("America/New_York", -300, Dst::Us, "EST", "EDT"),
    ("America/Toronto", -300, Dst::Us, "EST", "EDT"),
    ("America/Detroit", -300, Dst::Us, "EST", "EDT"),
    ("America/Bogota", -300, Dst::None, "-05", ""),
    ("America/Lima", -300, Dst::None, "-05", ""),
    ("America/Chicago", -360, Dst::Us, "CST", "CDT"),
    ("America/Winnipeg", -360, Dst::Us, "CST", "CDT"),
    ("America/Mexico_City", -360, Dst::None, "CST", ""),
    ("America/Regina", -360, Dst::None, "CST", ""),
    ("America/Guatemala", -360, Dst::None, "CST", ""),
    ("America/Denver", -420, Dst::Us, "MST", "MDT"),
    ("America/Edmonton", -420, Dst::Us, "MST", "MDT"),
    ("America/Phoenix", -420, Dst::None, "MST", ""),
    ("America/Mazatlan", -420, Dst::None, "MST", ""),
    ("America/Los_Angeles", -480, Dst::Us, "PST", "PDT"),
    ("America/Vancouver", -480, Dst::Us, "PST", "PDT"),
    ("America/Anchorage", -540, Dst::Us, "AKST", "AKDT"),
    ("Pacific/Honolulu", -600, Dst::None, "HST", ""),
];

/// Old or alternative names that mean one of [`ZONES`].
const ALIASES: &[(&str, &str)] = &[
    ("US/Eastern", "America/New_York"),
    ("US/Central", "America/Chicago"),
    ("US/Mountain", "America/Denver"),
    ("US/Pacific", "America/Los_Angeles"),
    ("US/Alaska", "America/Anchorage"),
    ("US/Hawaii", "Pacific/Honolulu"),
    ("US/Arizona", "America/Phoenix"),
    ("Europe/Lisboa", "Europe/Lisbon"),
    ("Asia/Katmandu", "Asia/Kathmandu"),
    ("Asia/Rangoon", "Asia/Yangon"),
    ("Zulu", "UTC"),
];

/// Windows time-zone IDs (registry key names, as Outlook and Exchange write them in
/// TZID) to IANA names, after the CLDR `windowsZones` "001" territory mapping.
const WINDOWS: &[(&str, &str)] = &[
    ("UTC", "UTC"),
    ("Coordinated Universal Time", "UTC"),
    ("GMT Standard Time", "Europe/London"),
    ("Greenwich Standard Time", "Atlantic/Reykjavik"),
    ("W. Europe Standard Time", "Europe/Berlin"),
    ("Central Europe Standard Time", "Europe/Budapest"),
    ("Romance Standard Time", "Europe/Paris"),
    ("Central European Standard Time", "Europe/Warsaw"),
    ("W. Central Africa Standard Time", "Africa/Lagos"),
    ("GTB Standard Time", "Europe/Bucharest"),
    ("FLE Standard Time", "Europe/Kiev"),
    ("Egypt Standard Time", "Africa/Cairo"),
    ("South Africa Standard Time", "Africa/Johannesburg"),
    ("Israel Standard Time", "Asia/Jerusalem"),
    ("Jerusalem Standard Time", "Asia/Jerusalem"),
    ("Turkey Standard Time", "Europe/Istanbul"),
    ("Belarus Standard Time", "Europe/Minsk"),
    ("Russian Standard Time", "Europe/Moscow"),
    ("Arab Standard Time", "Asia/Riyadh"),
    ("Arabic Standard Time", "Asia/Baghdad"),
    ("E. Africa Standard Time", "Africa/Nairobi"),
    ("Iran Standard Time", "Asia/Tehran"),
    ("Arabian Standard Time", "Asia/Dubai"),
    ("Azerbaijan Standard Time", "Asia/Baku"),
    ("Georgian Standard Time", "Asia/Tbilisi"),
    ("Caucasus Standard Time", "Asia/Yerevan"),
    ("Mauritius Standard Time", "Indian/Mauritius"),
    ("Afghanistan Standard Time", "Asia/Kabul"),
    ("Pakistan Standard Time", "Asia/Karachi"),
    ("West Asia Standard Time", "Asia/Tashkent"),
    ("Ekaterinburg Standard Time", "Asia/Yekaterinburg"),
    ("Central Asia Standard Time", "Asia/Almaty"),
    ("India Standard Time", "Asia/Kolkata"),
    ("Sri Lanka Standard Time", "Asia/Colombo"),
    ("Nepal Standard Time", "Asia/Kathmandu"),
    ("Bangladesh Standard Time", "Asia/Dhaka"),
    ("Myanmar Standard Time", "Asia/Yangon"),
    ("SE Asia Standard Time", "Asia/Bangkok"),
    ("N. Central Asia Standard Time", "Asia/Novosibirsk"),
    ("North Asia Standard Time", "Asia/Krasnoyarsk"),
    ("China Standard Time", "Asia/Shanghai"),
    ("North Asia East Standard Time", "Asia/Irkutsk"),
    ("Singapore Standard Time", "Asia/Singapore"),
    ("Malay Peninsula Standard Time", "Asia/Singapore"),
    ("W. Australia Standard Time", "Australia/Perth"),
    ("Taipei Standard Time", "Asia/Taipei"),
    ("Ulaanbaatar Standard Time", "Asia/Ulaanbaatar"),
    ("Tokyo Standard Time", "Asia/Tokyo"),
    ("Korea Standard Time", "Asia/Seoul"),
    ("Yakutsk Standard Time", "Asia/Yakutsk"),
    ("Cen. Australia Standard Time", "Australia/Adelaide"),
    ("AUS Central Standard Time", "Australia/Darwin"),
    ("E. Australia Standard Time", "Australia/Brisbane"),
    ("AUS Eastern Standard Time", "Australia/Sydney"),
    ("West Pacific Standard Time", "Pacific/Port_Moresby"),
    ("Tasmania Standard Time", "Australia/Hobart"),
    ("Vladivostok Standard Time", "Asia/Vladivostok"),
    ("New Zealand Standard Time", "Pacific/Auckland"),
    ("Fiji Standard Time", "Pacific/Fiji"),
    ("Tonga Standard Time", "Pacific/Tongatapu"),
    ("Azores Standard Time", "Atlantic/Azores"),
    ("Cape Verde Standard Time", "Atlantic/Cape_Verde"),
    ("E. South America Standard Time", "America/Sao_Paulo"),
    ("Argentina Standard Time", "America/Buenos_Aires"),
    ("Newfoundland Standard Time", "America/St_Johns"),
    ("Atlantic Standard Time", "America/Halifax"),
    ("SA Western Standard Time", "America/La_Paz"),
    ("Venezuela Standard Time", "America/Caracas"),
    ("Eastern Standard Time", "America/New_York"),
    ("US Eastern Standard Time", "America/New_York"),
    ("SA Pacific Standard Time", "America/Bogota"),
    ("Central Standard Time", "America/Chicago"),
    ("Central Standard Time (Mexico)", "America/Mexico_City"),
    ("Canada Central Standard Time", "America/Regina"),
    ("Central America Standard Time", "America/Guatemala"),
    ("Mountain Standard Time", "America/Denver"),
    ("Mountain Standard Time (Mexico)", "America/Mazatlan"),
    ("US Mountain Standard Time", "America/Phoenix"),
    ("Pacific Standard Time", "America/Los_Angeles"),
    ("Alaskan Standard Time", "America/Anchorage"),
    ("Hawaiian Standard Time", "Pacific/Honolulu"),
];

/// The IANA name for a Windows time-zone ID (`"W. Europe Standard Time"` ->
/// `"Europe/Berlin"`), matched without regard to case or surrounding quotes.
pub fn windows_to_iana(name: &str) -> Option<&'static str> {
    let n = name.trim().trim_matches('"').trim();
    WINDOWS
        .iter()
        .find(|(w, _)| w.eq_ignore_ascii_case(n))
        .map(|(_, iana)| *iana)
}

/// The canonical name this crate knows `tzid` by, following aliases; `None` when
/// the zone has no built-in definition.
pub fn known_zone(tzid: &str) -> Option<&'static str> {
    let n = tzid.trim();
    if let Some((_, to)) = ALIASES.iter().find(|(a, _)| a.eq_ignore_ascii_case(n)) {
        return Some(to);
    }
    if let Some(z) = ZONES.iter().find(|z| z.0.eq_ignore_ascii_case(n)) {
        return Some(z.0);
    }
    None
}

fn offset(mins: i32) -> String {
    let sign = if mins < 0 { '-' } else { '+' };
    let m = mins.abs();
    format!("{sign}{:02}{:02}", m / 60, m % 60)
}

fn local_time(mins: i32) -> String {
    let m = mins.rem_euclid(24 * 60);
    format!("T{:02}{:02}00", m / 60, m % 60)
}

fn etc_gmt(tzid: &str) -> Option<i32> {
    // POSIX sign convention: Etc/GMT+5 is five hours *behind* UTC.
    let rest = tzid.strip_prefix("Etc/GMT")?;
    if rest.is_empty() {
        return Some(0);
    }
    let h: i32 = rest.parse().ok()?;
    if !(-14..=12).contains(&h) {
        return None;
    }
    Some(-h * 60)
}

/// A VTIMEZONE (CRLF lines, ending with CRLF) for `tzid`, with `TZID:` set to `tzid`
/// as given, when the zone (or an alias of it, or `Etc/GMT±N`) is in the built-in table.
pub fn builtin_vtimezone(tzid: &str) -> Option<String> {
    let (std, dst, sa, da) = if let Some(off) = etc_gmt(tzid.trim()) {
        (off, Dst::None, "", "")
    } else {
        let canon = known_zone(tzid)?;
        let z = ZONES.iter().find(|z| z.0 == canon)?;
        (z.1, z.2, z.3, z.4)
    };
    let mut s = String::new();
    s.push_str("BEGIN:VTIMEZONE\r\n");
    crate::line::fold_into(&mut s, &format!("TZID:{tzid}"));
    let sub =
        |s: &mut String, kind: &str, from: i32, to: i32, name: &str, start: String, rule: &str| {
            s.push_str(&format!("BEGIN:{kind}\r\n"));
            s.push_str(&format!(
                "TZOFFSETFROM:{}\r\nTZOFFSETTO:{}\r\n",
                offset(from),
                offset(to)
            ));
            if !name.is_empty() {
                s.push_str(&format!("TZNAME:{name}\r\n"));
            }
            s.push_str(&format!("DTSTART:{start}\r\n"));
            if !rule.is_empty() {
                s.push_str(&format!("RRULE:{rule}\r\n"));
            }
            s.push_str(&format!("END:{kind}\r\n"));
        };
    let d = std + 60;
    // (daylight start date-time, its rule, standard start date-time, its rule), in 1970.
    let rules: Option<(String, &str, String, &str)> = match dst {
        Dst::None => None,
        Dst::Eu => Some((
            format!("19700329{}", local_time(60 + std)),
            "FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU",
            format!("19701025{}", local_time(60 + d)),
            "FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU",
        )),
        Dst::Us => Some((
            "19700308T020000".into(),
            "FREQ=YEARLY;BYMONTH=3;BYDAY=2SU",
            "19701101T020000".into(),
            "FREQ=YEARLY;BYMONTH=11;BYDAY=1SU",
        )),
        Dst::Au => Some((
            "19701004T020000".into(),
            "FREQ=YEARLY;BYMONTH=10;BYDAY=1SU",
            "19700405T030000".into(),
            "FREQ=YEARLY;BYMONTH=4;BYDAY=1SU",
        )),
        Dst::Nz => Some((
            "19700927T020000".into(),
            "FREQ=YEARLY;BYMONTH=9;BYDAY=-1SU",
            "19700405T030000".into(),
            "FREQ=YEARLY;BYMONTH=4;BYDAY=1SU",
        )),
        Dst::Il => Some((
            "19700327T020000".into(),
            "FREQ=YEARLY;BYMONTH=3;BYDAY=FR;BYMONTHDAY=23,24,25,26,27,28,29",
            "19701025T020000".into(),
            "FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU",
        )),
    };
    match rules {
        None => sub(
            &mut s,
            "STANDARD",
            std,
            std,
            sa,
            "19700101T000000".into(),
            "",
        ),
        Some((ds, dr, ss, sr)) => {
            sub(&mut s, "DAYLIGHT", std, d, da, ds, dr);
            sub(&mut s, "STANDARD", d, std, sa, ss, sr);
        }
    }
    s.push_str("END:VTIMEZONE\r\n");
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_windows_names() {
        assert_eq!(
            windows_to_iana("W. Europe Standard Time"),
            Some("Europe/Berlin")
        );
        assert_eq!(
            windows_to_iana("\"eastern standard time\""),
            Some("America/New_York")
        );
        assert_eq!(windows_to_iana("Europe/Berlin"), None);
    }

    #[test]
    fn builds_eu_zone_with_utc_transitions() {
        let v = builtin_vtimezone("Europe/Paris").unwrap();
        assert!(v.contains("TZID:Europe/Paris\r\n"));
        assert!(v.contains("DTSTART:19700329T020000"), "{v}");
        assert!(v.contains("DTSTART:19701025T030000"), "{v}");
        assert!(v.contains("TZOFFSETTO:+0200"));
        let l = builtin_vtimezone("Europe/London").unwrap();
        assert!(l.contains("DTSTART:19700329T010000"), "{l}");
        assert!(l.contains("DTSTART:19701025T020000"), "{l}");
    }

    #[test]
    fn builds_fixed_and_etc_zones() {
        let v = builtin_vtimezone("Asia/Kolkata").unwrap();
        assert!(v.contains("TZOFFSETTO:+0530"));
        assert!(!v.contains("DAYLIGHT"));
        let e = builtin_vtimezone("Etc/GMT+5").unwrap();
        assert!(e.contains("TZOFFSETTO:-0500"));
        assert!(builtin_vtimezone("Mars/Olympus_Mons").is_none());
        assert!(
            builtin_vtimezone("US/Eastern")
                .unwrap()
                .contains("TZID:US/Eastern")
        );
    }
}
