//! Callers beyond a connection's in-flight bound wait for a free slot.
mod harness;

use std::time::Duration;

use harness::{config, key, FakeNode};
use shoal_client::{Client, ClientConfig, ClientError, ResponseBody};

#[tokio::test]
async fn third_request_waits_for_a_slot() -> Result<(), ClientError> {
    let mut node = FakeNode::plain().await;
    let client =
        Client::connect(ClientConfig { inflight_per_connection: 2, ..config(&node.address) })
            .await?;
    let calls: Vec<_> = (0..3)
        .map(|i| {
            let client = client.clone();
            tokio::spawn(async move { client.get("t", key(&format!("k{i}"))).await })
        })
        .collect();
    let first = node.next().await;
    let second = node.next().await;
    assert!(node.quiet_for(Duration::from_millis(200)).await, "a third request was sent");
    first.respond_ok(ResponseBody::Item(None));
    let third = node.next().await;
    second.respond_ok(ResponseBody::Item(None));
    third.respond_ok(ResponseBody::Item(None));
    for call in calls {
        assert_eq!(call.await.expect("task")?, None);
    }
    assert_eq!(node.accepted(), 1);
    Ok(())
}
