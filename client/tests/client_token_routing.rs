//! In a cluster, keyed requests go to their key's first replica, on the port of the shard
//! that owns the key there; an unreachable replica hands over to the next, then to a seed.
mod harness;

use std::time::Duration;

use harness::{config, key, pk_of, shard_of_key, FakeCluster};
use shoal_client::{Client, ClientError, Placeholders, QueryRequest, Request, ResponseBody, Value};

const A: usize = 0;
const B: usize = 1;

async fn connect(cluster: &FakeCluster) -> Result<Client, ClientError> {
    Client::connect(config(&cluster.nodes[A].main.address)).await
}

#[tokio::test]
async fn gets_and_puts_reach_the_owning_shard_of_the_first_replica() -> Result<(), ClientError> {
    let mut cluster = FakeCluster::start(2, 2, 1).await;
    let client = connect(&cluster).await?;
    for node in [B, A] {
        let pk = cluster.key_owned_by(node);
        let shard = shard_of_key(&pk, 2);
        let call = tokio::spawn({
            let (client, pk) = (client.clone(), pk.clone());
            async move { client.get("t", key(&pk)).await }
        });
        let request = cluster.nodes[node].shards[shard].next().await;
        assert_eq!(pk_of(&request.envelope.request), pk);
        request.respond_ok(ResponseBody::Item(Some(key(&pk))));
        assert_eq!(call.await.expect("task")?, Some(key(&pk)));

        let call = tokio::spawn({
            let (client, pk) = (client.clone(), pk.clone());
            async move { client.put("t", key(&pk)).await }
        });
        let request = cluster.nodes[node].shards[shard].next().await;
        assert_eq!(pk_of(&request.envelope.request), pk);
        request.respond_ok(ResponseBody::Empty);
        call.await.expect("task")?;
        assert!(cluster.nodes[node].shards[1 - shard].quiet_for(Duration::from_millis(20)).await);
    }
    for node in &mut cluster.nodes {
        assert!(node.main.quiet_for(Duration::from_millis(50)).await, "nothing went to main");
    }
    Ok(())
}

#[tokio::test]
async fn a_plain_query_goes_to_the_first_replica() -> Result<(), ClientError> {
    let mut cluster = FakeCluster::start(2, 2, 1).await;
    let client = connect(&cluster).await?;
    let pk = cluster.key_owned_by(B);
    let query = QueryRequest {
        table: "t".to_owned(),
        key_condition: "#p = :p AND sk > :s".to_owned(),
        placeholders: Placeholders {
            names: [("#p".to_owned(), "pk".to_owned())].into(),
            values: [
                (":p".to_owned(), Value::S(pk.clone())),
                (":s".to_owned(), Value::N("1".parse().expect("number"))),
            ]
            .into(),
        },
        ..QueryRequest::default()
    };
    let call = tokio::spawn(async move { client.query(query).await });
    let request = cluster.nodes[B].shards[shard_of_key(&pk, 2)].next().await;
    assert!(matches!(request.envelope.request, Request::Query(_)));
    request.respond_ok(ResponseBody::Page(Default::default()));
    call.await.expect("task")?;
    Ok(())
}

#[tokio::test]
async fn a_dead_first_replica_hands_over_to_the_next() -> Result<(), ClientError> {
    let mut cluster = FakeCluster::start(2, 2, 2).await;
    let client = connect(&cluster).await?;
    let pk = cluster.key_owned_by(B);
    let shard = shard_of_key(&pk, 2);
    // B answers while it lives (and the client learns its shard map)...
    let call = tokio::spawn({
        let (client, pk) = (client.clone(), pk.clone());
        async move { client.get("t", key(&pk)).await }
    });
    cluster.nodes[B].shards[shard].next().await.respond_ok(ResponseBody::Item(None));
    assert_eq!(call.await.expect("task")?, None);
    // ...then all its listeners close: the next replica, A, takes the key on its shard port.
    cluster.nodes[B].kill().await;
    for _ in 0..3 {
        let call = tokio::spawn({
            let (client, pk) = (client.clone(), pk.clone());
            async move { client.get("t", key(&pk)).await }
        });
        let request = cluster.nodes[A].shards[shard].next().await;
        assert_eq!(pk_of(&request.envelope.request), pk);
        request.respond_ok(ResponseBody::Item(Some(key(&pk))));
        assert_eq!(call.await.expect("task")?, Some(key(&pk)));
    }
    // A write too, although it is conditional (never retried once sent): nothing was sent.
    let call = tokio::spawn({
        let (client, pk) = (client.clone(), pk.clone());
        async move {
            client
                .request(Request::PutItem {
                    table: "t".to_owned(),
                    item: key(&pk),
                    condition: Some("attribute_not_exists(pk)".to_owned()),
                    placeholders: Placeholders::default(),
                    ttl_secs: 0,
                    return_values: shoal_client::ReturnValues::None,
                })
                .await
        }
    });
    cluster.nodes[A].shards[shard].next().await.respond_ok(ResponseBody::Item(None));
    call.await.expect("task")?;
    assert!(cluster.nodes[A].main.quiet_for(Duration::from_millis(50)).await);
    Ok(())
}

#[tokio::test]
async fn an_unreachable_only_replica_hands_over_to_a_seed() -> Result<(), ClientError> {
    let mut cluster = FakeCluster::start(2, 2, 1).await;
    let client = connect(&cluster).await?;
    // B never answered this client: even its cluster info cannot be fetched.
    cluster.nodes[B].kill().await;
    let pk = cluster.key_owned_by(B);
    let call = tokio::spawn({
        let (client, pk) = (client.clone(), pk.clone());
        async move { client.get("t", key(&pk)).await }
    });
    let request = cluster.nodes[A].main.next().await;
    assert_eq!(pk_of(&request.envelope.request), pk);
    request.respond_ok(ResponseBody::Item(None));
    assert_eq!(call.await.expect("task")?, None);
    Ok(())
}
