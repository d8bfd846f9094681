//! LiveResource benchmarks (placeholder until the suite lands).

fn main() {}
