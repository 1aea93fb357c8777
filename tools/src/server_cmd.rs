//! `shoal server`: loads the node's config, applies the command-line overrides, validates the
//! result and runs the node until SIGTERM or SIGINT.
//!
//! No tokio here: the node runs one glommio executor per shard on its own threads, and this
//! thread only waits for a signal inside [`shoal_server::run`].

use std::net::{SocketAddr, ToSocketAddrs};

use shoal_server::ServerError;
use shoal_tuning::{ConfigError, NodeConfig};

use crate::args::ServerArgs;
use crate::error::CliError;

/// Runs a node with the configuration `args` describe.
///
/// # Errors
/// Bad input (exit 2) for an invalid config file or override, naming the key; an internal
/// error (exit 1) if the node fails to start or stops on a fatal error.
pub fn run(args: &ServerArgs) -> Result<(), CliError> {
    let config = node_config(args)?;
    crate::allocator::retain_freed_pages();
    shoal_server::run(config).map_err(|e| match e {
        ServerError::Config(_) => CliError::bad_input(e.to_string()),
        other => CliError::internal(other.to_string()),
    })
}

/// The file's configuration (or the defaults) with the flags applied, validated.
///
/// # Errors
/// Bad input naming the key (and the flag, for an override).
pub fn node_config(args: &ServerArgs) -> Result<NodeConfig, CliError> {
    let mut config = match &args.config {
        Some(path) => NodeConfig::from_file(path).map_err(|e| config_error(&e))?,
        None => NodeConfig::default(),
    };
    apply_overrides(&mut config, args)?;
    config.validate().map_err(|e| config_error(&e))?;
    Ok(config)
}

fn config_error(error: &ConfigError) -> CliError {
    // Without a file the error displays as `config: key: reason`; say it once.
    let text = error.to_string();
    let text = text.strip_prefix("config: ").unwrap_or(&text);
    CliError::bad_input(format!("invalid configuration: {text}"))
}

/// Replaces the keys the flags set.
fn apply_overrides(config: &mut NodeConfig, args: &ServerArgs) -> Result<(), CliError> {
    if let Some(listen) = &args.listen {
        config.node.listen = socket_addr("--listen", "node.listen", listen)?;
    }
    if let Some(http) = &args.http {
        config.node.http = Some(socket_addr("--http", "node.http", http)?);
    }
    if let Some(dynamodb) = &args.dynamodb {
        config.dynamodb.listen = match dynamodb.as_str() {
            "off" => "off".to_owned(),
            text => socket_addr("--dynamodb", "dynamodb.listen", text)?.to_string(),
        };
    }
    if let Some(data_dir) = &args.data_dir {
        config.node.data_dir = data_dir.clone();
    }
    if let Some(shards) = args.shards {
        config.shards.count = shards;
    }
    if let Some(seeds) = &args.seeds {
        config.node.seeds = seeds.iter().map(|s| s.trim().to_owned()).collect();
    }
    Ok(())
}

/// Reads `HOST:PORT`, resolving a host name to its first address.
fn socket_addr(flag: &str, key: &str, text: &str) -> Result<SocketAddr, CliError> {
    if let Ok(address) = text.parse() {
        return Ok(address);
    }
    let bad = |reason: String| CliError::bad_input(format!("{flag} ({key}): {reason}"));
    let mut addresses = text
        .to_socket_addrs()
        .map_err(|e| bad(format!("'{text}' is not a HOST:PORT address: {e}")))?;
    addresses.next().ok_or_else(|| bad(format!("'{text}' resolves to no address")))
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;
    use std::path::PathBuf;

    use super::*;
    use crate::error::Exit;

    #[test]
    fn defaults_apply_without_a_file() {
        let config = node_config(&ServerArgs::default()).unwrap();
        assert_eq!(config, NodeConfig::default());
    }

    #[test]
    fn flags_override_the_file() {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        writeln!(file, "[node]\nlisten = \"127.0.0.1:9000\"\ndata_dir = \"/from/file\"").unwrap();
        let args = ServerArgs {
            config: Some(file.path().to_path_buf()),
            http: Some("127.0.0.1:9080".to_owned()),
            data_dir: Some(PathBuf::from("/from/flag")),
            shards: Some(2),
            seeds: Some(vec!["10.0.0.1:7470".to_owned(), " 10.0.0.2:7470".to_owned()]),
            ..ServerArgs::default()
        };
        let config = node_config(&args).unwrap();
        assert_eq!(config.node.listen, SocketAddr::from(([127, 0, 0, 1], 9000)));
        assert_eq!(config.node.http, Some(SocketAddr::from(([127, 0, 0, 1], 9080))));
        assert_eq!(config.node.data_dir, PathBuf::from("/from/flag"));
        assert_eq!(config.shards.count, 2);
        assert_eq!(config.node.seeds, vec!["10.0.0.1:7470", "10.0.0.2:7470"]);
    }

    #[test]
    fn host_names_resolve() {
        let args = ServerArgs { listen: Some("localhost:7400".to_owned()), ..Default::default() };
        let config = node_config(&args).unwrap();
        assert!(config.node.listen.ip().is_loopback(), "{}", config.node.listen);
        assert_eq!(config.node.listen.port(), 7400);
    }

    #[test]
    fn a_bad_file_names_the_key_and_exits_2() {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        writeln!(file, "[limits]\nframe_byts_max = 1").unwrap();
        let args = ServerArgs { config: Some(file.path().to_path_buf()), ..Default::default() };
        let error = node_config(&args).unwrap_err();
        assert_eq!(error.exit, Exit::BadInput);
        let message = error.message.unwrap();
        assert!(message.contains("frame_byts_max"), "{message}");
    }

    #[test]
    fn a_missing_file_exits_2() {
        let path = PathBuf::from("/nonexistent/shoal.toml");
        let args = ServerArgs { config: Some(path), ..Default::default() };
        let error = node_config(&args).unwrap_err();
        assert_eq!(error.exit, Exit::BadInput);
        assert!(error.message.unwrap().contains("/nonexistent/shoal.toml"));
    }

    #[test]
    fn bad_overrides_name_flag_or_key() {
        let args = ServerArgs { listen: Some("nowhere".to_owned()), ..Default::default() };
        let message = node_config(&args).unwrap_err().message.unwrap();
        assert!(message.starts_with("--listen (node.listen): 'nowhere'"), "{message}");
        let args = ServerArgs { seeds: Some(vec!["no-port".to_owned()]), ..Default::default() };
        let error = node_config(&args).unwrap_err();
        assert_eq!(error.exit, Exit::BadInput);
        assert!(error.message.unwrap().contains("node.seeds[0]"));
        let args = ServerArgs { shards: Some(1_000_000), ..Default::default() };
        let message = node_config(&args).unwrap_err().message.unwrap();
        assert!(message.starts_with("invalid configuration: shards.count: "), "{message}");
    }
}
