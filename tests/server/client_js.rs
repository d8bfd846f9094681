//! `GET /live/client.js`: the browser client, served by the router.

use live_resource::Hub;
use reqwest::StatusCode;
use serde_json::json;

use crate::support::served::serve;

const SOURCE: &str = include_str!("../../js/live-resource.js");

#[tokio::test]
async fn the_router_serves_the_browser_client_as_a_module_with_an_etag() {
    let hub = Hub::new();
    let addr = serve(&hub).await;
    let url = format!("http://{addr}/live/client.js");
    let response = reqwest::get(&url).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let headers = response.headers().clone();
    assert_eq!(headers["content-type"], "text/javascript; charset=utf-8");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert!(
        headers["cache-control"]
            .to_str()
            .unwrap()
            .contains("max-age")
    );
    let etag = headers["etag"].clone();
    assert_eq!(response.text().await.unwrap(), SOURCE);
    assert!(SOURCE.contains("export function liveResource("));

    let revalidated = reqwest::Client::new()
        .get(&url)
        .header("if-none-match", etag.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(revalidated.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(revalidated.headers()["etag"], etag);
}

#[tokio::test]
async fn a_topic_named_client_js_cannot_take_the_modules_place() {
    let hub = Hub::new();
    hub.set("client.js", json!("alert('not code')")).unwrap();
    let addr = serve(&hub).await;
    let body = reqwest::get(format!("http://{addr}/live/client.js"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(body, SOURCE);
    // The topic is still followed over SSE.
    let events = reqwest::Client::new()
        .get(format!("http://{addr}/live/client.js/events"))
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(events.status(), StatusCode::OK);
    assert_eq!(events.headers()["content-type"], "text/event-stream");
}
