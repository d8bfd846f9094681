//! The admin view: off by default, behind its hook, and what its JSON says.

use std::time::Duration;

use futures::StreamExt;
use live_resource::Hub;
use live_resource::server::{Config, basic_auth};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::served::{serve, serve_with};
use crate::support::within;

#[tokio::test]
async fn the_admin_view_is_off_by_default() {
    let hub = Hub::new();
    hub.set("quotes", json!({})).unwrap();
    let addr = serve(&hub).await;
    for path in ["/live/_admin", "/live/_admin.json"] {
        let response = reqwest::get(format!("http://{addr}{path}")).await.unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
    }
    // And with it off, `_admin` is a topic like any other.
    hub.set("_admin", json!({"mine": true})).unwrap();
    let body: Value = reqwest::get(format!("http://{addr}/live/_admin"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["data"], json!({"mine": true}));
}

#[tokio::test]
async fn the_admin_view_refuses_requests_its_hook_refuses() {
    let hub = Hub::new();
    let addr = serve_with(&hub, Config::default().admin(basic_auth("ops", "s3cret"))).await;
    let client = reqwest::Client::new();
    for path in ["/live/_admin", "/live/_admin.json"] {
        let url = format!("http://{addr}{path}");
        let anonymous = client.get(&url).send().await.unwrap();
        assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED, "{path}");
        let challenge = anonymous.headers()["www-authenticate"].to_str().unwrap();
        assert!(challenge.starts_with("Basic realm="), "{challenge}");
        let wrong = client
            .get(&url)
            .basic_auth("ops", Some("guess"))
            .send()
            .await
            .unwrap();
        assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED, "{path}");
        let right = client
            .get(&url)
            .basic_auth("ops", Some("s3cret"))
            .send()
            .await
            .unwrap();
        assert_eq!(right.status(), StatusCode::OK, "{path}");
        assert_eq!(right.headers()["cache-control"], "no-store");
    }
    let page = client
        .get(format!("http://{addr}/live/_admin"))
        .basic_auth("ops", Some("s3cret"))
        .send()
        .await
        .unwrap();
    assert!(
        page.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(page.text().await.unwrap().contains("_admin.json"));
}

#[tokio::test]
async fn the_admin_json_shows_connections_topics_versions_subscribers_and_rates() {
    let hub = Hub::builder().first_version(0).build();
    hub.set("quotes", json!({"AAPL": 1})).unwrap();
    hub.set("jobs/1", json!({"done": 0})).unwrap();
    let config = Config::default().admin(|request: &axum::http::request::Parts| {
        request
            .headers
            .get("x-role")
            .is_some_and(|role| role == "ops")
    });
    let addr = serve_with(&hub, config).await;
    let client = reqwest::Client::new();
    let report = || async {
        let response = client
            .get(format!("http://{addr}/live/_admin.json"))
            .header("x-role", "ops")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        response.json::<Value>().await.unwrap()
    };

    let idle = report().await;
    assert_eq!(idle["connections"], 0);
    assert_eq!(
        idle["topics"],
        json!([
            {"name": "jobs/1", "version": 0, "subscribers": 0},
            {"name": "quotes", "version": 0, "subscribers": 0},
        ])
    );

    // One SSE client, which receives one update.
    let events = client
        .get(format!("http://{addr}/live/quotes/events"))
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    let mut body = events.bytes_stream();
    hub.merge("quotes", json!({"AAPL": 2})).unwrap();
    let mut received = String::new();
    within(async {
        while !received.contains("event: update") {
            let chunk = body.next().await.unwrap().unwrap();
            received.push_str(&String::from_utf8_lossy(&chunk));
        }
    })
    .await;

    let busy = report().await;
    assert_eq!(busy["connections"], 1, "{busy:#}");
    assert_eq!(
        busy["topics"][1],
        json!({"name": "quotes", "version": 1, "subscribers": 1})
    );
    assert_eq!(busy["totals"]["server"]["updates_sent"], 1, "{busy:#}");
    assert_eq!(busy["totals"]["hub"]["published"], 1, "{busy:#}");
    assert_eq!(busy["totals"]["server"]["resyncs"], 0);
    for rate in ["published_per_s", "delivered_per_s", "resyncs_per_s"] {
        assert!(
            busy["rates"][rate].as_f64().is_some_and(|r| r >= 0.0),
            "{rate}: {busy:#}"
        );
    }
    assert!(busy["uptime_s"].is_u64());

    // Gone: the connection is no longer counted.
    drop(body);
    within(async {
        for _ in 0..100 {
            if report().await["connections"] == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("the closed stream is still counted");
    })
    .await;
}
