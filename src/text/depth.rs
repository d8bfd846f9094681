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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_depth_skips_brackets_inside_strings() {
        assert_eq!(text_depth(br#"{"a":"[[[{{{\"]]"}"#), 1);
        assert_eq!(text_depth(br#"[[1],[[2]]]"#), 3);
        assert_eq!(text_depth(b"17"), 0);
    }
}
