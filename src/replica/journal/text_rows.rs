//! The rows of a merge patch still in its text, found on the tape its check
//! recorded: a table's update read from the network is split by row without
//! being read again into a `serde_json::Value`.

use std::borrow::Cow;
use std::collections::HashSet;

use crate::text::{Entry, Tape};

/// One member of the patch's object: a row's name and its part of the patch.
pub(super) struct Member<'t> {
    pub(super) name: Cow<'t, str>,
    /// Whether the row's part is `null` (the row is removed).
    pub(super) null: bool,
    /// The row's part of the patch, as its text.
    pub(super) value: &'t str,
}

/// The object is read through a [`HashSet`] of names past this many
/// members, and by comparing each name with those before it up to it.
const FEW: usize = 8;

/// The members of the patch `text` recorded on `tape`, in order; `None`
/// when the patch is not an object, or names a member twice (then the
/// patch is read as a `Value`, whose last member of a name is the one kept,
/// as a table of rows needs one part for each row).
pub(super) fn members<'t>(text: &'t str, tape: &'t Tape) -> Option<Vec<Member<'t>>> {
    let entries = tape.entries();
    if !matches!(entries.first(), Some(Entry::Object)) {
        return None;
    }
    let mut members = Vec::new();
    let mut at = 1;
    while let Some(Entry::Key(key)) = entries.get(at) {
        let first = at + 1;
        at = after_value(entries, first);
        // Between the key's closing quote and its value: spaces and a
        // colon, found byte by byte (a `str` search of a char costs more
        // than the few bytes it passes).
        let after_key = key.end() + 1;
        let colon = text.as_bytes()[after_key..]
            .iter()
            .position(|&byte| byte == b':')?;
        let start = after_key + colon + 1;
        let end = match entries.get(at)? {
            // The next key's opening quote, less the comma and spaces.
            Entry::Key(next) => trimmed(&text[..next.start() - 1]).strip_suffix(',')?,
            // The object's closing brace: the last of the text.
            _ => trimmed(text).strip_suffix('}')?,
        };
        members.push(Member {
            name: key.string(text),
            null: matches!(entries[first], Entry::Null),
            value: trimmed(&text[start..end.len()]).trim_start_matches(JSON_SPACE),
        });
    }
    (!names_one_twice(&members)).then_some(members)
}

const JSON_SPACE: [char; 4] = [' ', '\t', '\n', '\r'];

fn trimmed(text: &str) -> &str {
    text.trim_end_matches(JSON_SPACE)
}

/// Where the entry after the value starting at `at` is.
fn after_value(entries: &[Entry], mut at: usize) -> usize {
    let mut open = 0usize;
    loop {
        match entries.get(at) {
            Some(Entry::Object) => open += 1,
            Some(Entry::End) => open = open.saturating_sub(1),
            None => return at,
            _ => {}
        }
        at += 1;
        if open == 0 {
            return at;
        }
    }
}

fn names_one_twice(members: &[Member<'_>]) -> bool {
    if members.len() <= FEW {
        return members
            .iter()
            .enumerate()
            .any(|(at, member)| members[..at].iter().any(|m| m.name == member.name));
    }
    let mut seen = HashSet::with_capacity(members.len());
    !members.iter().all(|member| seen.insert(&*member.name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Limits, Patch};

    /// The members of `patch` read from its text, each as (name, null,
    /// value's text), or `None`.
    fn split(patch: &str) -> Option<Vec<(String, bool, String)>> {
        let text = format!(r#"{{"seq":1,"merge":{patch}}}"#);
        let update = Limits::default().parse_update(text.as_bytes()).unwrap();
        let Patch::Merge(merge) = &update.patch else {
            unreachable!("a merge patch")
        };
        let (text, tape) = merge.as_text()?.tape()?;
        let members = members(text, tape)?;
        Some(
            members
                .into_iter()
                .map(|m| (m.name.into_owned(), m.null, m.value.to_owned()))
                .collect(),
        )
    }

    #[test]
    fn each_member_is_its_name_and_its_text() {
        let patch = r#" { "a" :{"x":[1,{"y":null}], "z":"}" } ,"b":null,
            "c\"d": 1.5e3 , "e" : {} ,"f":"," ,"\u0067":	-0.0	} "#;
        let member = |name: &str, null, text: &str| (name.to_owned(), null, text.to_owned());
        assert_eq!(
            split(patch).unwrap(),
            [
                member("a", false, r#"{"x":[1,{"y":null}], "z":"}" }"#),
                member("b", true, "null"),
                member("c\"d", false, "1.5e3"),
                member("e", false, "{}"),
                member("f", false, r#"",""#),
                member("g", false, "-0.0"),
            ]
        );
        assert_eq!(split("{}").unwrap(), []);
    }

    #[test]
    fn a_patch_not_an_object_or_naming_a_row_twice_is_left_to_serde_json() {
        assert!(split("[1]").is_none());
        assert!(split("null").is_none());
        assert!(split(r#"{"a":1,"b":2,"a":3}"#).is_none());
        let many: Vec<String> = (0..20).map(|n| format!(r#""r{n}":{n}"#)).collect();
        assert_eq!(split(&format!("{{{}}}", many.join(","))).unwrap().len(), 20);
        let twice = format!(r#"{{{},"r19":0}}"#, many.join(","));
        assert!(split(&twice).is_none());
    }
}
