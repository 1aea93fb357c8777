//! The command's one error type and its exit codes.
//!
//! Every failure becomes a [`CliError`]: an [`Exit`] code and, usually, one readable line
//! that `main` prints as `shoal: error: <message>`. The mapping from a server [`Status`] or a
//! [`ClientError`] to an exit code lives here and nowhere else, so scripts can rely on it:
//!
//! | code | meaning |
//! |------|---------|
//! | 0 | success |
//! | 1 | internal or unexpected error (server `Internal`, protocol errors, I/O on stdout) |
//! | 2 | bad input: usage, JSON, expressions, config; server `BadRequest`, `TooLarge`, `UnknownTable`, `TableExists` |
//! | 3 | not found: `get` of a missing item, `table describe`/`table drop` of a missing table |
//! | 4 | a condition expression evaluated false |
//! | 5 | server `Unavailable`, `Timeout` or `Overloaded`, or the client's deadline passed |
//! | 6 | cannot connect to the node, or the connection broke |

use std::fmt;
use std::process::ExitCode;

use shoal_client::ClientError;
use shoal_net::{Request, Status};

/// The process exit codes (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// 0: success.
    Ok,
    /// 1: a bug or an unexpected failure.
    Internal,
    /// 2: the input was wrong; retrying the same command cannot succeed.
    BadInput,
    /// 3: the item or table does not exist.
    NotFound,
    /// 4: a condition expression evaluated false; nothing was written.
    ConditionFailed,
    /// 5: the cluster could not answer in time; retrying later may succeed.
    Unavailable,
    /// 6: no connection to the node.
    Connection,
}

impl Exit {
    /// The number the process exits with.
    pub fn code(self) -> u8 {
        match self {
            Exit::Ok => 0,
            Exit::Internal => 1,
            Exit::BadInput => 2,
            Exit::NotFound => 3,
            Exit::ConditionFailed => 4,
            Exit::Unavailable => 5,
            Exit::Connection => 6,
        }
    }
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> ExitCode {
        ExitCode::from(exit.code())
    }
}

/// A failed command: how to exit and what to say.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CliError {
    /// The exit code.
    pub exit: Exit,
    /// The line to print after `shoal: error: `; `None` exits silently (a missing item).
    pub message: Option<String>,
}

impl CliError {
    /// An error with a message.
    pub fn new(exit: Exit, message: impl Into<String>) -> CliError {
        CliError { exit, message: Some(message.into()) }
    }

    /// An exit without a message.
    pub fn silent(exit: Exit) -> CliError {
        CliError { exit, message: None }
    }

    /// Bad input (exit 2).
    pub fn bad_input(message: impl Into<String>) -> CliError {
        CliError::new(Exit::BadInput, message)
    }

    /// An unexpected failure (exit 1).
    pub fn internal(message: impl Into<String>) -> CliError {
        CliError::new(Exit::Internal, message)
    }

    /// A response with a status other than Ok, for `request`. A get of a missing item is
    /// silent: its empty output and exit code 3 say it all.
    pub fn from_status(status: Status, message: &str, request: &Request) -> CliError {
        if status == Status::NotFound && matches!(request, Request::GetItem { .. }) {
            return CliError::silent(Exit::NotFound);
        }
        let text = if message.is_empty() {
            status.as_str().to_owned()
        } else {
            format!("{}: {message}", status.as_str())
        };
        CliError::new(exit_for_status(status, request), text)
    }

    /// A client error, for `request`.
    pub fn from_client(error: &ClientError, request: &Request) -> CliError {
        if let ClientError::Server { status, message } = error {
            return CliError::from_status(*status, message, request);
        }
        CliError::new(exit_for_client_error(error), error.to_string())
    }

    /// Writing the output failed. A closed pipe (`shoal scan t --all | head`) is not an
    /// error worth a message: the reader has what it wanted.
    pub fn output(error: &std::io::Error) -> CliError {
        if error.kind() == std::io::ErrorKind::BrokenPipe {
            return CliError::silent(Exit::Ok);
        }
        CliError::internal(format!("cannot write the output: {error}"))
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.message {
            Some(message) => f.write_str(message),
            None => write!(f, "exit {}", self.exit.code()),
        }
    }
}

/// The exit code for a response status. A missing table is bad input (2) when a command
/// uses it, and "not found" (3) when the command asks about the table itself.
pub fn exit_for_status(status: Status, request: &Request) -> Exit {
    match status {
        Status::Ok => Exit::Ok,
        Status::NotFound => Exit::NotFound,
        Status::ConditionFailed => Exit::ConditionFailed,
        Status::UnknownTable if is_about_a_table(request) => Exit::NotFound,
        Status::BadRequest | Status::TooLarge | Status::UnknownTable | Status::TableExists => {
            Exit::BadInput
        }
        Status::Unavailable | Status::Timeout | Status::Overloaded => Exit::Unavailable,
        Status::Internal => Exit::Internal,
    }
}

fn is_about_a_table(request: &Request) -> bool {
    matches!(request, Request::DescribeTable { .. } | Request::DropTable { .. })
}

/// The exit code for a client error that is not a server status.
pub fn exit_for_client_error(error: &ClientError) -> Exit {
    match error {
        ClientError::Connect { .. } | ClientError::Connection { .. } => Exit::Connection,
        ClientError::Timeout { .. } => Exit::Unavailable,
        ClientError::InvalidArgument(_) => Exit::BadInput,
        ClientError::Protocol(_) => Exit::Internal,
        ClientError::Server { status, .. } => match status {
            // Statuses that depend on the request are handled by `CliError::from_client`.
            Status::Ok => Exit::Internal,
            other => exit_for_status(*other, &Request::ListTables),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL_STATUSES: [Status; 11] = [
        Status::Ok,
        Status::NotFound,
        Status::ConditionFailed,
        Status::BadRequest,
        Status::UnknownTable,
        Status::TableExists,
        Status::Unavailable,
        Status::Timeout,
        Status::Overloaded,
        Status::Internal,
        Status::TooLarge,
    ];

    fn expected(status: Status) -> u8 {
        match status {
            Status::Ok => 0,
            Status::Internal => 1,
            Status::BadRequest | Status::TooLarge | Status::UnknownTable | Status::TableExists => 2,
            Status::NotFound => 3,
            Status::ConditionFailed => 4,
            Status::Unavailable | Status::Timeout | Status::Overloaded => 5,
        }
    }

    #[test]
    fn every_status_has_its_documented_code() {
        let get = Request::GetItem {
            table: "t".to_owned(),
            key: Default::default(),
            projection: None,
            placeholders: Default::default(),
        };
        for status in ALL_STATUSES {
            assert_eq!(exit_for_status(status, &get).code(), expected(status), "{status:?}");
        }
    }

    #[test]
    fn a_missing_table_is_not_found_only_when_asked_about() {
        let describe = Request::DescribeTable { name: "t".to_owned() };
        let drop = Request::DropTable { name: "t".to_owned(), if_exists: false };
        let list = Request::ListTables;
        assert_eq!(exit_for_status(Status::UnknownTable, &describe), Exit::NotFound);
        assert_eq!(exit_for_status(Status::UnknownTable, &drop), Exit::NotFound);
        assert_eq!(exit_for_status(Status::UnknownTable, &list), Exit::BadInput);
        for status in ALL_STATUSES.into_iter().filter(|s| *s != Status::UnknownTable) {
            assert_eq!(exit_for_status(status, &describe).code(), expected(status));
        }
    }

    #[test]
    fn client_errors_map_to_codes() {
        let connect = ClientError::Connect {
            address: "127.0.0.1:1".to_owned(),
            source: std::io::Error::from(std::io::ErrorKind::ConnectionRefused),
        };
        assert_eq!(exit_for_client_error(&connect), Exit::Connection);
        let lost =
            ClientError::Connection { address: "h:1".to_owned(), reason: "reset".to_owned() };
        assert_eq!(exit_for_client_error(&lost), Exit::Connection);
        let timeout = ClientError::Timeout { after: std::time::Duration::from_millis(5) };
        assert_eq!(exit_for_client_error(&timeout), Exit::Unavailable);
        assert_eq!(exit_for_client_error(&ClientError::Protocol("x".into())), Exit::Internal);
        let invalid = ClientError::InvalidArgument("x".into());
        assert_eq!(exit_for_client_error(&invalid), Exit::BadInput);
        for status in ALL_STATUSES.into_iter().filter(|s| *s != Status::Ok) {
            let error = ClientError::Server { status, message: "why".to_owned() };
            assert_eq!(exit_for_client_error(&error).code(), expected(status), "{status:?}");
        }
    }

    #[test]
    fn server_errors_use_the_request_and_keep_the_message() {
        let describe = Request::DescribeTable { name: "t".to_owned() };
        let error =
            ClientError::Server { status: Status::UnknownTable, message: "no table t".to_owned() };
        let cli = CliError::from_client(&error, &describe);
        assert_eq!(cli.exit, Exit::NotFound);
        assert_eq!(cli.message.as_deref(), Some("unknown_table: no table t"));
    }

    #[test]
    fn a_get_that_finds_nothing_is_silent() {
        let get = Request::GetItem {
            table: "t".to_owned(),
            key: Default::default(),
            projection: None,
            placeholders: Default::default(),
        };
        let error = ClientError::Server { status: Status::NotFound, message: "none".to_owned() };
        assert_eq!(CliError::from_client(&error, &get), CliError::silent(Exit::NotFound));
        let list = Request::ListTables;
        let cli = CliError::from_status(Status::NotFound, "", &list);
        assert_eq!(cli, CliError::new(Exit::NotFound, "not_found"));
    }

    #[test]
    fn a_closed_pipe_exits_quietly() {
        let error = std::io::Error::from(std::io::ErrorKind::BrokenPipe);
        assert_eq!(CliError::output(&error), CliError::silent(Exit::Ok));
        let error = std::io::Error::from(std::io::ErrorKind::PermissionDenied);
        assert_eq!(CliError::output(&error).exit, Exit::Internal);
    }
}
