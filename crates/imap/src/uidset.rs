//! UID sets: `1:5,7,9:12`.

/// Writes UIDs as a compact set. Runs of consecutive UIDs become ranges;
/// duplicates are dropped. Best with sorted input, correct with any.
pub fn uid_set(uids: &[u32]) -> String {
    let mut out = String::new();
    let mut i = 0;
    while i < uids.len() {
        let start = uids[i];
        let mut end = start;
        while i + 1 < uids.len() && (uids[i + 1] == end || Some(uids[i + 1]) == end.checked_add(1))
        {
            end = uids[i + 1];
            i += 1;
        }
        if !out.is_empty() {
            out.push(',');
        }
        if start == end {
            out.push_str(&start.to_string());
        } else {
            out.push_str(&format!("{start}:{end}"));
        }
        i += 1;
    }
    out
}

/// Expands a UID set sent by the server (`3955:3957,4000`). A range means
/// all UIDs between its ends in either order (RFC 4315), listed ascending;
/// `*` is not allowed. None if it is malformed or absurdly large.
pub fn expand_uid_set(set: &str) -> Option<Vec<u32>> {
    const MAX: usize = 10_000_000;
    let mut out = Vec::new();
    for part in set.split(',') {
        match part.split_once(':') {
            Some((a, b)) => {
                let (a, b): (u32, u32) = (a.parse().ok()?, b.parse().ok()?);
                let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
                if out.len() + (hi - lo) as usize >= MAX {
                    return None;
                }
                out.extend(lo..=hi);
            }
            None => out.push(part.parse().ok()?),
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compacts_runs() {
        assert_eq!(uid_set(&[1, 2, 3, 4, 5, 7, 9, 10, 11, 12]), "1:5,7,9:12");
        assert_eq!(uid_set(&[42]), "42");
        assert_eq!(uid_set(&[]), "");
        assert_eq!(uid_set(&[3, 3, 4, 9, 2]), "3:4,9,2");
        assert_eq!(
            uid_set(&[u32::MAX - 1, u32::MAX]),
            format!("{}:{}", u32::MAX - 1, u32::MAX)
        );
    }

    #[test]
    fn expands_server_sets() {
        assert_eq!(
            expand_uid_set("3955:3957,4000"),
            Some(vec![3955, 3956, 3957, 4000])
        );
        assert_eq!(expand_uid_set("5:3"), Some(vec![3, 4, 5]));
        assert_eq!(expand_uid_set("7"), Some(vec![7]));
        assert_eq!(expand_uid_set("1:*"), None);
        assert_eq!(expand_uid_set(""), None);
        assert_eq!(expand_uid_set("1:4000000000"), None);
    }

    #[test]
    fn round_trip() {
        let uids: Vec<u32> = vec![1, 2, 3, 10, 11, 20, 22, 23, 24, 100];
        assert_eq!(expand_uid_set(&uid_set(&uids)), Some(uids));
    }

    /// Random sets from the characters of UID sets: expand returns, never panics, never
    /// returns more than its limit, and gives back a set that writes and expands the same.
    #[test]
    fn expand_survives_random_input() {
        const ALPHABET: &[&str] = &[
            "1",
            "0",
            "9",
            "4294967295",
            "4294967296",
            ":",
            ",",
            "*",
            "-",
            " ",
            "\u{e9}",
            "+",
        ];
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..100_000 {
            let len = (next() % 10) as usize;
            let s: String = (0..len)
                .map(|_| ALPHABET[(next() % ALPHABET.len() as u64) as usize])
                .collect();
            if let Some(v) = expand_uid_set(&s) {
                assert!(v.len() <= 10_000_000, "{s:?}");
                let mut sorted = v.clone();
                sorted.sort_unstable();
                sorted.dedup();
                let again = expand_uid_set(&uid_set(&sorted)).unwrap();
                assert_eq!(again, sorted, "{s:?}");
            }
        }
    }
}
