//! Many requests share one connection, and out-of-order answers reach the right callers.
mod harness;

use harness::{config, key, pk_of, FakeNode};
use shoal_client::{Client, ClientError, Item, ResponseBody, Value};

#[tokio::test]
async fn hundred_gets_answered_in_reverse_order() -> Result<(), ClientError> {
    let mut node = FakeNode::plain().await;
    let client = Client::connect(config(&node.address)).await?;
    let calls: Vec<_> = (0..100)
        .map(|i| {
            let client = client.clone();
            tokio::spawn(async move { (i, client.get("t", key(&format!("k{i}"))).await) })
        })
        .collect();
    let mut received = Vec::new();
    for _ in 0..100 {
        received.push(node.next().await);
    }
    for request in received.iter().rev() {
        let pk = pk_of(&request.envelope.request);
        let mut item: Item = key(&pk);
        item.insert("echo".to_owned(), Value::S(format!("answer for {pk}")));
        request.respond_ok(ResponseBody::Item(Some(item)));
    }
    for call in calls {
        let (i, result) = call.await.expect("task panicked");
        let item = result?.expect("an item");
        assert_eq!(item.get("pk"), Some(&Value::S(format!("k{i}"))));
        assert_eq!(item.get("echo"), Some(&Value::S(format!("answer for k{i}"))));
    }
    assert_eq!(node.accepted(), 1, "one pipelined connection");
    let ids: std::collections::BTreeSet<_> = received.iter().map(|r| r.request_id).collect();
    assert_eq!(ids.len(), 100, "request ids are unique per connection");
    Ok(())
}

#[tokio::test]
async fn undecodable_body_fails_only_its_request() -> Result<(), ClientError> {
    let mut node = FakeNode::plain().await;
    let client = Client::connect(harness::config(&node.address)).await?;
    let bad = tokio::spawn({
        let client = client.clone();
        async move { client.get("t", key("bad")).await }
    });
    let good = tokio::spawn({
        let client = client.clone();
        async move { client.get("t", key("good")).await }
    });
    let (first, second) = (node.next().await, node.next().await);
    for request in [first, second] {
        if pk_of(&request.envelope.request) == "bad" {
            request.undecodable();
        } else {
            request.respond_ok(ResponseBody::Item(Some(key("good"))));
        }
    }
    assert!(matches!(bad.await.expect("task"), Err(ClientError::Protocol(_))));
    assert_eq!(good.await.expect("task")?, Some(key("good")));
    assert_eq!(node.accepted(), 1, "the connection survived");
    Ok(())
}
