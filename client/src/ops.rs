//! Typed shortcuts over [`Client::request`]: one method per operation, with the common
//! options (no condition, no projection, the table's default TTL) and the body unpacked.
//! For anything else (conditions, projections, TTLs, return values) build the [`Request`]
//! and call [`Client::request_with`].

use shoal_net::{
    Item, ItemStatus, Page, Placeholders, QueryRequest, Request, ResponseBody, ReturnValues,
    ScanRequest, Status, TableDescription, TableSpec, WriteOp,
};

use crate::client::{unexpected, Client};
use crate::error::ClientError;

impl Client {
    /// Creates a table; with `if_not_exists`, an existing table of that name is returned
    /// instead of an error.
    ///
    /// # Errors
    /// [`ClientError::Server`] with [`Status::TableExists`] or [`Status::BadRequest`], or as
    /// [`Client::request`].
    pub async fn create_table(
        &self,
        spec: TableSpec,
        if_not_exists: bool,
    ) -> Result<TableDescription, ClientError> {
        let response = self.request(Request::CreateTable { spec, if_not_exists }).await?;
        match response.body {
            ResponseBody::Table(description) => Ok(description),
            other => Err(unexpected("a table description", &other)),
        }
    }

    /// Describes a table.
    ///
    /// # Errors
    /// [`ClientError::Server`] with [`Status::UnknownTable`], or as [`Client::request`].
    pub async fn describe_table(&self, name: &str) -> Result<TableDescription, ClientError> {
        let response = self.request(Request::DescribeTable { name: name.to_owned() }).await?;
        match response.body {
            ResponseBody::Table(description) => Ok(description),
            other => Err(unexpected("a table description", &other)),
        }
    }

    /// Every table.
    ///
    /// # Errors
    /// As [`Client::request`].
    pub async fn list_tables(&self) -> Result<Vec<TableDescription>, ClientError> {
        let response = self.request(Request::ListTables).await?;
        match response.body {
            ResponseBody::Tables(tables) => Ok(tables),
            other => Err(unexpected("a table list", &other)),
        }
    }

    /// Drops a table and its data; with `if_exists`, a missing table is not an error.
    ///
    /// # Errors
    /// [`ClientError::Server`] with [`Status::UnknownTable`], or as [`Client::request`].
    pub async fn drop_table(&self, name: &str, if_exists: bool) -> Result<(), ClientError> {
        self.request(Request::DropTable { name: name.to_owned(), if_exists }).await?;
        Ok(())
    }

    /// The item with `key` (its key attributes), or `None`.
    ///
    /// # Errors
    /// As [`Client::request`].
    pub async fn get(&self, table: &str, key: Item) -> Result<Option<Item>, ClientError> {
        let request = Request::GetItem {
            table: table.to_owned(),
            key,
            projection: None,
            placeholders: Placeholders::default(),
        };
        match self.request(request).await {
            Ok(response) => match response.body {
                ResponseBody::Item(item) => Ok(item),
                ResponseBody::Empty => Ok(None),
                other => Err(unexpected("an item", &other)),
            },
            Err(ClientError::Server { status: Status::NotFound, .. }) => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// Writes a whole item (keys included), replacing any item with its key. Retried on
    /// transient failures: the client's timestamp makes the retry write the same version.
    ///
    /// # Errors
    /// As [`Client::request`].
    pub async fn put(&self, table: &str, item: Item) -> Result<(), ClientError> {
        self.request(Request::PutItem {
            table: table.to_owned(),
            item,
            condition: None,
            placeholders: Placeholders::default(),
            ttl_secs: 0,
            return_values: ReturnValues::None,
        })
        .await?;
        Ok(())
    }

    /// Deletes the item with `key`; deleting a missing item is not an error.
    ///
    /// # Errors
    /// As [`Client::request`].
    pub async fn delete(&self, table: &str, key: Item) -> Result<(), ClientError> {
        self.request(Request::DeleteItem {
            table: table.to_owned(),
            key,
            condition: None,
            placeholders: Placeholders::default(),
            return_values: ReturnValues::None,
        })
        .await?;
        Ok(())
    }

    /// Applies an update expression (`SET`, `REMOVE`, `ADD`, `DELETE`) to the item with
    /// `key`, creating it if absent, and returns the item after the update. Not retried
    /// (an `ADD` applied twice counts twice).
    ///
    /// # Errors
    /// [`ClientError::Server`] with [`Status::BadRequest`] for a bad expression, or as
    /// [`Client::request`].
    pub async fn update(
        &self,
        table: &str,
        key: Item,
        update: &str,
        placeholders: Placeholders,
    ) -> Result<Option<Item>, ClientError> {
        let response = self
            .request(Request::UpdateItem {
                table: table.to_owned(),
                key,
                update: update.to_owned(),
                condition: None,
                placeholders,
                ttl_secs: 0,
                return_values: ReturnValues::AllNew,
            })
            .await?;
        match response.body {
            ResponseBody::Item(item) => Ok(item),
            ResponseBody::Empty => Ok(None),
            other => Err(unexpected("an item", &other)),
        }
    }

    /// One page of a query; pass the page's `page_token` back for the next.
    ///
    /// # Errors
    /// As [`Client::request`].
    pub async fn query(&self, query: QueryRequest) -> Result<Page, ClientError> {
        let response = self.request(Request::Query(query)).await?;
        match response.body {
            ResponseBody::Page(page) => Ok(page),
            other => Err(unexpected("a page", &other)),
        }
    }

    /// One page of a scan segment; pass the page's `page_token` back for the next.
    ///
    /// # Errors
    /// As [`Client::request`].
    pub async fn scan(&self, scan: ScanRequest) -> Result<Page, ClientError> {
        let response = self.request(Request::Scan(scan)).await?;
        match response.body {
            ResponseBody::Page(page) => Ok(page),
            other => Err(unexpected("a page", &other)),
        }
    }

    /// Reads many items; result `i` answers `keys[i]` (status `NotFound` and no item when
    /// absent).
    ///
    /// # Errors
    /// As [`Client::request`]; per-item failures are in the results.
    pub async fn batch_get(
        &self,
        table: &str,
        keys: Vec<Item>,
    ) -> Result<Vec<ItemStatus>, ClientError> {
        let response = self
            .request(Request::BatchGet {
                table: table.to_owned(),
                keys,
                projection: None,
                placeholders: Placeholders::default(),
            })
            .await?;
        batch_results(response.body)
    }

    /// Many puts and deletes; result `i` answers `ops[i]`.
    ///
    /// # Errors
    /// As [`Client::request`]; per-item failures are in the results.
    pub async fn batch_write(
        &self,
        table: &str,
        ops: Vec<WriteOp>,
    ) -> Result<Vec<ItemStatus>, ClientError> {
        let response = self.request(Request::BatchWrite { table: table.to_owned(), ops }).await?;
        batch_results(response.body)
    }
}

fn batch_results(body: ResponseBody) -> Result<Vec<ItemStatus>, ClientError> {
    match body {
        ResponseBody::Batch(results) => Ok(results),
        other => Err(unexpected("batch results", &other)),
    }
}
