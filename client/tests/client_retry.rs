//! Idempotent requests are retried after transient failures; conditional writes are not.
mod harness;

use std::time::Duration;

use harness::{config, key, FakeNode};
use shoal_client::{
    Client, ClientError, Placeholders, Request, Response, ResponseBody, ReturnValues, Status,
};

#[tokio::test]
async fn get_survives_two_overloaded_answers() -> Result<(), ClientError> {
    let mut node = FakeNode::plain().await;
    let client = Client::connect(config(&node.address)).await?;
    let call = tokio::spawn(async move { client.get("t", key("a")).await });
    for _ in 0..2 {
        node.next().await.respond(Response::error(Status::Overloaded, "busy"));
    }
    node.next().await.respond_ok(ResponseBody::Item(Some(key("a"))));
    assert_eq!(call.await.expect("task")?, Some(key("a")));
    Ok(())
}

#[tokio::test]
async fn get_survives_a_dropped_connection() -> Result<(), ClientError> {
    let mut node = FakeNode::plain().await;
    let client = Client::connect(config(&node.address)).await?;
    let call = tokio::spawn(async move { client.get("t", key("a")).await });
    let first = node.next().await;
    first.close();
    let second = node.next().await;
    assert_ne!(first.connection, second.connection, "the retry used a new connection");
    second.respond_ok(ResponseBody::Item(Some(key("a"))));
    assert_eq!(call.await.expect("task")?, Some(key("a")));
    assert_eq!(node.accepted(), 2);
    Ok(())
}

#[tokio::test]
async fn retries_run_out() -> Result<(), ClientError> {
    let mut node = FakeNode::plain().await;
    let client =
        Client::connect(shoal_client::ClientConfig { retries: 2, ..config(&node.address) }).await?;
    let call = tokio::spawn(async move { client.get("t", key("a")).await });
    for _ in 0..3 {
        node.next().await.respond(Response::error(Status::Unavailable, "no replicas"));
    }
    let result = call.await.expect("task");
    assert!(matches!(&result, Err(e) if e.status() == Some(Status::Unavailable)), "{result:?}");
    assert!(node.quiet_for(Duration::from_millis(100)).await, "no fourth attempt");
    Ok(())
}

#[tokio::test]
async fn conditional_put_is_not_retried() -> Result<(), ClientError> {
    let mut node = FakeNode::plain().await;
    let client = Client::connect(config(&node.address)).await?;
    let call = tokio::spawn(async move {
        client
            .request(Request::PutItem {
                table: "t".to_owned(),
                item: key("a"),
                condition: Some("attribute_not_exists(pk)".to_owned()),
                placeholders: Placeholders::default(),
                ttl_secs: 0,
                return_values: ReturnValues::None,
            })
            .await
    });
    let request = node.next().await;
    assert_ne!(request.envelope.header.timestamp_micros, 0, "stamped, yet not idempotent");
    request.respond(Response::error(Status::Overloaded, "busy"));
    let result = call.await.expect("task");
    assert!(
        matches!(&result, Err(ClientError::Server { status: Status::Overloaded, .. })),
        "{result:?}"
    );
    assert!(node.quiet_for(Duration::from_millis(200)).await, "the put was sent again");
    Ok(())
}

#[tokio::test]
async fn unconditional_put_is_retried_with_the_same_timestamp() -> Result<(), ClientError> {
    let mut node = FakeNode::plain().await;
    let client = Client::connect(config(&node.address)).await?;
    let call = tokio::spawn(async move { client.put("t", key("a")).await });
    let first = node.next().await;
    first.respond(Response::error(Status::Timeout, "replicas slow"));
    let second = node.next().await;
    second.respond_ok(ResponseBody::Empty);
    call.await.expect("task")?;
    let stamp = first.envelope.header.timestamp_micros;
    assert_ne!(stamp, 0, "the client assigned a timestamp");
    assert_eq!(second.envelope.header.timestamp_micros, stamp);
    Ok(())
}

#[tokio::test]
async fn non_retryable_status_is_returned_at_once() -> Result<(), ClientError> {
    let mut node = FakeNode::plain().await;
    let client = Client::connect(config(&node.address)).await?;
    let call = tokio::spawn(async move { client.get("t", key("a")).await });
    node.next().await.respond(Response::error(Status::BadRequest, "bad key"));
    let result = call.await.expect("task");
    match result {
        Err(ClientError::Server { status: Status::BadRequest, message }) => {
            assert_eq!(message, "bad key");
        }
        other => panic!("{other:?}"),
    }
    assert!(node.quiet_for(Duration::from_millis(100)).await);
    Ok(())
}
