//! A request the server never answers fails with a timeout at its deadline.
mod harness;

use std::time::{Duration, Instant};

use harness::{config, key, FakeNode};
use shoal_client::{Client, ClientConfig, ClientError, Request, RequestOptions};

#[tokio::test]
async fn unanswered_get_times_out_at_the_deadline() -> Result<(), ClientError> {
    let mut node = FakeNode::plain().await;
    let client = Client::connect(ClientConfig {
        retries: 0,
        request_timeout: Duration::from_millis(300),
        ..config(&node.address)
    })
    .await?;
    let started = Instant::now();
    let result = client.get("t", key("silent")).await;
    let elapsed = started.elapsed();
    assert!(
        matches!(result, Err(ClientError::Timeout { after })
            if after == Duration::from_millis(300)),
        "{result:?}"
    );
    assert!(
        elapsed >= Duration::from_millis(300) && elapsed < Duration::from_secs(2),
        "{elapsed:?}"
    );
    let request = node.next().await;
    assert_eq!(request.envelope.header.timeout_ms, 300, "the deadline travels with the request");
    Ok(())
}

#[tokio::test]
async fn per_request_timeout_overrides_the_config() -> Result<(), ClientError> {
    let mut node = FakeNode::plain().await;
    let client = Client::connect(ClientConfig { retries: 0, ..config(&node.address) }).await?;
    let options =
        RequestOptions { timeout: Some(Duration::from_millis(100)), ..RequestOptions::default() };
    let request = Request::GetItem {
        table: "t".to_owned(),
        key: key("a"),
        projection: None,
        placeholders: Default::default(),
    };
    let started = Instant::now();
    let result = client.request_with(request, options).await;
    assert!(matches!(result, Err(ClientError::Timeout { .. })), "{result:?}");
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(node.next().await.envelope.header.timeout_ms, 100);
    Ok(())
}

#[tokio::test]
async fn timed_out_idempotent_request_is_retried() -> Result<(), ClientError> {
    let mut node = FakeNode::plain().await;
    let client = Client::connect(ClientConfig {
        retries: 1,
        request_timeout: Duration::from_millis(150),
        ..config(&node.address)
    })
    .await?;
    let call = tokio::spawn(async move { client.get("t", key("slow")).await });
    let _ignored = node.next().await;
    let second = node.next().await;
    second.respond_ok(shoal_client::ResponseBody::Item(Some(key("slow"))));
    assert_eq!(call.await.expect("task")?, Some(key("slow")));
    Ok(())
}

#[tokio::test]
async fn unreachable_host_fails_to_connect() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    drop(listener);
    let result = Client::connect(ClientConfig { retries: 0, ..config(&address) }).await;
    assert!(matches!(result, Err(ClientError::Connect { .. })), "{:?}", result.err());
}
