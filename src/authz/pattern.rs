//! OpenSSH pattern lists (`match.c`: `match_pattern`, `match_pattern_list`),
//! as used by `allowed_signers` principals and the `namespaces=` option.
//!
//! Owns: matching a string against a comma-separated list of patterns.
//! Trusts: nothing; patterns come from the signer files.
//!
//! Semantics, exactly OpenSSH's with `dolower = 0` (case-sensitive):
//! - `*` matches any run of bytes (also empty), `?` exactly one byte;
//! - a pattern prefixed with `!` is negated: if it matches, the whole list
//!   fails, whatever else matches;
//! - the list matches when some non-negated pattern matches and no negated
//!   one does. An empty sub-pattern matches only the empty string.
//! - OpenSSH treats a sub-pattern of 1023 bytes or more as "no match"; the
//!   signer parser refuses such lines, so it never arises here.

/// Longest sub-pattern the signer parser accepts (OpenSSH's buffer is 1024).
pub const MAX_SUBPATTERN: usize = 1022;

/// Whether `text` matches one glob `pattern` (`*`, `?`).
pub fn match_pattern(text: &[u8], pattern: &[u8]) -> bool {
    // Iterative glob with single backtrack point: linear in practice and never
    // recursive, so a hostile pattern cannot exhaust the stack.
    let (mut t, mut p) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(b'*') => {
                star = Some((p, t));
                p += 1;
            }
            Some(&c) if c == b'?' || Some(&c) == text.get(t) => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    pattern
        .get(p..)
        .unwrap_or_default()
        .iter()
        .all(|&c| c == b'*')
}

/// Outcome of matching a pattern list, as OpenSSH's `1`, `0`, `-1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListMatch {
    Positive,
    NoMatch,
    Negated,
}

/// Matches `text` against a comma-separated pattern list.
pub fn match_list(text: &[u8], list: &[u8]) -> ListMatch {
    let mut positive = false;
    for sub in list.split(|&c| c == b',') {
        let (negated, pattern) = match sub.split_first() {
            Some((b'!', rest)) => (true, rest),
            _ => (false, sub),
        };
        if match_pattern(text, pattern) {
            if negated {
                return ListMatch::Negated;
            }
            positive = true;
        }
    }
    if positive {
        ListMatch::Positive
    } else {
        ListMatch::NoMatch
    }
}

/// Whether a list is one this module matches exactly as OpenSSH does:
/// non-empty, no control bytes, no over-long sub-pattern, and (since the
/// OpenSSH tokenizer splits at a trailing comma differently) no empty
/// sub-pattern.
pub fn list_is_well_formed(list: &[u8]) -> bool {
    !list.is_empty()
        && !list.iter().any(|c| c.is_ascii_control())
        && list.split(|&c| c == b',').all(|sub| {
            let body = sub.strip_prefix(b"!").unwrap_or(sub);
            !body.is_empty() && sub.len() <= MAX_SUBPATTERN
        })
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_like_openssh() {
        assert!(match_pattern(b"alice@example.com", b"*@example.com"));
        assert!(match_pattern(b"alice", b"al?ce"));
        assert!(match_pattern(b"", b"*"));
        assert!(match_pattern(b"", b""));
        assert!(!match_pattern(b"a", b""));
        assert!(!match_pattern(b"Alice", b"alice"), "case-sensitive");
        assert!(match_pattern(b"aXbYc", b"a*b*c"));
        assert!(!match_pattern(b"aXbYd", b"a*b*c"));
        assert!(match_pattern(b"abcbc", b"*bc"));
        assert!(!match_pattern(b"ab", b"a?b"));
    }

    #[test]
    fn a_negated_match_vetoes_the_list() {
        assert_eq!(
            match_list(b"felhom-op-v1", b"file,felhom-*"),
            ListMatch::Positive
        );
        assert_eq!(
            match_list(b"felhom-op-v1", b"felhom-*,!felhom-op-v1"),
            ListMatch::Negated
        );
        assert_eq!(match_list(b"felhom-op-v1", b"!git"), ListMatch::NoMatch);
        assert_eq!(match_list(b"x", b"y,z"), ListMatch::NoMatch);
    }

    #[test]
    fn empty_or_control_lists_are_not_well_formed() {
        assert!(list_is_well_formed(b"a,b*,!c"));
        assert!(!list_is_well_formed(b""));
        assert!(!list_is_well_formed(b"a,"));
        assert!(!list_is_well_formed(b"a,!"));
        assert!(!list_is_well_formed(b"a\x01"));
        assert!(!list_is_well_formed(&[b'a'; MAX_SUBPATTERN + 1]));
    }
}
