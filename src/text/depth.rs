//! How deep JSON text nests, found without reading it.

/// The deepest bracket nesting of JSON text, found by a scan that skips
/// strings. Malformed text gets a number too; the parser refuses it later.
pub(crate) fn text_depth(bytes: &[u8]) -> usize {
    let (mut depth, mut deepest) = (0usize, 0usize);
    let mut in_string = false;
    let mut escaped = false;
    for &byte in bytes {
        if in_string {
            match byte {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

/// How many opening brackets (`{`, `[`) the text holds, strings and all:
/// the text nests no deeper. Counted a vector at a time, so for most
/// messages it settles the depth bound for far less than [`text_depth`].
pub(crate) fn openers(bytes: &[u8]) -> usize {
    // Byte counts per chunk, which a byte cannot overflow; `[` is `{` but
    // for the 0x20 bit, so one compare finds both.
    bytes
        .chunks(255)
        .map(|chunk| {
            let count = chunk
                .iter()
                .fold(0u8, |count, &byte| count + u8::from(byte | 0x20 == b'{'));
            usize::from(count)
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_depth_skips_brackets_inside_strings() {
        assert_eq!(text_depth(br#"{"a":"[[[{{{\"]]"}"#), 1);
        assert_eq!(text_depth(br#"[[1],[[2]]]"#), 3);
        assert_eq!(text_depth(b"17"), 0);
    }

    #[test]
    fn openers_bound_the_depth() {
        for text in [
            &br#"{"a":"[[[{{{\"]]"}"#[..],
            br#"[[1],[[2]]]"#,
            b"17",
            br#"{"seq":1,"merge":{"a":{"b":[{}]}}}"#,
        ] {
            assert!(text_depth(text) <= openers(text));
        }
        assert_eq!(openers(br#"{"a":"[[[{{{\"]]"}"#), 7);
    }
}
