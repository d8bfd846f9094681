//! The document both bench suites work on: a market dashboard of symbols.

use serde_json::{Value, json};

/// The key of symbol number `index`.
pub(crate) fn symbol(index: usize) -> String {
    format!("SYM{index:05}")
}

/// A dashboard of as many symbols as fit in about `bytes` of compact JSON,
/// each `{"price","volume","bid","ask","name","history"}`.
pub(crate) fn dashboard(bytes: usize) -> Value {
    let mut board = serde_json::Map::new();
    let mut len = 2; // the braces
    for index in 0.. {
        let key = symbol(index);
        let base = 100.0 + index as f64 * 0.25;
        let quote = json!({
            "price": base,
            "volume": 1_000 + index * 7,
            "bid": base - 0.05,
            "ask": base + 0.05,
            "name": format!("Company {index} Holdings"),
            "history": [base - 1.5, base - 1.0, base - 0.5, base],
        });
        // `"key":` plus the quote, plus a comma after the first.
        let entry = key.len() + 3 + quote.to_string().len() + usize::from(index > 0);
        if len + entry > bytes && index > 0 {
            break;
        }
        len += entry;
        board.insert(key, quote);
    }
    Value::Object(board)
}

/// The shapes of patch users send, by name, each on one symbol:
/// `price` (`{"SYM..":{"price":..}}`), `price_ts` (a price and a timestamp)
/// and `quote_ts` (price, change, volume and a timestamp).
#[allow(dead_code)] // Not every bench measures the shapes.
pub(crate) const SHAPES: [&str; 3] = ["price", "price_ts", "quote_ts"];

/// The text of the patch of `shape` (one of [`SHAPES`]) for `symbol`, in
/// one of two turns (0 or 1: two sets of values, so that every merge of
/// them in turn really writes).
#[allow(dead_code)] // Not every bench measures the shapes.
pub(crate) fn shape_patch(shape: &str, symbol: &str, turn: usize) -> String {
    match shape {
        "price" => {
            let price = ["1.23", "4.56"][turn];
            format!(r#"{{"{symbol}":{{"price":{price}}}}}"#)
        }
        "price_ts" => {
            let (price, ts) = [("1.23", 1718000000123456_u64), ("4.56", 1718000000654321)][turn];
            format!(r#"{{"{symbol}":{{"price":{price},"ts":{ts}}}}}"#)
        }
        "quote_ts" => {
            let (price, change, volume, ts) = [
                ("1.23", "-0.42", 1234567, 1718000000123456_u64),
                ("4.56", "0.37", 1234890, 1718000000654321),
            ][turn];
            format!(
                r#"{{"{symbol}":{{"price":{price},"change":{change},"volume":{volume},"ts":{ts}}}}}"#
            )
        }
        other => unreachable!("not a shape: {other}"),
    }
}

/// Patches of many symbols at once, by name and count: the `quote_ts` patch
/// of each of 12, 50 and 190 symbols, about 1, 4 and 15 KB of text (a
/// transport reads an update of up to 16 KB strictly, a longer one lazily).
#[allow(dead_code)] // Not every bench measures them.
pub(crate) const BATCHES: [(&str, usize); 3] =
    [("batch12", 12), ("batch50", 50), ("batch190", 190)];

/// The text of one patch of the `quote_ts` shape for each of `symbols`, in
/// one of two turns (as [`shape_patch`]).
#[allow(dead_code)] // Not every bench measures them.
pub(crate) fn batch_patch(symbols: &[String], turn: usize) -> String {
    let members: Vec<String> = symbols
        .iter()
        .map(|symbol| {
            let one = shape_patch("quote_ts", symbol, turn);
            one[1..one.len() - 1].to_owned()
        })
        .collect();
    format!("{{{}}}", members.join(","))
}

/// The patch that sets one symbol's price: `{"SYM00123":{"price":1.23}}`.
pub(crate) fn price_patch(symbol: &str, price: f64) -> Value {
    json!({ symbol: { "price": price } })
}
