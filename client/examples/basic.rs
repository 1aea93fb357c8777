//! Connects to a node, creates a table, writes, reads and queries.
//!
//! ```text
//! cargo run -p shoal-client --example basic -- 127.0.0.1:7400
//! ```

use shoal_client::{
    Client, ClientConfig, ClientError, Item, KeyAttribute, KeyType, Number, Placeholders,
    QueryRequest, TableSpec, Value,
};

fn number(n: i64) -> Value {
    Value::N(Number::from(n))
}

#[tokio::main]
async fn main() -> Result<(), ClientError> {
    let host = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:7400".to_owned());
    let client =
        Client::connect(ClientConfig { hosts: vec![host], ..ClientConfig::default() }).await?;
    let info = client.cluster_info().await?;
    println!(
        "connected to node {} at {} ({} shards)",
        info.node_id,
        info.address,
        info.shards.len()
    );

    let spec = TableSpec {
        name: "example_events".to_owned(),
        partition_key: KeyAttribute { name: "user_id".to_owned(), key_type: KeyType::S },
        sort_key: Some(KeyAttribute { name: "seq".to_owned(), key_type: KeyType::N }),
        replication_factor: 1,
        compaction: Default::default(),
        default_ttl_secs: 0,
        ttl_attribute: None,
        options: Default::default(),
    };
    let table = client.create_table(spec, true).await?;
    println!("table {} (id {})", table.spec.name, table.id);

    for seq in 1..=5 {
        let item = Item::from([
            ("user_id".to_owned(), Value::S("ada".to_owned())),
            ("seq".to_owned(), number(seq)),
            ("event".to_owned(), Value::S(format!("event number {seq}"))),
        ]);
        client.put("example_events", item).await?;
    }

    let key = Item::from([
        ("user_id".to_owned(), Value::S("ada".to_owned())),
        ("seq".to_owned(), number(3)),
    ]);
    println!("get seq 3: {:?}", client.get("example_events", key).await?);

    let mut placeholders = Placeholders::default();
    placeholders.values.insert(":user".to_owned(), Value::S("ada".to_owned()));
    placeholders.values.insert(":from".to_owned(), number(2));
    let page = client
        .query(QueryRequest {
            table: "example_events".to_owned(),
            key_condition: "user_id = :user AND seq >= :from".to_owned(),
            placeholders,
            ..QueryRequest::default()
        })
        .await?;
    println!("query returned {} items:", page.items.len());
    for item in &page.items {
        println!("  {item:?}");
    }
    Ok(())
}
