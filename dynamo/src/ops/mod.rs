//! DynamoDB's operations, by `X-Amz-Target` name.

pub mod batch;
pub mod items;
pub mod scan;
pub mod tables;

use serde_json::Value as Json;

use crate::api::{Backend, Ctx};
use crate::error::{ApiError, ApiResult};

/// Operations DynamoDB has that Shoal does not implement yet: answered with a
/// ValidationException that says so.
const NOT_YET: &[&str] = &[
    "TransactWriteItems",
    "TransactGetItems",
    "ExecuteStatement",
    "BatchExecuteStatement",
    "ExecuteTransaction",
    "CreateBackup",
    "DeleteBackup",
    "DescribeBackup",
    "ListBackups",
    "RestoreTableFromBackup",
    "RestoreTableToPointInTime",
    "DescribeContinuousBackups",
    "UpdateContinuousBackups",
    "CreateGlobalTable",
    "UpdateGlobalTable",
    "DescribeGlobalTable",
    "ListGlobalTables",
    "DescribeGlobalTableSettings",
    "UpdateGlobalTableSettings",
    "DescribeTableReplicaAutoScaling",
    "UpdateTableReplicaAutoScaling",
    "DescribeKinesisStreamingDestination",
    "EnableKinesisStreamingDestination",
    "DisableKinesisStreamingDestination",
    "UpdateKinesisStreamingDestination",
    "ExportTableToPointInTime",
    "DescribeExport",
    "ListExports",
    "ImportTable",
    "DescribeImport",
    "ListImports",
    "DescribeContributorInsights",
    "UpdateContributorInsights",
    "ListContributorInsights",
    "GetResourcePolicy",
    "PutResourcePolicy",
    "DeleteResourcePolicy",
];

/// Runs `operation` on `body`.
pub async fn dispatch<B: Backend>(
    ctx: &Ctx<'_, B>,
    operation: &str,
    body: &Json,
) -> ApiResult<Json> {
    match operation {
        "GetItem" => items::get_item(ctx, body).await,
        "PutItem" => items::put_item(ctx, body).await,
        "DeleteItem" => items::delete_item(ctx, body).await,
        "UpdateItem" => items::update_item(ctx, body).await,
        "BatchGetItem" => batch::batch_get_item(ctx, body).await,
        "BatchWriteItem" => batch::batch_write_item(ctx, body).await,
        "Query" => scan::query(ctx, body).await,
        "Scan" => scan::scan(ctx, body).await,
        "CreateTable" => tables::create_table(ctx, body).await,
        "DeleteTable" => tables::delete_table(ctx, body).await,
        "DescribeTable" => tables::describe_table(ctx, body).await,
        "ListTables" => tables::list_tables(ctx, body).await,
        "UpdateTable" => tables::update_table(ctx, body).await,
        "UpdateTimeToLive" => tables::update_time_to_live(ctx, body).await,
        "DescribeTimeToLive" => tables::describe_time_to_live(ctx, body).await,
        "TagResource" => tables::tag_resource(ctx, body).await,
        "UntagResource" => tables::untag_resource(ctx, body).await,
        "ListTagsOfResource" => tables::list_tags_of_resource(ctx, body).await,
        "DescribeLimits" => Ok(tables::describe_limits()),
        "DescribeEndpoints" => Ok(tables::describe_endpoints(ctx)),
        other if NOT_YET.contains(&other) => Err(ApiError::unsupported(other)),
        _ => Err(ApiError::client("UnknownOperationException", "")),
    }
}
