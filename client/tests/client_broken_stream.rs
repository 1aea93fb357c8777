//! A frame that breaks the stream fails everything in flight; the next request reconnects.
mod harness;

use harness::{config, key, FakeNode};
use shoal_client::{Client, ClientConfig, ClientError, ResponseBody};

#[tokio::test]
async fn garbage_frame_fails_in_flight_requests_then_reconnects() -> Result<(), ClientError> {
    let mut node = FakeNode::plain().await;
    let client = Client::connect(ClientConfig { retries: 0, ..config(&node.address) }).await?;
    let calls: Vec<_> = (0..2)
        .map(|i| {
            let client = client.clone();
            tokio::spawn(async move { client.get("t", key(&format!("k{i}"))).await })
        })
        .collect();
    let first = node.next().await;
    let _second = node.next().await;
    first.garbage();
    for call in calls {
        let result = call.await.expect("task");
        assert!(matches!(&result, Err(ClientError::Connection { .. })), "{result:?}");
        assert!(result.as_ref().is_err_and(ClientError::is_retryable));
    }
    let call = tokio::spawn({
        let client = client.clone();
        async move { client.get("t", key("after")).await }
    });
    let request = node.next().await;
    assert_eq!(request.connection, 1, "a new connection");
    request.respond_ok(ResponseBody::Item(Some(key("after"))));
    assert_eq!(call.await.expect("task")?, Some(key("after")));
    assert_eq!(node.accepted(), 2);
    Ok(())
}
