//! Where a topic lives in Redis: three keys and a channel, all in the hash
//! slot of the topic's name, so that one script reaches them all and a Redis
//! Cluster keeps each topic on one master.

/// A topic's keys and its announcement channel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Keys {
    /// A hash: the version (`v`), the version the history started at
    /// (`b`), the snapshot's version (`s`) and size (`sb`), and the log's
    /// bytes (`lb`) and entries (`ln`) since it.
    pub(super) meta: String,
    /// A stream of updates, each under the id `<version>-1`.
    pub(super) log: String,
    /// The state's JSON text at the snapshot's version.
    pub(super) snapshot: String,
    /// Where every change is announced to the nodes that follow the topic.
    pub(super) channel: String,
}

impl Keys {
    pub(super) fn new(prefix: &str, topic: &str) -> Self {
        let tag = hash_tag(topic);
        Self {
            meta: format!("{prefix}:{{{tag}}}:meta"),
            log: format!("{prefix}:{{{tag}}}:log"),
            snapshot: format!("{prefix}:{{{tag}}}:snapshot"),
            channel: format!("{prefix}:{{{tag}}}"),
        }
    }

    /// The topic a channel announces, if it is one of ours.
    pub(super) fn topic_of(prefix: &str, channel: &[u8]) -> Option<String> {
        let channel = std::str::from_utf8(channel).ok()?;
        let tag = channel
            .strip_prefix(prefix)?
            .strip_prefix(":{")?
            .strip_suffix('}')?;
        unescape(tag)
    }
}

/// The topic's name as a hash tag: Redis hashes what lies between the first
/// `{` and the first `}` after it, so a `}` in the name is written `%7D`
/// (and `%` itself `%25`, so that every name has its own tag). A name that
/// is empty still has a tag of its own: `%`.
fn hash_tag(topic: &str) -> String {
    if topic.is_empty() {
        return "%".to_owned();
    }
    let mut tag = String::with_capacity(topic.len());
    for c in topic.chars() {
        match c {
            '%' => tag.push_str("%25"),
            '}' => tag.push_str("%7D"),
            c => tag.push(c),
        }
    }
    tag
}

fn unescape(tag: &str) -> Option<String> {
    if tag == "%" {
        return Some(String::new());
    }
    let mut topic = String::with_capacity(tag.len());
    let mut rest = tag;
    while let Some(at) = rest.find('%') {
        topic.push_str(&rest[..at]);
        match rest.get(at..at + 3)? {
            "%25" => topic.push('%'),
            "%7D" => topic.push('}'),
            _ => return None,
        }
        rest = &rest[at + 3..];
    }
    topic.push_str(rest);
    Some(topic)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_of_a_topic_has_its_tag() {
        let keys = Keys::new("lr", "quotes/AAPL");
        assert_eq!(keys.meta, "lr:{quotes/AAPL}:meta");
        assert_eq!(keys.log, "lr:{quotes/AAPL}:log");
        assert_eq!(keys.snapshot, "lr:{quotes/AAPL}:snapshot");
        assert_eq!(keys.channel, "lr:{quotes/AAPL}");
    }

    #[test]
    fn names_with_braces_and_percents_keep_one_tag_each() {
        for topic in ["}", "a}b", "{x}", "%", "%7D", "", "é}%25"] {
            let keys = Keys::new("lr", topic);
            let tag = &keys.meta["lr:{".len()..keys.meta.find("}:meta").unwrap()];
            assert!(
                !tag.is_empty() && !tag.contains('}'),
                "{topic:?} -> {tag:?}"
            );
            assert_eq!(
                Keys::topic_of("lr", keys.channel.as_bytes()).as_deref(),
                Some(topic)
            );
        }
        assert_ne!(Keys::new("lr", "%7D").meta, Keys::new("lr", "}").meta);
        assert_eq!(Keys::topic_of("lr", b"other:{x}"), None);
    }

    proptest::proptest! {
        #[test]
        fn every_name_has_one_tag_and_comes_back(topic in "\\PC*", other in "\\PC*") {
            let keys = Keys::new("lr", &topic);
            let tag = &keys.meta["lr:{".len()..keys.meta.len() - "}:meta".len()];
            let one_tag = !tag.is_empty() && !tag.contains('}');
            proptest::prop_assert!(one_tag, "{:?}", tag);
            proptest::prop_assert_eq!(Keys::topic_of("lr", keys.channel.as_bytes()), Some(topic.clone()));
            if other != topic {
                proptest::prop_assert_ne!(Keys::new("lr", &other).meta, keys.meta);
            }
        }
    }
}
