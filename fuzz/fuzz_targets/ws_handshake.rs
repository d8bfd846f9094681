//! A server's checks of a WebSocket upgrade request (`Upgrade::check`, so
//! `is_key` and `has_token`) and of its `Origin`.
//!
//! Input: a byte of flags (whether the connection can be upgraded, the
//! HTTP version, the method, whether any origin may connect), then lines:
//! `allow:<origin>` lists an allowed origin, `<name>:<value>` is a header.
//!
//! Checks: never a panic, and each answer is what RFC 6455 §4.2.1 and the
//! origin rule say, by a model written apart from the checks.
#![no_main]

use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Version, header};
use libfuzzer_sys::fuzz_target;
use live_resource::fuzzing;
use live_resource::server::Config;

fuzz_target!(|data: &[u8]| {
    let Some((&flags, lines)) = data.split_first() else {
        return;
    };
    let version = [
        Version::HTTP_10,
        Version::HTTP_11,
        Version::HTTP_2,
        Version::HTTP_09,
    ][usize::from(flags >> 1 & 3)];
    let method = [Method::GET, Method::POST, Method::CONNECT, Method::HEAD]
        [usize::from(flags >> 3 & 3)]
    .clone();
    let mut allowed = Vec::new();
    let mut request = Request::builder()
        .method(method.clone())
        .version(version)
        .body(())
        .unwrap();
    for line in lines.split(|&byte| byte == b'\n') {
        let Some(colon) = line.iter().position(|&byte| byte == b':') else {
            continue;
        };
        let (name, value) = (&line[..colon], line[colon + 1..].trim_ascii_start());
        if name == b"allow" {
            if let Ok(origin) = std::str::from_utf8(value) {
                allowed.push(origin.to_owned());
            }
        } else if let (Ok(name), Ok(value)) =
            (HeaderName::from_bytes(name), HeaderValue::from_bytes(value))
        {
            request.headers_mut().append(name, value);
        }
    }
    let upgradable = flags & 1 == 1;
    if upgradable {
        let none = hyper::upgrade::on(&mut Request::new(()));
        request.extensions_mut().insert(none);
    }
    let (mut parts, ()) = request.into_parts();
    let headers = parts.headers.clone();

    let status = match fuzzing::ws_upgrade(&mut parts) {
        Ok(()) => 101,
        Err((status, _)) => status,
    };
    let expected = if version > Version::HTTP_11 || method != Method::GET {
        405
    } else if !lists(&headers, header::CONNECTION, "upgrade")
        || !lists(&headers, header::UPGRADE, "websocket")
        || !headers
            .get(header::SEC_WEBSOCKET_KEY)
            .is_some_and(|key| sixteen_bytes(key.as_bytes()))
        || headers
            .get(header::SEC_WEBSOCKET_VERSION)
            .map(HeaderValue::as_bytes)
            != Some(b"13")
    {
        400
    } else if !upgradable {
        426
    } else {
        101
    };
    assert_eq!(status, expected);

    let any = flags & 32 == 32;
    let config = if any {
        Config::default().any_origin()
    } else {
        Config::default().allowed_origins(allowed.clone())
    };
    let checked = fuzzing::check_origin(&config, &headers);
    let expected = match headers.get(header::ORIGIN) {
        None => true,
        Some(_) if any => true,
        Some(origin) => origin.to_str().is_ok_and(|origin| {
            let lower = origin.to_ascii_lowercase();
            let listed = allowed
                .iter()
                .any(|allowed| allowed.trim_end_matches('/').to_ascii_lowercase() == lower);
            let host = headers
                .get(header::HOST)
                .and_then(|host| host.to_str().ok());
            let own = host.is_some_and(|host| {
                ["http://", "https://", "ws://", "wss://"]
                    .iter()
                    .any(|scheme| lower.strip_prefix(scheme) == Some(&host.to_ascii_lowercase()))
            });
            listed
                || own
                || lower.split_once("://").is_some_and(|(_, authority)| {
                    Some(authority.to_owned()) == host.map(str::to_ascii_lowercase)
                })
        }),
    };
    assert_eq!(checked.is_ok(), expected, "{checked:?}");
});

/// Whether some `name` header lists `token`, in any case, among its
/// comma-separated values.
fn lists(headers: &HeaderMap, name: header::HeaderName, token: &str) -> bool {
    headers.get_all(name).iter().any(|value| {
        String::from_utf8_lossy(value.as_bytes())
            .split(',')
            .any(|item| item.trim_matches([' ', '\t']).eq_ignore_ascii_case(token))
    })
}

/// Whether `key` is 16 bytes in canonical base64 (RFC 4648, padded).
fn sixteen_bytes(key: &[u8]) -> bool {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let Some(text) = key.strip_suffix(b"==") else {
        return false;
    };
    let Some(sextets) = text
        .iter()
        .map(|byte| ALPHABET.iter().position(|letter| letter == byte))
        .collect::<Option<Vec<_>>>()
    else {
        return false;
    };
    // 22 characters carry 132 bits: 16 bytes, and 4 bits that must be zero.
    sextets.len() == 22 && sextets[21] & 0b1111 == 0
}
