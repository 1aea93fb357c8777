//! Every write carries a client timestamp, strictly increasing per client; retries are still
//! only for idempotent requests.
mod harness;

use std::time::Duration;

use harness::{config, key, FakeNode};
use shoal_client::{
    Client, ClientError, Placeholders, Request, RequestOptions, Response, ResponseBody,
    ReturnValues, Status, WriteOp,
};
use tokio::sync::mpsc;

/// Answers every request on `node` with an empty body and reports its header timestamp.
fn answer_all(mut node: FakeNode) -> mpsc::UnboundedReceiver<(Request, u64)> {
    let (sender, stamps) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(request) = node.incoming.recv().await {
            request.respond_ok(ResponseBody::Empty);
            let envelope = request.envelope;
            let _ = sender.send((envelope.request, envelope.header.timestamp_micros));
        }
    });
    stamps
}

fn write(i: usize) -> Request {
    let table = "t".to_owned();
    let placeholders = Placeholders::default();
    match i % 5 {
        0 => Request::PutItem {
            table,
            item: key("a"),
            condition: None,
            placeholders,
            ttl_secs: 0,
            return_values: ReturnValues::None,
        },
        1 => Request::PutItem {
            table,
            item: key("a"),
            condition: Some("attribute_exists(pk)".to_owned()),
            placeholders,
            ttl_secs: 0,
            return_values: ReturnValues::None,
        },
        2 => Request::UpdateItem {
            table,
            key: key("a"),
            update: "SET x = :x".to_owned(),
            condition: None,
            placeholders,
            ttl_secs: 0,
            return_values: ReturnValues::None,
        },
        3 => Request::DeleteItem {
            table,
            key: key("a"),
            condition: Some("attribute_exists(pk)".to_owned()),
            placeholders,
            return_values: ReturnValues::None,
        },
        _ => Request::BatchWrite { table, ops: vec![WriteOp::Delete { key: key("a") }] },
    }
}

#[tokio::test]
async fn consecutive_writes_carry_strictly_increasing_timestamps() -> Result<(), ClientError> {
    let node = FakeNode::plain().await;
    let client = Client::connect(config(&node.address)).await?;
    let mut stamps = answer_all(node);
    let mut last = 0;
    // 1000 writes in a tight loop: far more than one per microsecond of clock on the
    // client's side is not guaranteed here, but many share a microsecond.
    for i in 0..1000 {
        client.request(write(i)).await?;
        let (request, stamp) = stamps.recv().await.expect("answered");
        assert!(stamp > last, "write {i} ({request:?}) stamped {stamp} after {last}");
        last = stamp;
    }
    Ok(())
}

#[tokio::test]
async fn concurrent_writes_of_one_client_never_share_a_timestamp() -> Result<(), ClientError> {
    let node = FakeNode::plain().await;
    let client = Client::connect(config(&node.address)).await?;
    let mut stamps = answer_all(node);
    let calls: Vec<_> = (0..500)
        .map(|i| {
            let client = client.clone();
            tokio::spawn(async move { client.request(write(i)).await })
        })
        .collect();
    for call in calls {
        call.await.expect("task")?;
    }
    let mut all = Vec::new();
    for _ in 0..500 {
        all.push(stamps.recv().await.expect("answered").1);
    }
    all.sort_unstable();
    all.dedup();
    assert_eq!(all.len(), 500, "two writes shared a timestamp");
    Ok(())
}

#[tokio::test]
async fn a_timestamp_in_the_options_is_sent_as_is() -> Result<(), ClientError> {
    let node = FakeNode::plain().await;
    let client = Client::connect(config(&node.address)).await?;
    let mut stamps = answer_all(node);
    client.put("t", key("a")).await?;
    let first = stamps.recv().await.expect("answered").1;
    let options = RequestOptions { timestamp_micros: Some(42), ..RequestOptions::default() };
    client.request_with(write(2), options).await?;
    assert_eq!(stamps.recv().await.expect("answered").1, 42);
    client.put("t", key("a")).await?;
    assert!(stamps.recv().await.expect("answered").1 > first);
    // Reads and schema requests carry none.
    client.get("t", key("a")).await?;
    assert_eq!(stamps.recv().await.expect("answered").1, 0);
    Ok(())
}

#[tokio::test]
async fn a_stamped_update_is_still_not_retried() -> Result<(), ClientError> {
    let mut node = FakeNode::plain().await;
    let client = Client::connect(config(&node.address)).await?;
    let call = tokio::spawn(async move {
        client.update("t", key("a"), "ADD n :one", Placeholders::default()).await
    });
    let request = node.next().await;
    assert_ne!(request.envelope.header.timestamp_micros, 0);
    request.respond(Response::error(Status::Overloaded, "busy"));
    let result = call.await.expect("task");
    assert!(matches!(&result, Err(e) if e.status() == Some(Status::Overloaded)), "{result:?}");
    assert!(node.quiet_for(Duration::from_millis(200)).await, "the update was sent again");
    Ok(())
}
