//! `shoal`: runs a node (`shoal server`) or talks to one (every other subcommand), with JSON
//! in and out.
//!
//! - [`args`]: the command line (clap); [`input`]: JSON, stdin, `@FILE` and hex arguments;
//!   [`output`]: what a response prints.
//! - [`commands`]: arguments → request → node → output; [`server_cmd`]: config → node.
//! - [`admin`]: one node's view of the cluster, one replica's copy of an item.
//! - [`dev_cluster`]: N local nodes in the foreground, for development and tests.
//! - [`error`]: the exit codes, and the one place statuses and client errors map to them.
//!
//! Every failure prints one line, `shoal: error: <message>`, on stderr and exits with a
//! documented code (see [`error`] or `shoal --help`).
#![deny(missing_docs, clippy::unwrap_used, clippy::indexing_slicing)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::indexing_slicing))]

mod admin;
mod allocator;
mod args;
mod commands;
mod dev_cluster;
mod error;
mod input;
mod output;
mod server_cmd;

use std::process::ExitCode;

use clap::error::ErrorKind;
use clap::Parser;

use crate::args::{Cli, Command};
use crate::error::{CliError, Exit};

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => return exit_for_usage(&error),
    };
    let result = match &cli.command {
        Command::Server(args) => server_cmd::run(args),
        Command::DevCluster(args) => dev_cluster::run(args),
        Command::Admin(admin) => admin::run(&cli.global, admin),
        _ => commands::run(&cli),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => report(&error),
    }
}

fn report(error: &CliError) -> ExitCode {
    if let Some(message) = &error.message {
        eprintln!("shoal: error: {message}");
    }
    error.exit.into()
}

/// Help and version go to stdout and exit 0; usage errors print one line and exit 2.
fn exit_for_usage(error: &clap::Error) -> ExitCode {
    match error.kind() {
        ErrorKind::DisplayHelp
        | ErrorKind::DisplayVersion
        | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            // Nothing useful is left to do if the terminal is gone.
            let _ = error.print();
            if error.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
                return Exit::BadInput.into();
            }
            ExitCode::SUCCESS
        }
        _ => report(&CliError::bad_input(usage_line(&error.render().to_string()))),
    }
}

/// clap's usage error as one line: its message and tips, without the usage block.
fn usage_line(rendered: &str) -> String {
    let before_usage = rendered.split("Usage:").next().unwrap_or(rendered);
    let mut line = String::new();
    for part in before_usage.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if !line.is_empty() {
            // A line ending in ':' introduces what follows; others are separate sentences.
            line.push_str(if line.ends_with(':') { " " } else { "; " });
        }
        line.push_str(part);
    }
    let line = line.strip_prefix("error: ").unwrap_or(&line);
    format!("{line} (see 'shoal --help')")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usage_error(args: &[&str]) -> String {
        let error =
            Cli::try_parse_from(std::iter::once("shoal").chain(args.iter().copied())).unwrap_err();
        usage_line(&error.render().to_string())
    }

    #[test]
    fn usage_errors_fit_on_one_line() {
        let line = usage_error(&["get", "t", "{}", "--bogus"]);
        assert!(line.starts_with("unexpected argument '--bogus' found"), "{line}");
        assert!(!line.contains('\n'), "{line}");
        let line = usage_error(&["table", "create", "t"]);
        assert!(
            line.starts_with("the following required arguments were not provided: --partition-key"),
            "{line}"
        );
        assert!(line.ends_with("(see 'shoal --help')"), "{line}");
    }
}
