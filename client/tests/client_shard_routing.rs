//! Single-partition requests go to the port of the shard that owns their key.
mod harness;

use std::time::Duration;

use harness::{config, key, pk_of, sharded_info, FakeNode};
use shoal_client::{Client, ClientConfig, ClientError, Item, ResponseBody, Value};
use shoal_types::partitioner::{shard_of, token};
use shoal_types::KeyValue;

/// A partition key whose shard among two is `shard`.
fn key_on_shard(shard: u32) -> String {
    (0..)
        .map(|i| format!("key{i}"))
        .find(|k| shard_of(token(&KeyValue::S(k.clone())), 2) == shard)
        .expect("some key lands on every shard")
}

struct Cluster {
    main: FakeNode,
    shards: Vec<FakeNode>,
}

async fn cluster(info: fn(&str, &[String]) -> shoal_client::ClusterInfo) -> Cluster {
    let shards = vec![FakeNode::start(|_| None).await, FakeNode::start(|_| None).await];
    let addresses: Vec<String> = shards.iter().map(|s| s.address.clone()).collect();
    let main = FakeNode::standard(move |own| info(own, &addresses)).await;
    Cluster { main, shards }
}

#[tokio::test]
async fn get_and_put_reach_the_owning_shard() -> Result<(), ClientError> {
    let mut cluster = cluster(sharded_info).await;
    let client = Client::connect(config(&cluster.main.address)).await?;
    for shard in [1u32, 0] {
        let pk = key_on_shard(shard);
        let call = tokio::spawn({
            let client = client.clone();
            let pk = pk.clone();
            async move { client.get("t", key(&pk)).await }
        });
        let request = cluster.shards[shard as usize].next().await;
        assert_eq!(pk_of(&request.envelope.request), pk);
        request.respond_ok(ResponseBody::Item(Some(key(&pk))));
        assert_eq!(call.await.expect("task")?, Some(key(&pk)));

        let call = tokio::spawn({
            let client = client.clone();
            let pk = pk.clone();
            async move { client.put("t", key(&pk)).await }
        });
        let request = cluster.shards[shard as usize].next().await;
        assert_eq!(pk_of(&request.envelope.request), pk);
        request.respond_ok(ResponseBody::Empty);
        call.await.expect("task")?;
    }
    let other = 1 - shard_of(token(&KeyValue::S(key_on_shard(1))), 2) as usize;
    assert!(cluster.shards[other].quiet_for(Duration::from_millis(50)).await);
    assert!(cluster.main.quiet_for(Duration::from_millis(50)).await, "nothing went to main");
    Ok(())
}

#[tokio::test]
async fn unknown_sharding_goes_to_the_main_address() -> Result<(), ClientError> {
    fn top_bits(own: &str, shards: &[String]) -> shoal_client::ClusterInfo {
        shoal_client::ClusterInfo { sharding: "top-bits".to_owned(), ..sharded_info(own, shards) }
    }
    let mut cluster = cluster(top_bits).await;
    let client = Client::connect(config(&cluster.main.address)).await?;
    let call = tokio::spawn(async move { client.get("t", key(&key_on_shard(1))).await });
    cluster.main.next().await.respond_ok(ResponseBody::Item(None));
    assert_eq!(call.await.expect("task")?, None);
    assert_eq!(cluster.shards[1].accepted(), 0);
    Ok(())
}

#[tokio::test]
async fn shard_awareness_can_be_switched_off() -> Result<(), ClientError> {
    let mut cluster = cluster(sharded_info).await;
    let client =
        Client::connect(ClientConfig { shard_aware: false, ..config(&cluster.main.address) })
            .await?;
    let call = tokio::spawn(async move { client.get("t", key(&key_on_shard(1))).await });
    cluster.main.next().await.respond_ok(ResponseBody::Item(None));
    assert_eq!(call.await.expect("task")?, None);
    assert_eq!(cluster.shards[1].accepted(), 0);
    Ok(())
}

#[tokio::test]
async fn key_without_partition_attribute_is_refused() -> Result<(), ClientError> {
    let cluster = cluster(sharded_info).await;
    let client = Client::connect(config(&cluster.main.address)).await?;
    let key = Item::from([("other".to_owned(), Value::S("x".to_owned()))]);
    let result = client.get("t", key).await;
    assert!(matches!(result, Err(ClientError::InvalidArgument(_))), "{result:?}");
    Ok(())
}

#[tokio::test]
async fn unreachable_shard_falls_back_to_the_main_address() -> Result<(), ClientError> {
    fn dead_shards(own: &str, _: &[String]) -> shoal_client::ClusterInfo {
        let dead: Vec<String> = (0..2)
            .map(|_| {
                let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
                listener.local_addr().unwrap().to_string()
            })
            .collect();
        sharded_info(own, &dead)
    }
    let mut cluster = cluster(dead_shards).await;
    let client = Client::connect(config(&cluster.main.address)).await?;
    let call = tokio::spawn(async move { client.get("t", key("a")).await });
    cluster.main.next().await.respond_ok(ResponseBody::Item(Some(key("a"))));
    assert_eq!(call.await.expect("task")?, Some(key("a")));
    Ok(())
}

/// Waits, up to 5 s, until `node` has accepted `count` connections.
async fn accepted_reaches(node: &FakeNode, count: usize) -> bool {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while node.accepted() < count {
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    true
}

#[tokio::test]
async fn warm_up_opens_every_shard_connection_before_any_request() -> Result<(), ClientError> {
    let mut cluster = cluster(sharded_info).await;
    let client = Client::connect(config(&cluster.main.address)).await?;
    assert_eq!(cluster.shards.iter().map(FakeNode::accepted).sum::<usize>(), 0, "lazy by default");
    assert_eq!(client.warm_up(&["t"]).await, 2, "one connection per shard");
    for shard in &cluster.shards {
        assert!(accepted_reaches(shard, 1).await, "warm-up dialled every shard");
    }
    // Requests then use those connections: none is dialled again.
    let pk = key_on_shard(1);
    let call = tokio::spawn({
        let client = client.clone();
        let pk = pk.clone();
        async move { client.get("t", key(&pk)).await }
    });
    let request = cluster.shards[1].next().await;
    request.respond_ok(ResponseBody::Item(None));
    assert_eq!(call.await.expect("task")?, None);
    assert_eq!(cluster.shards[1].accepted(), 1);
    // A second warm-up finds everything open.
    assert_eq!(client.warm_up(&["t"]).await, 2);
    assert_eq!(cluster.shards.iter().map(FakeNode::accepted).sum::<usize>(), 2);
    Ok(())
}
