//! The command line, as clap derive types.
//!
//! Only the shape of the arguments lives here: clap checks what it can (numbers, choices,
//! `NAME:TYPE` key specs); reading JSON arguments and building requests is
//! [`crate::commands::build_request`]'s job, so it can be tested without a terminal.

use std::net::Ipv4Addr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use shoal_net::{Compaction, Consistency, KeyAttribute};
use shoal_types::KeyType;

/// What `shoal --help` says before the command list.
const LONG_ABOUT: &str = "\
Runs a Shoal node (shoal server), or talks to one with JSON in and out.

JSON arguments (ITEM_JSON, KEY_JSON, KEYS_JSON_ARRAY, OPS_JSON_ARRAY, --names, --values) may be
given inline, as '-' to read stdin, or as @FILE to read a file. Items are plain JSON
({\"id\": 1, \"name\": \"x\"}) unless --typed selects DynamoDB typed JSON
({\"id\": {\"N\": \"1\"}}), for input and output alike.

Exit codes:
  0  success
  1  internal or unexpected error
  2  bad input: usage, JSON, expression or config errors; the server answered BadRequest,
     TooLarge, UnknownTable or TableExists
  3  not found: get of a missing item, table describe/drop of a missing table
  4  a condition expression evaluated false; nothing was written
  5  unavailable: not enough replicas, timeout or overload; retrying later may work
  6  connection error: cannot connect to the node, or the connection broke";

/// Runs a Shoal node, or talks to one with JSON in and out.
#[derive(Debug, Parser)]
#[command(name = "shoal", version, long_about = LONG_ABOUT)]
pub struct Cli {
    /// Options of the client commands.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Options every client command takes (`shoal server` ignores them).
#[derive(Clone, Debug, Args)]
#[command(next_help_heading = "Client options")]
pub struct GlobalArgs {
    /// The node to talk to.
    #[arg(long, global = true, value_name = "HOST:PORT", env = "SHOAL_HOST")]
    #[arg(default_value = "127.0.0.1:7400")]
    pub host: String,
    /// How many replicas must answer.
    #[arg(long, global = true, value_enum, ignore_case = true, default_value = "QUORUM")]
    pub consistency: ConsistencyArg,
    /// Read and write items as DynamoDB typed JSON ({"N": "1"}) instead of plain JSON.
    #[arg(long, global = true)]
    pub typed: bool,
    /// Give up on a request after this many milliseconds (default: the client's).
    #[arg(long, global = true, value_name = "MS")]
    #[arg(value_parser = clap::value_parser!(u64).range(1..))]
    pub timeout: Option<u64>,
}

/// `--consistency`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ConsistencyArg {
    /// One replica.
    #[value(name = "ONE")]
    One,
    /// A majority of the replicas.
    #[value(name = "QUORUM")]
    Quorum,
    /// Every replica.
    #[value(name = "ALL")]
    All,
}

impl From<ConsistencyArg> for Consistency {
    fn from(arg: ConsistencyArg) -> Consistency {
        match arg {
            ConsistencyArg::One => Consistency::One,
            ConsistencyArg::Quorum => Consistency::Quorum,
            ConsistencyArg::All => Consistency::All,
        }
    }
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a node until SIGTERM or SIGINT.
    Server(ServerArgs),
    /// Create, list, describe or drop tables.
    #[command(subcommand)]
    Table(TableCommand),
    /// Write a whole item.
    Put(PutArgs),
    /// Read one item; prints nothing and exits 3 if there is none.
    Get(GetArgs),
    /// Delete one item.
    Delete(DeleteArgs),
    /// Change attributes of an item (creating it if absent); prints the new item.
    Update(UpdateArgs),
    /// Read items of one partition, one JSON item per line.
    Query(QueryArgs),
    /// Read a whole table (or one segment of it), one JSON item per line.
    Scan(ScanArgs),
    /// Read or write many items of one table; one JSON result per line.
    #[command(subcommand)]
    Batch(BatchCommand),
    /// Run N local nodes (127.0.0.1, 127.0.0.2, ...) until SIGINT or SIGTERM.
    DevCluster(DevClusterArgs),
    /// Look inside one node: its view of the cluster, its own copy of an item.
    #[command(subcommand)]
    Admin(AdminCommand),
}

/// `shoal server`.
#[derive(Clone, Debug, Default, Args)]
pub struct ServerArgs {
    /// TOML config file (default: built-in defaults).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Native-protocol address (overrides node.listen).
    #[arg(long, value_name = "HOST:PORT")]
    pub listen: Option<String>,
    /// HTTP health and metrics address (overrides node.http).
    #[arg(long, value_name = "HOST:PORT")]
    pub http: Option<String>,
    /// DynamoDB-compatible API address, or "off" (overrides dynamodb.listen; default the
    /// listen host, port 8000).
    #[arg(long, value_name = "HOST:PORT")]
    pub dynamodb: Option<String>,
    /// Data directory (overrides node.data_dir).
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Shards, one per core (overrides shards.count).
    #[arg(long, value_name = "N")]
    pub shards: Option<usize>,
    /// Seed nodes, comma-separated (overrides node.seeds).
    #[arg(long, value_name = "HOST:PORT,...", value_delimiter = ',')]
    pub seeds: Option<Vec<String>>,
}

/// `shoal dev-cluster`.
#[derive(Clone, Debug, Args)]
pub struct DevClusterArgs {
    /// Nodes to run (each on its own loopback address).
    #[arg(long, value_name = "N")]
    #[arg(value_parser = clap::value_parser!(u8).range(1..))]
    pub nodes: u8,
    /// Directory of the nodes' configs, data and logs (DIR/nodeK/...); reused if it exists.
    #[arg(long, value_name = "DIR")]
    pub base_dir: PathBuf,
    /// Address of node 1; node K gets this address with its last part increased by K - 1.
    #[arg(long, value_name = "IPV4", default_value = "127.0.0.1")]
    pub first_address: Ipv4Addr,
    /// Shards (cores) of each node.
    #[arg(long, value_name = "N", default_value_t = 1)]
    #[arg(value_parser = clap::value_parser!(u16).range(1..))]
    pub shards_per_node: u16,
    /// Milliseconds between gossip rounds (cluster.gossip_interval_ms).
    #[arg(long, value_name = "MS", default_value_t = 1000)]
    #[arg(value_parser = clap::value_parser!(u64).range(1..))]
    pub gossip_interval_ms: u64,
    /// Seconds the nodes get to become ready (tests of the failure path shorten it).
    #[arg(long, value_name = "SECS", default_value_t = 120, hide = true)]
    #[arg(value_parser = clap::value_parser!(u64).range(1..))]
    pub ready_timeout_secs: u64,
}

/// `shoal admin ...`.
#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Every node as the --host node sees it: address, up or down, status, tokens, load.
    Status {
        /// Print a JSON array instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// The --host node's own copy of an item (no coordination, no other replica asked).
    ReplicaRead(ReplicaReadArgs),
}

/// `shoal admin replica-read`.
#[derive(Clone, Debug, Args)]
pub struct ReplicaReadArgs {
    /// Table name.
    pub table: String,
    /// The key attributes (JSON, '-' or @FILE).
    #[arg(value_name = "KEY_JSON")]
    pub key: String,
    /// Print the stored row: every cell with its timestamp, tombstones included.
    #[arg(long)]
    pub raw: bool,
}

/// `shoal table ...`.
#[derive(Debug, Subcommand)]
pub enum TableCommand {
    /// Create a table; prints its description.
    Create(TableCreateArgs),
    /// Print every table's description as a JSON array.
    List,
    /// Print a table's description.
    Describe {
        /// Table name.
        name: String,
    },
    /// Drop a table and all its data.
    Drop {
        /// Table name.
        name: String,
        /// Succeed if there is no such table.
        #[arg(long)]
        if_exists: bool,
    },
}

/// `shoal table create`.
#[derive(Clone, Debug, Args)]
pub struct TableCreateArgs {
    /// Table name.
    pub name: String,
    /// Partition key: attribute name and type (S, N or B).
    #[arg(long, value_name = "NAME:S|N|B", value_parser = parse_key_attribute)]
    pub partition_key: KeyAttribute,
    /// Sort key: attribute name and type (S, N or B).
    #[arg(long, value_name = "NAME:S|N|B", value_parser = parse_key_attribute)]
    pub sort_key: Option<KeyAttribute>,
    /// Replicas per item.
    #[arg(long, value_name = "N", default_value_t = 3)]
    #[arg(value_parser = clap::value_parser!(u8).range(1..))]
    pub replication_factor: u8,
    /// Compaction strategy.
    #[arg(long, value_enum, default_value = "size-tiered")]
    pub compaction: CompactionArg,
    /// TTL for writes that set none, in seconds (0 = none).
    #[arg(long, value_name = "SECS", default_value_t = 0)]
    pub default_ttl: u64,
    /// Succeed if a table of that name exists.
    #[arg(long)]
    pub if_not_exists: bool,
}

/// `--compaction`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum CompactionArg {
    /// Cheap writes, more files per read.
    SizeTiered,
    /// Fewer files per read, more rewriting.
    Leveled,
}

impl From<CompactionArg> for Compaction {
    fn from(arg: CompactionArg) -> Compaction {
        match arg {
            CompactionArg::SizeTiered => Compaction::SizeTiered,
            CompactionArg::Leveled => Compaction::Leveled,
        }
    }
}

/// Reads `NAME:S`, `NAME:N` or `NAME:B` (the type in any case; the name may contain `:`).
///
/// # Errors
/// A message for clap if there is no `:TYPE` or the type is not S, N or B.
pub fn parse_key_attribute(text: &str) -> Result<KeyAttribute, String> {
    let Some((name, type_text)) = text.rsplit_once(':') else {
        return Err(format!("expected NAME:TYPE with TYPE one of S, N, B, found '{text}'"));
    };
    if name.is_empty() {
        return Err(format!("the key attribute name is empty in '{text}'"));
    }
    let key_type = match type_text.to_ascii_uppercase().as_str() {
        "S" => KeyType::S,
        "N" => KeyType::N,
        "B" => KeyType::B,
        _ => return Err(format!("key type must be S, N or B, found '{type_text}'")),
    };
    Ok(KeyAttribute { name: name.to_owned(), key_type })
}

/// `--names` and `--values`, shared by every command with expressions.
#[derive(Clone, Debug, Default, Args)]
pub struct PlaceholderArgs {
    /// Attribute-name placeholders: {"#n": "attribute", ...}.
    #[arg(long, value_name = "JSON")]
    pub names: Option<String>,
    /// Value placeholders: {":v": value, ...} (typed values with --typed).
    #[arg(long, value_name = "JSON")]
    pub values: Option<String>,
}

/// `shoal put`.
#[derive(Clone, Debug, Args)]
pub struct PutArgs {
    /// Table name.
    pub table: String,
    /// The item, keys included (JSON, '-' or @FILE).
    #[arg(value_name = "ITEM_JSON")]
    pub item: String,
    /// Write only if this condition holds on the existing item.
    #[arg(long, value_name = "EXPR")]
    pub condition: Option<String>,
    /// Placeholders.
    #[command(flatten)]
    pub placeholders: PlaceholderArgs,
    /// Expire the item after this many seconds (default: the table's TTL).
    #[arg(long, value_name = "SECS")]
    pub ttl: Option<u64>,
    /// Print the item this put replaced, if any.
    #[arg(long)]
    pub return_old: bool,
}

/// `shoal get`.
#[derive(Clone, Debug, Args)]
pub struct GetArgs {
    /// Table name.
    pub table: String,
    /// The key attributes (JSON, '-' or @FILE).
    #[arg(value_name = "KEY_JSON")]
    pub key: String,
    /// Attributes to return.
    #[arg(long, value_name = "EXPR")]
    pub projection: Option<String>,
    /// Attribute-name placeholders: {"#n": "attribute", ...}.
    #[arg(long, value_name = "JSON")]
    pub names: Option<String>,
}

/// `shoal delete`.
#[derive(Clone, Debug, Args)]
pub struct DeleteArgs {
    /// Table name.
    pub table: String,
    /// The key attributes (JSON, '-' or @FILE).
    #[arg(value_name = "KEY_JSON")]
    pub key: String,
    /// Delete only if this condition holds on the existing item.
    #[arg(long, value_name = "EXPR")]
    pub condition: Option<String>,
    /// Placeholders.
    #[command(flatten)]
    pub placeholders: PlaceholderArgs,
    /// Print the deleted item, if any.
    #[arg(long)]
    pub return_old: bool,
}

/// `shoal update`.
#[derive(Clone, Debug, Args)]
pub struct UpdateArgs {
    /// Table name.
    pub table: String,
    /// The key attributes (JSON, '-' or @FILE).
    #[arg(value_name = "KEY_JSON")]
    pub key: String,
    /// Update expression: SET, REMOVE, ADD, DELETE clauses.
    #[arg(long, value_name = "EXPR")]
    pub update: String,
    /// Update only if this condition holds on the existing item.
    #[arg(long, value_name = "EXPR")]
    pub condition: Option<String>,
    /// Placeholders.
    #[command(flatten)]
    pub placeholders: PlaceholderArgs,
    /// Expire the written attributes after this many seconds (default: the table's TTL).
    #[arg(long, value_name = "SECS")]
    pub ttl: Option<u64>,
}

/// Paging options of query and scan.
#[derive(Clone, Debug, Default, Args)]
pub struct PagingArgs {
    /// Most items to read per page (default: the server's page size).
    #[arg(long, value_name = "N")]
    pub limit: Option<u32>,
    /// Resume where a previous page stopped (the hex token it printed).
    #[arg(long, value_name = "HEX")]
    pub page_token: Option<String>,
    /// Follow page tokens to the end instead of printing the next one.
    #[arg(long)]
    pub all: bool,
}

/// `shoal query`.
#[derive(Clone, Debug, Args)]
pub struct QueryArgs {
    /// Table name.
    pub table: String,
    /// Partition key equality, optionally with a sort-key condition.
    #[arg(long, value_name = "EXPR")]
    pub key_condition: String,
    /// Drop items for which this is false (after reading them).
    #[arg(long, value_name = "EXPR")]
    pub filter: Option<String>,
    /// Attributes to return.
    #[arg(long, value_name = "EXPR")]
    pub projection: Option<String>,
    /// Placeholders.
    #[command(flatten)]
    pub placeholders: PlaceholderArgs,
    /// Paging.
    #[command(flatten)]
    pub paging: PagingArgs,
    /// Descending sort-key order.
    #[arg(long)]
    pub reverse: bool,
}

/// `shoal scan`.
#[derive(Clone, Debug, Args)]
pub struct ScanArgs {
    /// Table name.
    pub table: String,
    /// This segment, 0-based (with --total-segments).
    #[arg(long, value_name = "I", requires = "total_segments")]
    pub segment: Option<u32>,
    /// Segments the table is cut into, for parallel scans.
    #[arg(long, value_name = "N", requires = "segment")]
    #[arg(value_parser = clap::value_parser!(u32).range(1..))]
    pub total_segments: Option<u32>,
    /// Drop items for which this is false (after reading them).
    #[arg(long, value_name = "EXPR")]
    pub filter: Option<String>,
    /// Attributes to return.
    #[arg(long, value_name = "EXPR")]
    pub projection: Option<String>,
    /// Placeholders.
    #[command(flatten)]
    pub placeholders: PlaceholderArgs,
    /// Paging.
    #[command(flatten)]
    pub paging: PagingArgs,
}

/// `shoal batch ...`.
#[derive(Debug, Subcommand)]
pub enum BatchCommand {
    /// Read many items: one {"status": .., "item": ..} line per key, in order.
    Get(BatchGetArgs),
    /// Put and delete many items: one {"status": ..} line per operation, in order.
    Write(BatchWriteArgs),
}

/// `shoal batch get`.
#[derive(Clone, Debug, Args)]
pub struct BatchGetArgs {
    /// Table name.
    pub table: String,
    /// JSON array of keys ('-' or @FILE too).
    #[arg(value_name = "KEYS_JSON_ARRAY")]
    pub keys: String,
    /// Attributes to return.
    #[arg(long, value_name = "EXPR")]
    pub projection: Option<String>,
    /// Attribute-name placeholders: {"#n": "attribute", ...}.
    #[arg(long, value_name = "JSON")]
    pub names: Option<String>,
}

/// `shoal batch write`.
#[derive(Clone, Debug, Args)]
pub struct BatchWriteArgs {
    /// Table name.
    pub table: String,
    /// JSON array of {"put": ITEM, "ttl": SECS} and {"delete": KEY} ('-' or @FILE too).
    #[arg(value_name = "OPS_JSON_ARRAY")]
    pub ops: String,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("shoal").chain(args.iter().copied()))
    }

    #[test]
    fn the_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn global_options_have_defaults_and_go_anywhere() {
        let cli = parse(&["get", "t", "{}"]).unwrap();
        // SHOAL_HOST may be set where the tests run; only check when it is not.
        if std::env::var_os("SHOAL_HOST").is_none() {
            assert_eq!(cli.global.host, "127.0.0.1:7400");
        }
        assert_eq!(cli.global.consistency, ConsistencyArg::Quorum);
        assert!(!cli.global.typed);
        assert_eq!(cli.global.timeout, None);
        let cli = parse(&["get", "t", "{}", "--consistency", "one", "--typed", "--timeout", "50"])
            .unwrap();
        assert_eq!(cli.global.consistency, ConsistencyArg::One);
        assert!(cli.global.typed);
        assert_eq!(cli.global.timeout, Some(50));
        let cli = parse(&["--host", "h:1", "--consistency", "ALL", "table", "list"]).unwrap();
        assert_eq!(cli.global.host, "h:1");
        assert_eq!(Consistency::from(cli.global.consistency), Consistency::All);
    }

    #[test]
    fn key_attributes_parse() {
        let key = parse_key_attribute("pk:s").unwrap();
        assert_eq!(key, KeyAttribute { name: "pk".to_owned(), key_type: KeyType::S });
        let key = parse_key_attribute("a:b:N").unwrap();
        assert_eq!(key, KeyAttribute { name: "a:b".to_owned(), key_type: KeyType::N });
        assert!(parse_key_attribute("pk").unwrap_err().contains("NAME:TYPE"));
        assert!(parse_key_attribute(":S").unwrap_err().contains("name is empty"));
        assert!(parse_key_attribute("pk:X").unwrap_err().contains("S, N or B, found 'X'"));
    }

    #[test]
    fn usage_errors_are_refused_by_clap() {
        let bad = [
            &["table", "create", "t"][..],
            &["table", "create", "t", "--partition-key", "pk:Q"],
            &["table", "create", "t", "--partition-key", "pk:S", "--replication-factor", "0"],
            &["table", "create", "t", "--partition-key", "pk:S", "--compaction", "lazy"],
            &["get", "t"],
            &["update", "t", "{}"],
            &["query", "t"],
            &["scan", "t", "--segment", "1"],
            &["scan", "t", "--segment", "0", "--total-segments", "0"],
            &["get", "t", "{}", "--consistency", "TWO"],
            &["get", "t", "{}", "--timeout", "0"],
            &["server", "--shards", "many"],
        ];
        for args in bad {
            let error = parse(args).unwrap_err();
            assert_eq!(error.exit_code(), 2, "{args:?}");
        }
    }

    #[test]
    fn server_flags_parse() {
        let cli = parse(&["server", "--listen", "0.0.0.0:7400", "--seeds", "a:1,b:2"]).unwrap();
        let Command::Server(args) = cli.command else { panic!("not server: {:?}", cli.command) };
        assert_eq!(args.listen.as_deref(), Some("0.0.0.0:7400"));
        assert_eq!(args.seeds, Some(vec!["a:1".to_owned(), "b:2".to_owned()]));
        assert_eq!(args.shards, None);
    }

    #[test]
    fn long_help_lists_the_exit_codes() {
        let help = Cli::command().render_long_help().to_string();
        assert!(help.contains("Exit codes:"), "{help}");
        assert!(help.contains("6  connection error"), "{help}");
    }
}
