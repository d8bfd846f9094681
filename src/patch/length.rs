//! How long a value is as compact JSON, counted without writing the text.

use serde::Serialize;

/// The length of `value` as compact JSON, counted without building the text.
pub(crate) fn encoded_len(value: &impl Serialize) -> usize {
    encoded_len_below(value, usize::MAX).expect("JSON values always serialize")
}

/// The length of `value` as compact JSON if it is below `limit`; the count
/// stops as soon as it reaches `limit`.
pub(crate) fn encoded_len_below(value: &impl Serialize, limit: usize) -> Option<usize> {
    struct Counter {
        count: usize,
        limit: usize,
    }
    impl std::io::Write for Counter {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.count += buf.len();
            if self.count >= self.limit {
                return Err(std::io::ErrorKind::FileTooLarge.into());
            }
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut counter = Counter { count: 0, limit };
    serde_json::to_writer(&mut counter, value).ok()?;
    Some(counter.count)
}
